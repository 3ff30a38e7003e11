"""A COMMIT whose answer is lost, for real: PostgreSQL commits, the proxy between it and the
app drops the answer and cuts the connection. The app cannot know whether the change was
stored, says so, and sending the same form again stores nothing more."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from emit import Observer, RecordedEvent
from shop.cart import AddItem
from tests.faultproxy import FaultProxy
from tests.web.conftest import HTMX, make_app, open_cart
from tests.web.html import element, form_fields
from webapp.db import get_emit

pytestmark = pytest.mark.postgres


@pytest.fixture
def app(pg_proxy: FaultProxy) -> Iterator[Flask]:
    """The app on PostgreSQL, through the fault proxy."""
    app = make_app(pg_proxy.url)
    yield app
    get_emit(app).close()


def ready_to_check_out(app: Flask) -> tuple[FlaskClient, str, str, dict[str, str]]:
    """A cart with a chai in it: the client, the cart's id, its checkout URL and form."""
    client = app.test_client()
    cart_id = open_cart(client)
    get_emit(app).handle_command(cart_id, AddItem("TEA-CHAI", 1))
    checkout = f"/carts/{cart_id}/checkout"
    return client, cart_id, checkout, form_fields(client.get(f"/carts/{cart_id}").text, checkout)


MAYBE = "This may have been saved. Reload the cart to see; sending it again is safe."


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["no-js", "htmx"])
def test_a_lost_commit_answer_may_have_been_saved_and_the_form_sent_again_stores_it_once(
    app: Flask, pg_proxy: FaultProxy, headers: dict[str, str]
) -> None:
    client, cart_id, checkout, form = ready_to_check_out(app)

    pg_proxy.drop_commit_answer()
    response = client.post(checkout, data=form, headers=headers)
    assert pg_proxy.commits_dropped == 1
    assert response.status_code == 503
    assert MAYBE in response.text
    assert "Nothing was changed" not in response.text

    again = client.post(checkout, data=form, headers=headers)  # as the message advises
    assert again.status_code in (200, 303)
    events = get_emit(app).history(cart_id)
    assert [type(e.event).__name__ for e in events] == [
        "CartOpened",
        "ItemAdded",
        "CartCheckedOut",
    ]
    if headers:
        assert "Receipt" in element(again.text, "cart-panel")


def test_a_failure_before_the_commit_says_nothing_was_changed(
    app: Flask, pg_proxy: FaultProxy
) -> None:
    client = app.test_client()
    cart_id = open_cart(client)
    form = form_fields(client.get(f"/carts/{cart_id}").text, f"/carts/{cart_id}/items")
    pg_proxy.cut()
    response = client.post(f"/carts/{cart_id}/items", data=form)
    assert response.status_code == 503
    assert "Nothing was changed" in response.text
    assert "may have been saved" not in response.text
    pg_proxy.pass_traffic()
    assert client.post(f"/carts/{cart_id}/items", data=form).status_code == 303
    assert get_emit(app).aggregate(cart_id, catch_up=True).version == 2


class _CutAfterCommit(Observer):
    """An observer that cuts the store's connections as soon as events are stored: the
    change is saved, and drawing the answer then fails."""

    def __init__(self, proxy: FaultProxy) -> None:
        self.proxy = proxy

    def events_appended(self, events: Sequence[RecordedEvent[Any]]) -> None:
        self.proxy.cut()


def test_a_failure_after_the_commit_says_the_change_was_saved(
    app: Flask, pg_proxy: FaultProxy
) -> None:
    client, cart_id, checkout, form = ready_to_check_out(app)
    get_emit(app).add_observer(_CutAfterCommit(pg_proxy))
    response = client.post(checkout, data=form, headers=HTMX)  # drawing reads the store
    assert response.status_code == 503
    assert "Your change was saved" in response.text
    assert "Nothing was changed" not in response.text
    pg_proxy.pass_traffic()
    assert get_emit(app).get_state(cart_id, catch_up=True).status == "checked_out"


def test_a_lost_answer_to_opening_a_cart_points_to_the_dashboard(
    app: Flask, pg_proxy: FaultProxy
) -> None:
    client = app.test_client()
    form = form_fields(client.get("/").text, "/carts")
    pg_proxy.drop_commit_answer()
    response = client.post("/carts", data=form)
    assert response.status_code == 503
    assert "The new cart may have been opened: the dashboard lists it if so." in response.text
    again = client.post("/carts", data=form)  # the same form: no second cart
    assert again.status_code == 303
    assert get_emit(app).count_aggregates() == 1
