"""`flask --app webapp init-db` and `seed-demo`, through Flask's CLI runner."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskCliRunner

from webapp import create_app
from webapp.demo import DEMO_CARTS
from webapp.store import get_emit


def test_init_db_creates_the_tables_and_can_run_again(sqlite_url: str) -> None:
    app = create_app({"TESTING": True, "EMIT_STORE_URL": sqlite_url})
    try:
        runner = app.test_cli_runner()
        for _ in range(2):
            result = runner.invoke(args=["init-db"])
            assert result.exit_code == 0, result.output
            assert f"Event store ready: {sqlite_url}" in result.output
        assert get_emit(app).count_aggregates() == 0  # the tables are there
    finally:
        get_emit(app).close()


def test_init_db_keeps_the_events(app: Flask, runner: FlaskCliRunner) -> None:
    get_emit(app).create("cart-1")
    assert runner.invoke(args=["init-db"]).exit_code == 0
    assert get_emit(app).exists("cart-1")


def test_init_db_hides_a_password(sqlite_url: str) -> None:
    from webapp.store import store_url

    app = create_app({"EMIT_STORE_URL": "postgresql://shop:secret@db.example/shop"})
    assert store_url(app) == "postgresql+psycopg://shop:***@db.example/shop"


def test_seed_demo_adds_carts_with_a_history_once(app: Flask, runner: FlaskCliRunner) -> None:
    emit = get_emit(app)
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    assert f"Seeded {len(DEMO_CARTS)} demo carts" in result.output
    carts = [emit.get_state(cart_id) for cart_id in emit.aggregate_ids()]
    assert len(carts) == len(DEMO_CARTS) >= 3
    assert sum(cart.status == "checked_out" for cart in carts) >= 1
    assert any(cart.is_open and cart.lines for cart in carts)
    # A realistic history: changes of mind, not only additions.
    types = {event.type for cart_id in DEMO_CARTS for event in emit.history(cart_id)}
    assert {"ItemAdded", "QuantityChanged", "LineRemoved", "CartCheckedOut"} <= types
    head = len(emit.read_all())

    again = runner.invoke(args=["seed-demo"])
    assert again.exit_code == 0
    assert "already there; nothing to do" in again.output
    assert len(emit.read_all()) == head
    assert emit.count_aggregates() == len(DEMO_CARTS)


def test_seed_demo_creates_the_tables_itself(sqlite_url: str) -> None:
    app = create_app({"TESTING": True, "EMIT_STORE_URL": sqlite_url})
    try:
        result = app.test_cli_runner().invoke(args=["seed-demo"])
        assert result.exit_code == 0, result.output
        assert get_emit(app).count_aggregates() == len(DEMO_CARTS)
    finally:
        get_emit(app).close()


# --- flask --app webapp emit ... --------------------------------------------------------------


def test_init_db_installs_the_read_models_over_existing_events(sqlite_url: str) -> None:
    from emit import Emit, SqlEventStore
    from webapp.cart import AddItem, cart_decider

    with Emit(cart_decider, store=SqlEventStore(sqlite_url)) as before:  # no read models yet
        before.create("cart-old")
        before.handle_command("cart-old", AddItem("BEAN-1K", 2))
    app = create_app({"TESTING": True, "EMIT_STORE_URL": sqlite_url, "EMIT_RUN_SUBSCRIBERS": False})
    try:
        assert app.test_cli_runner().invoke(args=["init-db"]).exit_code == 0
        client = app.test_client()
        assert "€84.00" in client.get("/").text  # built from the events already there
    finally:
        get_emit(app).close()


def test_emit_status_lists_projections_and_policies(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["emit", "status"])
    assert result.exit_code == 0, result.output
    assert "cart_list (projection): up to date, at 0 of 0 (lag 0), 0 dead letters" in result.output
    assert "receipts (policy): stopped" in result.output


def test_emit_rebuild_replays_a_read_model_with_a_progress_bar(
    app: Flask, runner: FlaskCliRunner
) -> None:
    runner.invoke(args=["seed-demo"])
    head = get_emit(app).store.head_position()
    result = runner.invoke(args=["emit", "rebuild", "cart_list"])
    assert result.exit_code == 0, result.output
    assert "Rebuilding cart_list" in result.output
    assert f"Rebuilt cart_list from {head} events." in result.output

    unknown = runner.invoke(args=["emit", "rebuild", "nope"])
    assert unknown.exit_code == 1
    assert "There is no projection named 'nope'; known: 'cart_list', 'best_sellers'." in (
        unknown.output
    )


def test_emit_run_subscribers_once_then_dead_letters_retry_and_skip(
    app: Flask, runner: FlaskCliRunner
) -> None:
    from webapp.receipts import jam_printer
    from webapp.store import get_engine

    jam_printer(get_engine(app), True)
    runner.invoke(args=["seed-demo"])  # two demo carts are checked out
    result = runner.invoke(args=["emit", "run-subscribers", "--once"])
    assert result.exit_code == 0, result.output
    assert "Caught up: 2 events handled." in result.output

    listed = runner.invoke(args=["emit", "dead-letters"]).output
    ids = [int(n) for n in re.findall(r"^#(\d+) receipts: CartCheckedOut", listed, re.MULTILINE)]
    assert len(ids) == 2
    assert "PrinterJammed" in listed

    failed = runner.invoke(args=["emit", "retry", str(ids[0])])
    assert failed.exit_code == 1
    assert "failed again" in failed.output
    jam_printer(get_engine(app), False)
    assert runner.invoke(args=["emit", "retry", str(ids[0])]).exit_code == 0
    skipped = runner.invoke(args=["emit", "skip", str(ids[1])])
    assert skipped.exit_code == 0
    assert "skipped" in skipped.output
    assert runner.invoke(args=["emit", "dead-letters"]).output == "No dead letters.\n"
    missing = runner.invoke(args=["emit", "skip", str(ids[1])])
    assert missing.exit_code == 1
    assert f"There is no dead letter {ids[1]}" in missing.output
