"""One aggregate's stream as a JSON document, and back: for exports, test fixtures and bug
reports.

The document (`FORMAT` "emit.stream/1"):

    {
      "format": "emit.stream/1",
      "decider": "cart",                      # the decider that wrote it
      "aggregate_id": "cart-5eed0001",
      "version": 2,                           # the last event's version
      "events": [                             # every event, in version order 1, 2, 3 ...
        {
          "version": 1,
          "position": 17,                     # the place in the whole store's log
          "event_id": "6f1c0c8e-...",
          "type": "CartOpened",
          "schema_version": 1,
          "data": {"cart_id": "cart-5eed0001"},
          "metadata": {
            "timestamp": "2025-11-27T09:45:12.123456+00:00",
            "correlation_id": "...", "causation_id": "...", "command": "create",
            ...                               # whatever the caller passed as metadata=
          }
        },
        ...
      ]
    }

`data` is the event as this code encodes it, already upcast to the current `schema_version`, so
the same code reads it back without upcasters. The shape only grows: a later version may add
keys, but never changes what an existing one means (that would be a new `format`).
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar, cast
from uuid import UUID

from emit.codec import CodecError
from emit.decider import Decider
from emit.errors import EmitError, InvalidAggregateId
from emit.ids import check_aggregate_id
from emit.recorded import Metadata, RecordedEvent

E = TypeVar("E")

FORMAT = "emit.stream/1"


class InvalidExport(EmitError, ValueError):
    """A document that is not a stream export this code can read; the message says why."""


def export_stream(
    decider: Decider[Any, E, Any], events: Sequence[RecordedEvent[E]]
) -> dict[str, Any]:
    """The JSON-ready document for one aggregate's whole stream, as `Emit.history` returns it.

    Raises `ValueError` for an empty stream, or events of several aggregates or out of order.
    """
    if not events:
        raise ValueError("A stream export needs at least one event.")
    aggregate_id = events[0].aggregate_id
    for expected, recorded in enumerate(events, start=1):
        _check_place(aggregate_id, expected, recorded)
    return {
        "format": FORMAT,
        "decider": decider.name,
        "aggregate_id": aggregate_id,
        "version": events[-1].version,
        "events": [event_document(decider, recorded) for recorded in events],
    }


def write_export(
    decider: Decider[Any, E, Any],
    aggregate_id: str,
    version: int,
    windows: Iterable[Sequence[RecordedEvent[E]]],
) -> Iterator[str]:
    """`export_stream`'s document as JSON text, exactly as `json.dumps(document, indent=2,
    ensure_ascii=False)` writes it plus a newline, written a window of events at a time: a
    long stream is never in memory whole. `version` is the last event's version; `windows`
    yields the events 1 to `version` in order, in lists of any size (say, `Emit.history`
    with `after` and `up_to`).

    Raises `ValueError`, as it writes, for an empty stream or events that are not versions 1
    to `version` of `aggregate_id` in order.
    """
    if version < 1:
        raise ValueError("A stream export needs at least one event.")
    head: dict[str, Any] = {
        "format": FORMAT,
        "decider": decider.name,
        "aggregate_id": aggregate_id,
        "version": version,
    }
    yield "{\n" + "".join(f"  {_json(key)}: {_json(value)},\n" for key, value in head.items())
    yield '  "events": [\n'
    expected = 1
    for window in windows:
        texts = []
        for recorded in window:
            _check_place(aggregate_id, expected, recorded)
            document = json.dumps(event_document(decider, recorded), indent=2, ensure_ascii=False)
            texts.append(textwrap.indent(document, "    "))
            expected += 1
        if texts:
            yield (",\n" if expected - len(texts) > 1 else "") + ",\n".join(texts)
    if expected != version + 1:
        raise ValueError(
            f"The stream export was to end at version {version}, but its events end at "
            f"version {expected - 1}."
        )
    yield "\n  ]\n}\n"


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _check_place(aggregate_id: str, expected: int, recorded: RecordedEvent[Any]) -> None:
    if recorded.aggregate_id != aggregate_id or recorded.version != expected:
        raise ValueError(
            "A stream export needs one aggregate's events in version order 1, 2, 3 ...; "
            f"found version {recorded.version} of {recorded.aggregate_id!r} where version "
            f"{expected} of {aggregate_id!r} belongs."
        )


def event_document(decider: Decider[Any, E, Any], recorded: RecordedEvent[E]) -> dict[str, Any]:
    """One entry of a document's `events`: a single event as JSON-ready data."""
    type_name, schema_version, data = decider.encode(recorded.event)
    return {
        "version": recorded.version,
        "position": recorded.position,
        "event_id": str(recorded.event_id),
        "type": type_name,
        "schema_version": schema_version,
        "data": data,
        "metadata": recorded.metadata.to_dict(),
    }


def read_export(decider: Decider[Any, E, Any], document: Any) -> list[RecordedEvent[E]]:
    """The events of a document `export_stream` made (or one written by hand in its shape),
    decoded by `decider`: `[recorded.event for recorded in ...]` are the events to hand to
    `emit.testing.given`.

    Raises `InvalidExport` saying what does not fit: another format or decider, a missing or
    mistyped key, an aggregate id no store would take (see `check_aggregate_id`), versions that
    do not run 1, 2, 3 ..., an event that does not decode.
    """
    if not isinstance(document, dict):
        raise InvalidExport(f"A stream export is a JSON object, not {type(document).__name__}.")
    if document.get("format") != FORMAT:
        raise InvalidExport(
            f"This is not a stream export in format {FORMAT!r}; "
            f"its format is {document.get('format')!r}."
        )
    if document.get("decider") != decider.name:
        raise InvalidExport(
            f"This stream was written by decider {document.get('decider')!r}, not {decider.name!r}."
        )
    aggregate_id = _field(document, "aggregate_id", str, "the document")
    try:
        check_aggregate_id(aggregate_id)
    except InvalidAggregateId as error:
        raise InvalidExport(
            f"Its aggregate_id cannot name an aggregate: {error.reason} ({aggregate_id[:40]!r})."
        ) from None
    events = _field(document, "events", list, "the document")
    if not events:
        raise InvalidExport("The export has no events.")
    recorded = [
        _read_event(decider, aggregate_id, expected, item)
        for expected, item in enumerate(events, start=1)
    ]
    if document.get("version") != recorded[-1].version:
        raise InvalidExport(
            f"The export says version {document.get('version')!r}, "
            f"but its events end at version {recorded[-1].version}."
        )
    return recorded


def _read_event(
    decider: Decider[Any, E, Any], aggregate_id: str, expected: int, item: Any
) -> RecordedEvent[E]:
    where = f"event {expected}"
    if not isinstance(item, dict):
        raise InvalidExport(f"Event {expected} is not a JSON object.")
    version = _field(item, "version", int, where)
    if version != expected:
        raise InvalidExport(
            f"Versions must run 1, 2, 3 ... without a gap; event {expected} has version {version}."
        )
    type_name = _field(item, "type", str, where)
    schema_version = _field(item, "schema_version", int, where)
    data = _field(item, "data", dict, where)
    metadata = dict(_field(item, "metadata", dict, where))
    timestamp = _field(metadata, "timestamp", str, f"the metadata of {where}")
    try:
        event = cast(E, decider.decode(type_name, schema_version, data))
        event_id = UUID(_field(item, "event_id", str, where))
        recorded_at = datetime.fromisoformat(timestamp)
    except (CodecError, ValueError) as error:
        raise InvalidExport(f"Event {expected} ({type_name}) does not fit: {error}") from None
    return RecordedEvent(
        aggregate_id,
        version,
        _field(item, "position", int, where),
        event_id,
        type_name,
        schema_version,
        event,
        Metadata(
            timestamp=recorded_at,
            correlation_id=str(metadata.pop("correlation_id", "")),
            causation_id=metadata.pop("causation_id", None),
            command=metadata.pop("command", None),
            extra={key: value for key, value in metadata.items() if key != "timestamp"},
        ),
    )


_T = TypeVar("_T")


def _field(document: Mapping[str, Any], key: str, kind: type[_T], where: str) -> _T:
    value = document.get(key)
    # bool is an int in Python, but a JSON true is never a version.
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise InvalidExport(f"In {where}, {key!r} must be a {_KINDS.get(kind, kind.__name__)}.")
    return value


_KINDS: dict[type, str] = {str: "string", int: "whole number", list: "list", dict: "JSON object"}
