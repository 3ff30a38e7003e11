"""`flask --app webapp emit history | replay | export`, through Flask's CLI runner."""

from __future__ import annotations

import json
import re

import pytest
from flask.testing import FlaskCliRunner

from emit.export import read_export
from shop.cart import AddItem, ChangeQuantity, CheckOut, cart_decider
from webapp.db import CartEmit


@pytest.fixture
def cart_id(emit: CartEmit) -> str:
    emit.create("cart-c1")
    emit.handle_command("cart-c1", AddItem("BEAN-250", 2))
    emit.handle_command("cart-c1", AddItem("MUG-TRVL"))
    emit.handle_command("cart-c1", ChangeQuantity("BEAN-250", 3))
    emit.handle_command("cart-c1", CheckOut())
    return "cart-c1"


def test_the_emit_group_lists_its_commands(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["emit", "--help"])
    assert result.exit_code == 0
    for command in ("history", "replay", "export"):
        assert f"  {command} " in result.output


def test_history_is_a_table_of_the_events(runner: FlaskCliRunner, cart_id: str) -> None:
    result = runner.invoke(args=["emit", "history", cart_id])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "Cart cart-c1: 5 events, checked out, total €60.70"
    assert lines[1] == ""
    assert lines[2].split() == [
        "version",
        "position",
        "recorded",
        "(UTC)",
        "type",
        "what",
        "happened",
        "total",
    ]
    rows = lines[3:]
    assert len(rows) == 5
    assert rows[1].split()[0:2] == ["2", "2"]
    assert "ItemAdded" in rows[1]
    assert "Added 2 × Coffee beans, 250 g" in rows[1]
    assert rows[1].endswith("€25.80")
    assert "Changed Coffee beans, 250 g from 2 to 3" in rows[3]
    assert re.search(r"Checked out 4 items for €60\.70 +€60\.70$", rows[4])
    # Columns line up.
    assert len({row.index("ItemAdded") for row in rows[1:3]}) == 1


def test_replay_prints_the_cart_at_a_version_as_json(runner: FlaskCliRunner, cart_id: str) -> None:
    result = runner.invoke(args=["emit", "replay", cart_id, "--version", "3"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["aggregate_id"] == cart_id
    assert document["version"] == 3
    assert document["recorded_at"].endswith("Z")
    assert document["state"] == {
        "cart_id": cart_id,
        "lines": [
            {"sku": "BEAN-250", "name": "Coffee beans, 250 g", "unit_price": 1290, "quantity": 2},
            {"sku": "MUG-TRVL", "name": "Travel mug", "unit_price": 2200, "quantity": 1},
        ],
        "status": "open",
    }


def test_replay_defaults_to_the_latest_and_takes_a_time(
    runner: FlaskCliRunner, cart_id: str
) -> None:
    latest = json.loads(runner.invoke(args=["emit", "replay", cart_id]).output)
    assert (latest["version"], latest["state"]["status"]) == (5, "checked_out")
    before = json.loads(
        runner.invoke(args=["emit", "replay", cart_id, "--at", "2000-01-01"]).output
    )
    assert before == {
        "aggregate_id": cart_id,
        "version": 0,
        "recorded_at": None,
        "state": {"cart_id": "", "lines": [], "status": "new"},
    }
    later = runner.invoke(args=["emit", "replay", cart_id, "--at", "2999-01-01T00:00:00Z"])
    assert json.loads(later.output)["version"] == 5


def test_export_prints_the_stream_document(
    runner: FlaskCliRunner, cart_id: str, emit: CartEmit
) -> None:
    result = runner.invoke(args=["emit", "export", cart_id])
    assert result.exit_code == 0
    assert read_export(cart_decider, json.loads(result.output)) == emit.history(cart_id)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["history", "cart-nope"], "There is no cart 'cart-nope'."),
        (["replay", "cart-nope"], "There is no cart 'cart-nope'."),
        (["export", "cart-nope"], "There is no cart 'cart-nope'."),
        (["history", " padded"], "is not a cart id"),
        (["replay", "cart-c1", "--version", "6"], "cart cart-c1 has versions 0 to 5."),
        (["replay", "cart-c1", "--version", "-1"], "-1 is not in the range x>=0"),
        (["replay", "cart-c1", "--version", "two"], "'two' is not a valid integer"),
        (["replay", "cart-c1", "--at", "noon"], "“noon” is not a time"),
        (["replay", "cart-c1", "--version", "1", "--at", "2025-01-01"], "not both"),
    ],
)
def test_bad_arguments_say_what_is_wrong(
    runner: FlaskCliRunner, cart_id: str, args: list[str], message: str
) -> None:
    result = runner.invoke(args=["emit", *args])
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
