"""The event explorer's reads, shared by its pages (webapp/events.py) and its CLI
(webapp/explorer_cli.py): the log's filters read from a query string or options and checked,
and one event explained with what the app's policies did about it.

A malformed filter raises `BadFilter` naming the field and saying why; nothing is read. The
filters are parsed one field at a time (`FILTER_FIELDS`), so a new one is one more entry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from werkzeug.exceptions import BadRequest

from emit import LogFilter, RecordedEvent
from emit.causation import Causation, explain
from shop.cart import CartEvent, cart_decider
from webapp import forms
from webapp.db import get_emit, get_engine, get_policies
from webapp.receipts import receipt_effects

PER_PAGE = 50
MAX_PAGE = 500  # the CLI's --limit at most


class BadFilter(BadRequest):
    """A malformed filter or bound: a 400 whose message names the field and says why."""

    def __init__(self, field: str, why: str) -> None:
        super().__init__(f"The filter “{field}” is not valid: {why}")
        self.field = field


def event_types() -> list[str]:
    """The cart's event types, as stored, for the type filter's choices."""
    return sorted(cart_decider.schema_versions)


@dataclass(frozen=True, slots=True)
class LogQuery:
    """What a page of the log asks for: the filter, its bounds, and the query's fields as they
    were given (for the form, and for the links that keep the filter)."""

    log_filter: LogFilter
    before: int | None
    after: int | None
    fields: dict[str, str]  # the filter's fields that were set, as given (no bounds)
    refused: bool = False  # the refused commands instead of the events (`?refused=1`)


def _type(value: str) -> dict[str, Any]:
    if value not in event_types():
        names = ", ".join(event_types())
        raise ValueError(f"there is no event type “{value}”; the types are {names}.")
    return {"types": (value,)}


def _cart(value: str) -> dict[str, Any]:
    try:
        return {"stream_id": forms.cart_id(value)}
    except BadRequest as error:
        raise ValueError(str(error.description)) from None


def _moment(value: str, *, end: bool) -> datetime:
    """An ISO date (the whole day: from its start for `since`, to its end for `until`) or
    datetime, as UTC."""
    if len(value) == 10:  # a date alone: 2026-12-04
        try:
            day = datetime.strptime(value, "%Y-%m-%d").date()
        except ValueError:
            raise ValueError(f"“{value}” is not a date: write it like 2026-12-04.") from None
        start = datetime.combine(day, time(), tzinfo=UTC)
        return start + timedelta(days=1) if end else start
    try:
        return forms.moment(value)
    except BadRequest as error:
        raise ValueError(str(error.description)) from None


def _correlation(value: str) -> dict[str, Any]:
    if len(value) > 200:
        raise ValueError("a correlation id is at most 200 characters.")
    return {"correlation_id": value}


# Each filter field of the query: its name and how its text becomes `LogFilter` arguments
# (raising `ValueError` with why not).
FILTER_FIELDS: dict[str, Callable[[str], dict[str, Any]]] = {
    "type": _type,
    "cart": _cart,
    "since": lambda value: {"since": _moment(value, end=False)},
    "until": lambda value: {"until": _moment(value, end=True)},
    "correlation": _correlation,
}


def read_query(args: Mapping[str, str]) -> LogQuery:
    """The filter and bounds of a query string (empty fields are left out). Raises
    `BadFilter`."""
    fields = {name: args.get(name, "").strip() for name in FILTER_FIELDS}
    fields = {name: value for name, value in fields.items() if value}
    options: dict[str, Any] = {}
    for name, value in fields.items():
        try:
            options |= FILTER_FIELDS[name](value)
        except ValueError as error:
            raise BadFilter(name, str(error)) from None
    try:
        log_filter = LogFilter(**options)
    except ValueError as error:  # until not after since
        raise BadFilter("until", str(error)) from None
    before = _position(args, "before")
    after = _position(args, "after")
    if before is not None and after is not None:
        raise BadFilter("after", "ask for the events before a position or after one, not both.")
    refused = _refused(args, fields, after)
    if refused:
        fields["refused"] = "1"
    return LogQuery(log_filter, before, after, fields, refused)


def _refused(args: Mapping[str, str], fields: Mapping[str, str], after: int | None) -> bool:
    """Whether the query asks for the refused commands (`refused=1`). They are not events: the
    refusal log is paged by its own ids, older only, and can be filtered by cart alone."""
    raw = args.get("refused", "").strip()
    if raw in ("", "0"):
        return False
    if raw != "1":
        raise BadFilter("refused", "write refused=1 for the refused commands, or leave it out.")
    others = sorted(set(fields) - {"cart"})
    if others:
        raise BadFilter(
            "refused",
            f"refused commands can be filtered by cart only, not by {', '.join(others)}.",
        )
    if after is not None:
        raise BadFilter("after", "the refused commands are paged from the newest: use before.")
    return True


def _position(args: Mapping[str, str], name: str) -> int | None:
    raw = args.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 18:
        shown = raw if len(raw) <= 20 else raw[:20] + "…"
        raise BadFilter(name, f"“{shown}” is not a position: positions are 1, 2, 3 …")
    return int(raw)


@dataclass(frozen=True, slots=True)
class LogPage:
    """A page of the log, newest first, and the bounds of the pages next to it: `older` (pass
    as `before`) and `newer` (pass as `after`), None when there is none."""

    events: list[RecordedEvent[CartEvent]]
    older: int | None
    newer: int | None


def read_page(query: LogQuery, limit: int = PER_PAGE) -> LogPage:
    """One page of the log as `query` asks. One read more than the page tells whether there is
    a page past it; the other side is known from the bound the query came with."""
    emit = get_emit()
    found = emit.log(query.log_filter, before=query.before, after=query.after, limit=limit + 1)
    if query.after is not None:  # the page just newer than `after`: the extra one is newest
        more_newer = len(found) > limit
        events = found[1:] if more_newer else found
        older = events[-1].position if events else query.after + 1
        return LogPage(events, older, events[0].position if more_newer and events else None)
    more_older = len(found) > limit
    events = found[:limit]
    newer = None
    if query.before is not None and events:
        newer = events[0].position
    elif query.before is not None:  # past the oldest: the page newer than nothing here
        newer = query.before - 1 if query.before > 1 else None
    return LogPage(events, events[-1].position if more_older else None, newer)


def explain_event(position: int) -> Causation | None:
    """The event at `position` explained, with the receipt it caused and the receipts policy's
    dead letters and retries of it; None if there is no such event."""
    return explain(
        get_emit(),
        position,
        effects=[receipt_effects(get_engine()), get_policies().effects_on],
    )
