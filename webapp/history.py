"""A cart's history: every event it recorded, and the cart as it was at any version of it.

`/carts/<id>/history` lists the events and shows the cart at the version asked for:
`?version=N`, or `?at=<ISO 8601 time>` for the last version at or before that moment (the
latest without either), compared with the version before it or with `?compare=M`. The
scrubber's moves (a slider, first / previous / next / last links, the arrow keys, a play
button) fetch only the state panel with htmx and push their URL into the address bar; without
JavaScript the same links and GET forms load the whole page.

After each event the list shows the commands refused on its version, as ghost rows that are
not versions (webapp/refusal_log.py).

The list shows one page of events (`HISTORY_EVENTS_PER_PAGE`): the page of the version shown,
or `?page=K`, with links to the others. A scrubber move sends the page its list shows (the
hidden `#events-page`); when the version it asks for is on another page, that page comes
along out of band, so the list follows the scrubber.

`/carts/<id>/events.json` is the stream as emit exports it (`emit.export`), for instance to use
as a test fixture, written as it is read, a window of events at a time.

Nothing here changes a cart or its live aggregate in emit's pool. However long the stream, an
answer decodes only the events it lists (at most a page) and replays the rest without their
metadata (`Emit.state_at`): a cart of 20,000 events costs one page, not 20,000 rows.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from typing import Any

import htmx_flask
from flask import Blueprint, Response, abort, current_app, g, render_template, request, url_for
from werkzeug.exceptions import BadRequest

from emit import RecordedEvent
from emit.codec import encoder
from emit.export import event_document, write_export
from shop.cart import Cart, CartEvent, cart_decider
from webapp import forms, shoppers
from webapp.cart_view import no_such_cart
from webapp.db import CartEmit, get_emit
from webapp.hypermedia import fragment_response, wants_fragment
from webapp.refusal_log import ghost_rows
from webapp.scenarios import MAX_EVENTS, scenario, too_long
from webapp.timeline import diff, kind, summary

bp = Blueprint("history", __name__, url_prefix="/carts")
bp.before_request(shoppers.check_cart)

_encode_cart = encoder(Cart)

# Events the export reads and writes at a time: its memory does not grow with the stream.
EXPORT_WINDOW = 1000

bp.add_app_template_filter(summary, "event_summary")
bp.add_app_template_filter(kind, "event_kind")

# The event types the list can be filtered by (`?type=`), in the order a cart records them.
EVENT_TYPES = tuple(event.__name__ for event in cart_decider.events)
# The controls whose answer is the whole page region rather than the state panel: a new
# comparison or filter changes the links of the scrubber, the panel and the list together.
WHOLE_REGION = frozenset({"compare-form", "events-filter"})


@bp.url_defaults
def _keep_filter(endpoint: str, values: dict[str, Any]) -> None:
    """Every link to this page that a filtered page draws keeps its filter (`?type=`)."""
    if endpoint == "history.show" and "type" not in values and g.get("event_type"):
        values["type"] = g.event_type


@dataclass(frozen=True, slots=True)
class EventRow:
    """One event in the page's list, with the cart's total after it."""

    recorded: RecordedEvent[CartEvent]
    total: int  # cents
    document: dict[str, Any]  # the event as the export has it: its data and metadata as JSON


@dataclass(frozen=True, slots=True)
class EventsPage:
    """One page of the event list: page `number` of `count`, versions `first` to `last` (page 1
    also lists version 0, "before the first event")."""

    number: int
    count: int
    first: int
    last: int
    total: int  # events in the whole stream

    @classmethod
    def of(cls, number: int, latest: int, per_page: int) -> EventsPage:
        count = max(1, math.ceil(latest / per_page))
        first = (number - 1) * per_page + 1
        return cls(number, count, first, min(number * per_page, latest), latest)

    @staticmethod
    def number_of(version: int, per_page: int) -> int:
        """The page that lists `version`."""
        return max(1, math.ceil(version / per_page))


class CartStream:
    """What one answer reads of a cart's stream: windows of its events, decoded with their
    metadata, and the cart as it was at the versions it shows, replayed (`Emit.state_at`)
    only for those a window does not give. Nothing is read twice."""

    def __init__(self, emit: CartEmit, cart_id: str, latest: int) -> None:
        self.emit = emit
        self.cart_id = cart_id
        self.latest = latest
        self.events: dict[int, RecordedEvent[CartEvent]] = {}
        self.states: dict[int, Cart] = {0: cart_decider.initial_state}

    def read(self, first: int, last: int) -> list[RecordedEvent[CartEvent]]:
        """Versions `first` to `last`, and the cart after each of them."""
        if last < first:
            return []
        before = self.state(first - 1)
        events = self.emit.history(self.cart_id, after=first - 1, up_to=last)
        states = accumulate((r.event for r in events), cart_decider.evolve, initial=before)
        next(states)  # the one before `first`, known already
        for recorded, state in zip(events, states, strict=True):
            self.events[recorded.version] = recorded
            self.states[recorded.version] = state
        return events

    def state(self, version: int) -> Cart:
        if version not in self.states:
            self.states[version] = self.emit.state_at(self.cart_id, version)
        return self.states[version]

    def event(self, version: int) -> RecordedEvent[CartEvent] | None:
        """The event that made `version`; None for version 0."""
        if version and version not in self.events:
            self.read(version, version)
        return self.events.get(version)


@bp.get("/<cart_id>/history")
def show(cart_id: str) -> Response | str:
    """The history page; for htmx, the state panel (with out of band the scrubber's readout
    and step links, and the event list if it must follow), or the event list alone when a
    link of its pager asked for it."""
    fragment = wants_fragment() and htmx_flask.request.htmx.trigger not in WHOLE_REGION
    cart_id = forms.cart_id(cart_id)
    stream = CartStream(get_emit(), cart_id, _latest(cart_id))
    per_page = current_app.config["HISTORY_EVENTS_PER_PAGE"]
    if fragment and htmx_flask.request.htmx.target == "history-live":
        return _follow(stream, per_page)
    query = _query(stream)
    asked = _page(request.args.get("page", ""), stream.latest, per_page)
    shown = EventsPage.number_of(query["version"], per_page)
    if fragment and htmx_flask.request.htmx.target == "events":
        return render_template("history/_events.html", **_events(stream, asked or shown, query))
    if not fragment:
        # The list first: its window also holds the version shown and the one before it.
        events = _events(stream, asked or shown, query)
        emit = get_emit()
        lineage = {
            "fork_of": emit.fork_of(cart_id),
            "forks": [f for f in emit.forks_of(cart_id) if shoppers.may_see(f.aggregate_id)],
        }
        page = events | _view(stream, query) | lineage
        return render_template("history/history.html", **page)
    view = _view(stream, query)
    parts = [
        render_template("history/_replay.html", **view),
        render_template("history/_scrubber_readout.html", oob=True, **view),
        render_template("history/_steps.html", oob=True, **view),
    ]
    push_url = None
    if asked is not None:
        # The scrubber said which page its list shows. When the version is on another, the
        # list follows it; either way the URL pushed leaves the page out, since a reload
        # shows the page of the version.
        if asked != shown:
            events = _events(stream, shown, query)
            parts.append(render_template("history/_events.html", oob=True, **events))
        args: dict[str, Any] = {k: v for k, v in request.args.items() if k != "page"}
        push_url = url_for(".show", cart_id=cart_id, **args)
    return fragment_response("".join(parts), push_url=push_url)


@bp.get("/<cart_id>/history/test.py")
def copy_as_test(cart_id: str) -> Response | str:
    """The given/when/then test of `?version=N` (the latest without it): the events up to N,
    the cart they make, and the next command (webapp/scenarios.py). For htmx, the fragment
    with its copy button; otherwise the text itself, to read or save."""
    cart_id = forms.cart_id(cart_id)
    stream = CartStream(get_emit(), cart_id, _latest(cart_id))
    raw = request.args.get("version", "")
    version = _version(stream, forms.version(raw)) if raw else stream.latest
    if version > MAX_EVENTS:  # not written out, so not read either
        text = too_long(cart_id, version)
    else:
        after = stream.event(version + 1) if version < stream.latest else None
        text = scenario(cart_id, version, stream.read(1, version), after)
    if wants_fragment():
        return render_template("history/_scenario.html", text=text, version=version)
    return current_app.response_class(text, mimetype="text/plain")


def _follow(stream: CartStream, per_page: int) -> Response | str:
    """The live history's news (history/_live.html): the page knew versions up to `?live=`,
    and its scrubber is on `?version=`. At that latest version, the page moves on to the new
    latest: the state panel, and out of band the readout, the steps and the list. Elsewhere,
    only the count of new events, so that nothing moves under the person."""
    page_latest = forms.version(request.args.get("live", ""), what="the latest version shown")
    raw = request.args.get("version", "")
    version = forms.version(raw) if raw else page_latest
    news = {"cart_id": stream.cart_id, "seen": stream.latest}
    if version != page_latest or stream.latest <= page_latest:
        return render_template("history/_live.html", page_latest=page_latest, oob=False, **news)
    latest = stream.latest
    query = {
        "event_type": _event_type(request.args.get("type", "")),  # the list's filter, kept
        "cart_id": stream.cart_id,
        "latest": latest,
        "version": latest,
        "compare": None,
        "base": latest - 1,
        "at": None,
    }
    events = _events(stream, EventsPage.number_of(latest, per_page), query)
    view = _view(stream, query)
    parts = [
        render_template("history/_replay.html", **view),
        render_template("history/_scrubber_readout.html", oob=True, **view),
        render_template("history/_steps.html", oob=True, **view),
        render_template("history/_events.html", oob=True, **events),
        render_template("history/_live.html", page_latest=latest, oob=True, **news),
    ]
    response = fragment_response("".join(parts), retarget="#replay", reswap="outerHTML")
    # The address says the latest version now; no new entry in the browser's history.
    response.headers["HX-Replace-Url"] = url_for(".show", cart_id=stream.cart_id)
    return response


@bp.get("/<cart_id>/events.json")
def export(cart_id: str) -> Response:
    """The cart's stream as an `emit.stream/1` document, offered as a file to save. Written
    while it is read, a window of events at a time: a long stream needs no more memory than a
    short one. (A store failure after the first window can only cut the download short.)"""
    cart_id = forms.cart_id(cart_id)
    emit = get_emit()
    latest = _latest(cart_id)
    # Read before the answer starts, so that a failing store still gets its error page.
    first = emit.history(cart_id, up_to=min(EXPORT_WINDOW, latest))

    def windows() -> Iterator[list[RecordedEvent[CartEvent]]]:
        yield first
        for after in range(EXPORT_WINDOW, latest, EXPORT_WINDOW):
            yield emit.history(cart_id, after=after, up_to=min(after + EXPORT_WINDOW, latest))

    chunks = write_export(cart_decider, cart_id, latest, windows())
    response = current_app.response_class(chunks, mimetype="application/json")
    response.headers.set("Content-Disposition", "attachment", filename=_export_filename(cart_id))
    return response


def _export_filename(cart_id: str) -> str:
    """'cart-5eed0001.events.json'; characters a file name should not hold become '_'."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", cart_id).lstrip(".") + ".events.json"


