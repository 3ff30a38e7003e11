"""`flask --app webapp init-db`, `seed-demo`, `create-operator`, `create-demo-operator` and the
`emit` group, through Flask's CLI runner."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

from webapp import create_app, operators
from webapp.db import get_emit, get_engine
from webapp.demo import DEMO_CARTS


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
    from webapp.db import store_url

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


# --- operators -------------------------------------------------------------------------------


def can_sign_in(app: Flask, name: str, password: str) -> bool:
    return operators.authenticate(get_engine(app), name, password) is not None


def test_create_operator_asks_for_the_password_twice(app: Flask, runner: FlaskCliRunner) -> None:
    password = "a long enough password"
    result = runner.invoke(args=["create-operator", "olga"], input=f"{password}\n{password}\n")

    assert result.exit_code == 0, result.output
    assert "Password for olga:" in result.output
    assert "Repeat it:" in result.output
    assert password not in result.output  # typed, not echoed
    assert "Operator olga created." in result.output
    assert can_sign_in(app, "olga", password)
    assert not can_sign_in(app, "olga", "another password")


def test_create_operator_asks_again_when_the_two_differ(app: Flask, runner: FlaskCliRunner) -> None:
    typed = "a long enough password\nanother long password\na long enough password\n" * 2
    result = runner.invoke(args=["create-operator", "olga"], input=typed)
    assert result.exit_code == 0, result.output
    assert "do not match" in result.output
    assert can_sign_in(app, "olga", "a long enough password")


def test_create_operator_reads_a_password_file_or_standard_input(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    secret = tmp_path / "password"
    secret.write_text("from a file, kept secret\n")
    from_file = runner.invoke(args=["create-operator", "olga", "--password-file", str(secret)])
    from_stdin = runner.invoke(
        args=["create-operator", "piet", "--password-file", "-"], input="from standard input\n"
    )

    assert from_file.exit_code == 0, from_file.output
    assert from_stdin.exit_code == 0, from_stdin.output
    assert "Password" not in from_file.output + from_stdin.output  # nothing asked
    assert can_sign_in(app, "olga", "from a file, kept secret")
    assert can_sign_in(app, "piet", "from standard input")


def test_create_operator_refuses_an_existing_name_unless_reset(
    app: Flask, runner: FlaskCliRunner
) -> None:
    first = runner.invoke(args=["create-operator", "olga", "--password-file", "-"], input="x" * 12)
    assert first.exit_code == 0, first.output

    again = runner.invoke(args=["create-operator", "olga"], input="y" * 12 + "\n")
    assert again.exit_code == 1
    assert "Operator “olga” exists already; --reset gives it a new password." in again.output
    assert "Password" not in again.output  # refused before asking
    assert can_sign_in(app, "olga", "x" * 12)

    reset = runner.invoke(
        args=["create-operator", "olga", "--reset", "--password-file", "-"], input="y" * 12
    )
    assert reset.exit_code == 0, reset.output
    assert "Operator olga has a new password." in reset.output
    assert can_sign_in(app, "olga", "y" * 12)
    assert not can_sign_in(app, "olga", "x" * 12)

    nobody = runner.invoke(args=["create-operator", "nobody", "--reset"], input="z" * 12)
    assert nobody.exit_code == 1
    assert "There is no operator “nobody” whose password to reset." in nobody.output


@pytest.mark.parametrize(
    ("name", "password", "message"),
    [
        ("olga", "short", "A password needs at least 12 characters."),
        (" olga", "x" * 12, "cannot be empty or start or end with a space"),
        ("o" * 65, "x" * 12, "at most 64 characters"),
        ("ol\x1bga", "x" * 12, "cannot hold control characters"),
    ],
)
def test_create_operator_refuses_what_cannot_be_used(
    app: Flask, runner: FlaskCliRunner, name: str, password: str, message: str
) -> None:
    result = runner.invoke(args=["create-operator", name, "--password-file", "-"], input=password)
    assert result.exit_code == 1
    assert message in result.output
    assert operators.count(get_engine(app)) == 0


def test_create_demo_operator_prints_a_password_once(app: Flask, runner: FlaskCliRunner) -> None:
    first = runner.invoke(args=["create-demo-operator"])

    assert first.exit_code == 0, first.output
    found = re.search(r"its password, shown only now: (\S+)", first.output)
    assert found is not None, first.output
    assert can_sign_in(app, "demo", found[1])
    again = runner.invoke(args=["create-demo-operator"])
    assert (again.exit_code, again.output) == (0, "")
    assert operators.count(get_engine(app)) == 1


def test_create_demo_operator_does_nothing_when_there_is_an_operator(
    app: Flask, runner: FlaskCliRunner
) -> None:
    runner.invoke(args=["create-operator", "olga", "--password-file", "-"], input="x" * 12)
    result = runner.invoke(args=["create-demo-operator"])
    assert (result.exit_code, result.output) == (0, "")
    assert operators.count(get_engine(app)) == 1


def test_the_operator_commands_create_the_table_themselves(sqlite_url: str) -> None:
    app = create_app({"TESTING": True, "EMIT_STORE_URL": sqlite_url})
    try:
        result = app.test_cli_runner().invoke(args=["create-demo-operator"])
        assert result.exit_code == 0, result.output
        assert "shown only now" in result.output
    finally:
        get_emit(app).close()


# --- flask --app webapp emit ... --------------------------------------------------------------


def test_init_db_installs_the_read_models_over_existing_events(sqlite_url: str) -> None:
    from emit import Emit, SqlEventStore
    from shop.cart import AddItem, cart_decider

    with Emit(cart_decider, store=SqlEventStore(sqlite_url)) as before:  # no read models yet
        before.create("cart-old")
        before.handle_command("cart-old", AddItem("BEAN-1K", 2))
    app = create_app({"TESTING": True, "EMIT_STORE_URL": sqlite_url, "EMIT_RUN_POLICIES": False})
    try:
        assert app.test_cli_runner().invoke(args=["init-db"]).exit_code == 0
        client = app.test_client()
        assert "€84.00" in client.get("/").text  # built from the events already there
    finally:
        get_emit(app).close()


def test_emit_status_lists_projections_and_policies(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["emit", "status"])
    assert result.exit_code == 0, result.output
    assert "carts (projection): up to date, at 0 of 0 (lag 0), 0 dead letters" in result.output
    assert "receipts (policy): stopped" in result.output


def test_emit_rebuild_replays_a_read_model_with_a_progress_bar(
    app: Flask, runner: FlaskCliRunner
) -> None:
    runner.invoke(args=["seed-demo"])
    head = get_emit(app).store.head_position()
    result = runner.invoke(args=["emit", "rebuild", "carts"])
    assert result.exit_code == 0, result.output
    assert "Rebuilding carts" in result.output
    assert f"Rebuilt carts from {head} events." in result.output

    unknown = runner.invoke(args=["emit", "rebuild", "nope"])
    assert unknown.exit_code == 1
    assert "There is no projection named 'nope'; known: 'carts', 'best_sellers'." in (
        unknown.output
    )


def test_emit_run_policies_once_then_dead_letters_retry_and_skip(
    app: Flask, runner: FlaskCliRunner
) -> None:
    from webapp.db import get_engine
    from webapp.receipts import jam_printer

    jam_printer(get_engine(app), True)
    runner.invoke(args=["seed-demo"])  # two demo carts are checked out
    result = runner.invoke(args=["emit", "run-policies", "--once"])
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


def test_emit_run_subscribers_is_run_policies_under_its_old_name(
    app: Flask, runner: FlaskCliRunner
) -> None:
    runner.invoke(args=["seed-demo"])
    result = runner.invoke(args=["emit", "run-subscribers", "--once"])
    assert result.exit_code == 0, result.output
    assert "Caught up: 2 events handled." in result.stdout
    assert "`emit run-subscribers` is deprecated: call it `emit run-policies`." in result.stderr
    listed = runner.invoke(args=["emit", "--help"]).output
    assert "run-policies" in listed
    assert "run-subscribers" not in listed  # hidden: old scripts work, new readers never see it
