"""Refused commands in the web app: recorded when a shopper's command is refused, shown as
ghost rows in the cart's history (not versions), a page of the whole log for `/events`, the
`emit refusals` command, the retention setting, and a log that cannot be written."""

from __future__ import annotations

import logging
import re
from html import unescape

import pytest
from flask import Flask, render_template
from flask.testing import FlaskClient, FlaskCliRunner

from emit import CommandRejected
from emit.refusals import InMemoryRefusalLog, NewRefusal
from shop.cart import AddItem, ChangeQuantity, CheckOut, RemoveLine
from tests.web.conftest import HTMX, AppFactory, open_cart, open_cart_with
from tests.web.html import element
from webapp.db import CartEmit, get_emit, get_engine
from webapp.refusal_log import refusals_page, row

TOO_MANY = (
    "Refused: add 60 × Oat milk, 1 L: a cart holds at most 99 of one product; "
    "this one already has 60."
)


def text(html: str) -> str:
    """The words of some HTML, tags dropped and spaces squeezed."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def refuse_too_many(client: FlaskClient, cart_id: str, htmx: bool = True) -> int:
    """Add 60 oat milk to a cart that holds 60 (`milky`), as the cart page's form does."""
    response = client.post(
        f"/carts/{cart_id}/items",
        data={"sku": "MILK-OAT", "quantity": "60"},
        headers=HTMX if htmx else {},
    )
    return response.status_code


def test_a_refused_command_is_a_ghost_row_after_the_version_it_was_decided_on(
    client: FlaskClient, emit: CartEmit
) -> None:
    cart_id = open_cart_with(client, emit, AddItem("MILK-OAT", 60))
    assert refuse_too_many(client, cart_id) == 422
    assert refuse_too_many(client, cart_id, htmx=False) == 303
    emit.handle_command(cart_id, AddItem("MUG-TRVL"))
    assert emit.store.stream_version(cart_id) == 3  # the refusals made no version

    assert emit.refusals is not None
    newest, oldest = emit.refusals.read(stream_id=cart_id)
    assert (oldest.command, oldest.version, oldest.fields) == (
        "AddItem",
        2,
        {"sku": "MILK-OAT", "quantity": 60},
    )
    assert oldest.reason == "A cart holds at most 99 of one product; this one already has 60."

    page = client.get(f"/carts/{cart_id}/history").text
    events = element(page, "events")
    # Both after version 2's event, before version 3's, oldest first; neither is a version.
    order = [m.group(1) for m in re.finditer(r'id="((?:event|refusal)-\d+)"', events)]
    assert order == [
        "event-0",
        "event-1",
        "event-2",
        f"refusal-{oldest.id}",
        f"refusal-{newest.id}",
        "event-3",
    ]
    ghost = element(events, f"refusal-{oldest.id}")
    assert "data-version" not in ghost
    assert "href" not in ghost
    words = text(ghost)
    assert "Not an event: nothing changed" in words
    assert TOO_MANY in words
    assert "version 2" in words
    assert oldest.correlation_id in words
    assert "3 events" in text(page)  # the lead still counts events only

    # The scrubber's fragment (htmx) is not touched: it counts versions 0 to 3.
    fragment = client.get(f"/carts/{cart_id}/history?version=3", headers=HTMX).text
    assert "refusal-" not in fragment


def test_a_ghost_row_is_on_the_page_of_its_version(app_with: AppFactory) -> None:
    app = app_with(HISTORY_EVENTS_PER_PAGE=2)
    client = app.test_client()
    emit = get_emit(app)
    cart_id = open_cart_with(
        client, emit, AddItem("BEAN-250"), AddItem("MUG-TRVL"), RemoveLine("MUG-TRVL")
    )
    with pytest.raises(CommandRejected, match="not in the cart"):
        emit.handle_command(cart_id, ChangeQuantity("MUG-TRVL", 2))  # decided on version 4
    first = client.get(f"/carts/{cart_id}/history?page=1").text
    second = client.get(f"/carts/{cart_id}/history?page=2").text
    assert "Refused:" not in first
    assert "Refused: change Travel mug" in text(second)


def test_what_a_refusal_holds_is_escaped(client: FlaskClient, emit: CartEmit) -> None:
    cart_id = open_cart(client)
    assert emit.refusals is not None
    emit.refusals.record(
        NewRefusal(cart_id, "AddItem", '{"sku":"<b>x</b>","quantity":1}', "<i>no</i>", 1, "<c>"),
        keep=10,
    )
    page = client.get(f"/carts/{cart_id}/history").text
    assert "<b>" not in page
    assert "<i>" not in page
    assert "<c>" not in page
    assert "Refused: add 1 × &lt;b&gt;x&lt;/b&gt;: &lt;i&gt;no&lt;/i&gt;" in page


def test_a_command_the_cart_no_longer_knows_is_shown_by_its_type_name() -> None:
    unknown = NewRefusal("c", "PaintCart", '{"colour":"red"}', "No such thing.", 1, "x")
    gone = NewRefusal("c", "AddItem", '{"skew":"x"}', "Fields changed.", 1, "x")
    for new, words in [(unknown, "PaintCart"), (gone, "AddItem")]:
        log = InMemoryRefusalLog()
        log.record(new, keep=1)
        assert row(log.read()[0]).words == words