# --- reading the request ----------------------------------------------------------------------


def _latest(cart_id: str) -> int:
    latest = get_emit().store.stream_version(cart_id)
    if not latest:
        abort(404, no_such_cart(cart_id))
    return latest


def _page(raw: str, latest: int, per_page: int) -> int | None:
    """The page of events `?page=` asks for; None when it does not ask."""
    if not raw:
        return None
    if not re.fullmatch(r"[1-9][0-9]{0,8}", raw):
        shown = raw if len(raw) <= 20 else raw[:20] + "…"
        raise BadRequest(f"“{shown}” is not a page of events: pages are numbered 1, 2, 3 …")
    number = int(raw)
    count = max(1, math.ceil(latest / per_page))
    if not 1 <= number <= count:
        abort(404, f"The events of this cart fill pages 1 to {count}; there is no page {number}.")
    return number


def _query(stream: CartStream) -> dict[str, Any]:
    """The version, time (`at`) and comparison the query asks for, checked."""
    args = request.args
    raw_version, raw_at, raw_compare = args.get("version"), args.get("at"), args.get("compare")
    if raw_version and raw_at:
        raise BadRequest("Ask for a version or a time (at), not both.")
    at: datetime | None = None
    if raw_version:
        version = _version(stream, forms.version(raw_version))
    elif raw_at:
        at = forms.moment(raw_at)
        version = get_emit().version_at(stream.cart_id, at)
    else:
        version = stream.latest
    compare = None
    if raw_compare:
        compare = _version(
            stream,
            forms.version(raw_compare, what="a version to compare with"),
            "to compare with",
        )
    base = compare if compare is not None else (version - 1 if version else None)
    return {
        "event_type": _event_type(args.get("type", "")),
        "cart_id": stream.cart_id,
        "latest": stream.latest,
        "version": version,
        "compare": compare,
        "base": base,
        "at": at,
    }


