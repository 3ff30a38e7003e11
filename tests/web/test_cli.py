"""`flask --app webapp init-db` and `seed-demo`, through Flask's CLI runner."""

from __future__ import annotations

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