# --- the page for /events ---------------------------------------------------------------------


def test_a_page_of_refusals_is_newest_first_keyset_and_by_cart(
    client: FlaskClient, emit: CartEmit, app: Flask
) -> None:
    carts = [open_cart_with(client, emit, AddItem("TEA-CHAI"), CheckOut()) for _ in "ab"]
    for n in range(5):
        with pytest.raises(CommandRejected, match="checked out"):
            emit.handle_command(carts[n % 2], AddItem("BEAN-250", n + 1))

    first = refusals_page(emit, limit=2)
    assert [r.refusal.fields["quantity"] for r in first.rows] == [5, 4]
    assert first.older == first.rows[-1].refusal.id
    second = refusals_page(emit, before=first.older, limit=2)
    assert [r.refusal.fields["quantity"] for r in second.rows] == [3, 2]
    last = refusals_page(emit, before=second.older, limit=2)
    assert [r.refusal.fields["quantity"] for r in last.rows] == [1]
    assert last.older is None

    mine = refusals_page(emit, cart_id=carts[1], limit=10)
    assert [r.refusal.fields["quantity"] for r in mine.rows] == [4, 2]
    assert mine.older is None

    with app.test_request_context():
        html = render_template("events/_refusal_rows.html", page=mine)
    assert html.count('class="event ghost"') == 2
    assert f"/carts/{carts[1]}/history?version=3" in html
    assert "Not an event: nothing changed" in text(html)
    assert "Refused: add 4 × Coffee beans" in text(html)

    with pytest.raises(ValueError, match="at least one"):
        refusals_page(emit, limit=0)
    with app.test_request_context():
        empty = render_template("events/_refusal_rows.html", page=refusals_page(emit, before=1))
    assert "No refused commands." in text(empty)


# --- the command line --------------------------------------------------------------------------


def test_emit_refusals_lists_them_newest_first(
    runner: FlaskCliRunner, client: FlaskClient, emit: CartEmit
) -> None:
    cart_id, other = (open_cart_with(client, emit, AddItem("MILK-OAT", 60)) for _ in "ab")
    refuse_too_many(client, cart_id)
    refuse_too_many(client, other)
    result = runner.invoke(args=["emit", "refusals", "--cart", cart_id])
    assert result.exit_code == 0, result.output
    (line,) = result.output.splitlines()
    assert line.endswith(f"{cart_id} v2: {TOO_MANY}")
    everything = runner.invoke(args=["emit", "refusals", "--limit", "1"]).output.splitlines()
    assert len(everything) == 1
    assert f" {other} v2: " in everything[0]

    assert runner.invoke(args=["emit", "refusals", "--cart", "nobody"]).output == (
        "No refused commands for cart nobody.\n"
    )
    bad = runner.invoke(args=["emit", "refusals", "--cart", " "])
    assert bad.exit_code == 2
    assert "--cart" in bad.output


# --- the setting, and a log that fails ----------------------------------------------------------


def test_the_retention_setting_bounds_the_log(app_with: AppFactory) -> None:
    app = app_with(EMIT_REFUSAL_RETENTION=2)
    client = app.test_client()
    cart_id = open_cart_with(client, get_emit(app), AddItem("MILK-OAT", 60))
    for _ in range(3):
        assert refuse_too_many(client, cart_id) == 422
    refusals = get_emit(app).refusals
    assert refusals is not None
    assert refusals.count() == 2


def test_a_retention_of_zero_records_nothing(app_with: AppFactory) -> None:
    app = app_with(EMIT_REFUSAL_RETENTION=0)
    client = app.test_client()
    cart_id = open_cart_with(client, get_emit(app), AddItem("MILK-OAT", 60))
    assert refuse_too_many(client, cart_id) == 422
    refusals = get_emit(app).refusals
    assert refusals is not None
    assert refusals.count() == 0


def test_a_log_that_cannot_be_written_still_answers_the_refusal(
    client: FlaskClient, app: Flask, emit: CartEmit, caplog: pytest.LogCaptureFixture
) -> None:
    cart_id = open_cart(client)
    with get_engine(app).begin() as connection:
        connection.exec_driver_sql("DROP TABLE emit_refusals")
    with caplog.at_level(logging.WARNING):
        # As a plain browser: 303 to the cart page, which shows the reason once.
        response = client.post(f"/carts/{cart_id}/checkout", data={"version": "1"})
        assert response.status_code == 303
        assert "An empty cart" in unescape(client.get(response.headers["Location"]).text)
        history = client.get(f"/carts/{cart_id}/history")
    assert history.status_code == 200
    assert "Refused:" not in history.text
    assert emit.store.stream_version(cart_id) == 1
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("Could not record the refusal of CheckOut" in m for m in messages)
    assert any(f"Could not read the refusals of cart {cart_id!r}" in m for m in messages)
