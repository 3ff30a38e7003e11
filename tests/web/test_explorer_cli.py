"""`flask --app webapp emit log | why`, through Flask's CLI runner."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

from shop.cart import AddItem, CheckOut
from webapp.db import CartEmit, get_engine, get_policies
from webapp.receipts import jam_printer


@pytest.fixture
def checked_out(emit: CartEmit) -> CartEmit:
    """cart-a: 1 opened, 3 beans, 4 checked out; cart-b: 2 opened."""
    emit.create("cart-a")
    emit.create("cart-b")
    emit.handle_command("cart-a", AddItem("BEAN-250", 2))
    emit.handle_command("cart-a", CheckOut())
    return emit


def positions(output: str) -> list[int]:
    return [int(line.split()[0]) for line in output.splitlines()]


def test_log_prints_the_newest_events_a_line_each(
    runner: FlaskCliRunner, checked_out: CartEmit
) -> None:
    result = runner.invoke(args=["emit", "log"])
    assert result.exit_code == 0, result.output
    assert positions(result.output) == [4, 3, 2, 1]
    fields = result.output.splitlines()[1].strip().split("  ")
    assert [f.strip() for f in fields[:4]] == [
        "3",
        "cart-a@2",
        "ItemAdded",
        "Added 2 × Coffee beans, 250 g",
    ]


def test_log_filters_and_follows(runner: FlaskCliRunner, checked_out: CartEmit) -> None:
    def log(*options: str) -> list[int]:
        result = runner.invoke(args=["emit", "log", *options])
        assert result.exit_code == 0, result.output
        return [] if result.output == "No events.\n" else positions(result.output)

    assert log("--type", "CartOpened") == [2, 1]
    assert log("--cart", "cart-b") == [2]
    assert log("--limit", "2") == [4, 3]
    assert log("--after", "1", "--limit", "2") == [2, 3]  # oldest first: following the log
    assert log("--after", "4") == []
    assert log("--cart", "cart-a", "--type", "ItemAdded") == [3]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--type", "Shipped"], "there is no event type “Shipped”"),
        (["--cart", "a\x01b"], "is not a cart id"),
        (["--after", "-1"], "is not a position"),
        (["--limit", "0"], "0 is not in the range"),
    ],
)
def test_log_refuses_a_bad_option_with_a_message(
    runner: FlaskCliRunner, checked_out: CartEmit, options: list[str], message: str
) -> None:
    result = runner.invoke(args=["emit", "log", *options])
    assert result.exit_code == 2
    assert message in result.output


def test_why_prints_the_tree_of_a_checkout_with_its_receipt(
    app: Flask, runner: FlaskCliRunner, checked_out: CartEmit
) -> None:
    get_policies(app).catch_up()
    result = runner.invoke(args=["emit", "why", "4"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1] == "  recorded by command CheckOut"
    assert lines[2] == "What it caused:"
    assert lines[3].startswith("  - event 4  cart-a@3  CartCheckedOut")
    assert lines[4] == "    - receipt: Receipt R-000001 issued"


def test_why_shows_a_failed_receipts_dead_letter(
    app: Flask, runner: FlaskCliRunner, checked_out: CartEmit
) -> None:
    jam_printer(get_engine(app), True)
    get_policies(app).catch_up()
    (letter,) = get_policies(app).dead_letters()
    output = runner.invoke(args=["emit", "why", "4"]).output
    assert (
        f"    - dead letter: Dead letter {letter.id} of policy receipts: gave up after 4 attempts"
        in output.splitlines()
    )
    assert "        PrinterJammed: The receipt printer is jammed" in output


def test_why_an_unknown_position_fails_with_a_message(
    runner: FlaskCliRunner, checked_out: CartEmit
) -> None:
    result = runner.invoke(args=["emit", "why", "99"])
    assert result.exit_code == 1
    assert "There is no event at position 99." in result.output
    assert runner.invoke(args=["emit", "why", "zero"]).exit_code == 2
