"""A stale /ops page acts only on the dead letter it showed: ids are never reused, so a Skip
from a page drawn before that dead letter was dealt with cannot skip another cart's receipt."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from tests.web.test_ops import checked_out
from webapp.db import CartEmit, get_engine, get_policies
from webapp.receipts import jam_printer


def test_a_skip_from_a_stale_page_skips_nothing_else(
    app: Flask, operator_client: FlaskClient, emit: CartEmit
) -> None:
    client = operator_client  # the operations page is for operators
    jam_printer(get_engine(app), True)
    checked_out(emit, "cart-1")
    get_policies(app).catch_up()
    (first,) = get_policies(app).dead_letters()
    stale_page = client.get("/ops").text
    skip_first = f"/ops/dead-letters/{first.id}/skip"
    assert f'action="{skip_first}"' in stale_page

    # Someone else skips it, and another checkout's receipt is parked meanwhile.
    assert client.post(skip_first).status_code == 303
    checked_out(emit, "cart-2")
    get_policies(app).catch_up()
    (second,) = get_policies(app).dead_letters()
    assert second.id != first.id

    response = client.post(skip_first)  # the Skip on the stale page
    assert response.status_code == 404
    assert f"There is no dead letter {first.id}" in response.text
    (still,) = get_policies(app).dead_letters()
    assert (still.id, still.aggregate_id) == (second.id, "cart-2")