def _event_type(raw: str) -> str | None:
    """The event type `?type=` filters the list by; None for all of them."""
    if not raw:
        return None
    if raw not in EVENT_TYPES:
        shown = raw if len(raw) <= 40 else raw[:40] + "…"
        raise BadRequest(
            f"“{shown}” is not a type of a cart's events: the list can show only "
            f"{', '.join(EVENT_TYPES)}."
        )
    g.event_type = raw  # kept by every link to the page: see `_keep_filter`
    return raw


def _view(stream: CartStream, query: dict[str, Any]) -> dict[str, Any]:
    """What the state panel and the scrubber need: the cart at the version asked for, its
    event, and what changed since the version it is compared with."""
    version, base = query["version"], query["base"]
    event = stream.event(version)
    state = stream.state(version)
    return {
        **query,
        "event": event,
        "event_document": event_document(cart_decider, event) if event else None,
        "cart": state,
        "state_document": _encode_cart(state),
        "diff": diff(stream.state(base), state) if base is not None else None,
        "at_value": _moment_field(event.recorded_at) if event else "",
    }


def _version(stream: CartStream, version: int, purpose: str = "") -> int:
    if not 0 <= version <= stream.latest:
        purpose = f" {purpose}" if purpose else ""
        abort(
            404,
            f"Cart “{stream.cart_id}” has versions 0 to {stream.latest}; there is no version "
            f"{version}{purpose}.",
        )
    return version


def _events(stream: CartStream, number: int, query: dict[str, Any]) -> dict[str, Any]:
    """What the event list needs: page `number` of the events, a row for each, and the version
    shown and compared with, to mark them."""
    page = EventsPage.of(number, stream.latest, current_app.config["HISTORY_EVENTS_PER_PAGE"])
    listed = stream.read(page.first, page.last)
    rows = [
        EventRow(
            recorded,
            stream.states[recorded.version].total,
            event_document(cart_decider, recorded),
        )
        for recorded in listed
        if query["event_type"] in (None, recorded.type)
    ]
    first = 0 if page.number == 1 else page.first  # page 1 lists version 0 too
    ghosts = ghost_rows(stream.emit, stream.cart_id, first, page.last)
    return {**query, "page": page, "rows": rows, "ghosts": ghosts, "event_types": EVENT_TYPES}


def _moment_field(moment: datetime) -> str:
    """A `datetime-local` value (UTC, to the second) that selects this moment's version again:
    rounded up, since the event was recorded some microseconds into its second."""
    moment = moment.astimezone(UTC)
    moment = moment.replace(microsecond=0) + timedelta(seconds=1 if moment.microsecond else 0)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")
