"""A cart's history: every event it recorded, and the cart as it was at any version of it.

`/carts/<id>/history` lists the events and shows the cart at the version asked for:
`?version=N`, or `?at=<ISO 8601 time>` for the last version at or before that moment (the
latest without either), compared with the version before it or with `?compare=M`. The
scrubber's moves (a slider, first / previous / next / last links, the arrow keys, a play
button) fetch only the state panel with htmx and push their URL into the address bar; without
JavaScript the same links and GET forms load the whole page.

`/carts/<id>/events.json` is the stream as emit exports it (`emit.export`), for instance to use
as a test fixture.

Nothing here changes a cart or its live aggregate in emit's pool: every answer folds the states
it shows from one read of the stream.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, Response, abort, current_app, render_template, request
from werkzeug.exceptions import BadRequest

from emit import AggregateNotFound, RecordedEvent, VersionOutOfRange
from emit.codec import encoder
from emit.export import event_document, export_stream
from webapp import forms, shoppers
from webapp.cart import Cart, CartEvent, cart_decider
from webapp.carts import no_such_cart
from webapp.hypermedia import fragment_response, wants_fragment
from webapp.store import get_emit
from webapp.timeline import CartTimeline, kind, summary

bp = Blueprint("history", __name__, url_prefix="/carts")
bp.before_request(shoppers.check_cart)

_encode_cart = encoder(Cart)

bp.add_app_template_filter(summary, "event_summary")
bp.add_app_template_filter(kind, "event_kind")


@dataclass(frozen=True, slots=True)
class EventRow:
    """One event in the page's list, with the cart's total after it."""

    recorded: RecordedEvent[CartEvent]
    total: int  # cents
    document: dict[str, Any]  # the event as the export has it: its data and metadata as JSON


@bp.get("/<cart_id>/history")
def show(cart_id: str) -> Response | str:
    """The history page; for htmx (the scrubber), the state panel, with out of band the
    scrubber's readout and step links."""
    fragment = wants_fragment()
    timeline = CartTimeline(_history(forms.cart_id(cart_id)))
    view = _view(timeline)
    if not fragment:
        return render_template("history.html", rows=_rows(timeline), **view)
    body = "".join(
        [
            render_template("_replay.html", **view),
            render_template("_scrubber_readout.html", oob=True, **view),
            render_template("_steps.html", oob=True, **view),
        ]
    )
    return fragment_response(body)


@bp.get("/<cart_id>/events.json")
def export(cart_id: str) -> Response:
    """The cart's stream as an `emit.stream/1` document, offered as a file to save."""
    cart_id = forms.cart_id(cart_id)
    document = export_stream(cart_decider, _history(cart_id))
    response = current_app.response_class(
        json.dumps(document, indent=2, ensure_ascii=False) + "\n", mimetype="application/json"
    )
    response.headers.set("Content-Disposition", "attachment", filename=_export_filename(cart_id))
    return response


def _export_filename(cart_id: str) -> str:
    """'cart-5eed0001.events.json'; characters a file name should not hold become '_'."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", cart_id).lstrip(".") + ".events.json"


# --- reading the request ----------------------------------------------------------------------


def _history(cart_id: str) -> list[RecordedEvent[CartEvent]]:
    try:
        return get_emit().history(cart_id)
    except AggregateNotFound:
        abort(404, no_such_cart(cart_id))


def _view(timeline: CartTimeline) -> dict[str, Any]:
    """What the history templates need for the version and comparison the query asks for."""
    args = request.args
    raw_version, raw_at, raw_compare = args.get("version"), args.get("at"), args.get("compare")
    if raw_version and raw_at:
        raise BadRequest("Ask for a version or a time (at), not both.")
    at: datetime | None = None
    if raw_version:
        version = _version(timeline, forms.version(raw_version))
    elif raw_at:
        at = forms.moment(raw_at)
        version = timeline.version_at(at)
    else:
        version = timeline.latest
    compare = None
    if raw_compare:
        compare = _version(
            timeline,
            forms.version(raw_compare, what="a version to compare with"),
            "to compare with",
        )
    base = compare if compare is not None else (version - 1 if version else None)
    event = timeline.event(version)
    state = timeline.state(version)
    return {
        "cart_id": timeline.cart_id,
        "latest": timeline.latest,
        "version": version,
        "compare": compare,
        "base": base,
        "at": at,
        "event": event,
        "event_document": event_document(cart_decider, event) if event else None,
        "cart": state,
        "state_document": _encode_cart(state),
        "diff": timeline.diff(version, base) if base is not None else None,
        "at_value": _moment_field(event.recorded_at) if event else "",
    }


def _version(timeline: CartTimeline, version: int, purpose: str = "") -> int:
    try:
        return timeline.check(version)
    except VersionOutOfRange as error:
        purpose = f" {purpose}" if purpose else ""
        abort(
            404,
            f"Cart “{timeline.cart_id}” has versions 0 to {error.latest}; there is no version "
            f"{error.version}{purpose}.",
        )


def _rows(timeline: CartTimeline) -> list[EventRow]:
    return [
        EventRow(
            recorded,
            timeline.states[recorded.version].total,
            event_document(cart_decider, recorded),
        )
        for recorded in timeline.events
    ]


def _moment_field(moment: datetime) -> str:
    """A `datetime-local` value (UTC, to the second) that selects this moment's version again:
    rounded up, since the event was recorded some microseconds into its second."""
    moment = moment.astimezone(UTC)
    moment = moment.replace(microsecond=0) + timedelta(seconds=1 if moment.microsecond else 0)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")
