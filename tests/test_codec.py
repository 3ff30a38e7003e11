"""Stored data stays readable: the JSON that emit's first codec wrote decodes to the same objects.

tests/fixtures/codec-2026-12-03.json holds events, snapshots and metadata as they were stored
before the codec moved to msgspec; tests/codec_cases.py says what each one stands for.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from emit import Decider, Emit, InMemoryEventStore, Snapshots, StoredEvent, StoredSnapshot
from emit.codec import to_json
from emit.store import AppendRequest, NewEvent
from tests import codec_cases as cases

FIXTURE: dict[str, Any] = json.loads(
    (Path(__file__).parent / "fixtures" / cases.FIXTURE).read_text(encoding="utf-8")
)
DECIDERS = {d.name: d for d, _ in [*cases.EVENTS.values(), *cases.SNAPSHOTS.values()]}


def stored_cases(kind: str) -> list[Any]:
    return [
        pytest.param(case, id=case["name"]) for case in FIXTURE["cases"] if case["kind"] == kind
    ]


def typed(value: Any) -> Any:
    """`value` as nested pairs of (type, content), sets sorted: equal only if the types match
    all the way down, where `==` finds 2 == 2.0 and a tuple unequal to a list only sometimes."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = dataclasses.fields(value)
        return type(value), [(f.name, typed(getattr(value, f.name))) for f in fields]
    if isinstance(value, set | frozenset):
        return type(value), sorted((typed(item) for item in value), key=repr)
    if isinstance(value, list | tuple):
        return type(value), [typed(item) for item in value]
    if isinstance(value, dict):
        return type(value), [(key, typed(item)) for key, item in value.items()]
    return type(value), value


def stored_event(case: dict[str, Any], metadata: str = "{}") -> StoredEvent:
    return StoredEvent(
        "stream-1",
        1,
        1,
        UUID(int=1),
        case["type"],
        case["schema_version"],
        case["json"],
        metadata,
        cases.RECORDED_AT,
    )


def test_the_fixture_has_every_case_and_nothing_else() -> None:
    names = {kind: [c["name"] for c in FIXTURE["cases"] if c["kind"] == kind] for kind in cases_of}
    assert names == {kind: list(found) for kind, found in cases_of.items()}


cases_of: dict[str, dict[str, Any]] = {
    "event": cases.EVENTS,
    "snapshot": cases.SNAPSHOTS,
    "metadata": cases.METADATA,
}


@pytest.mark.parametrize("case", stored_cases("event"))
def test_stored_events_decode_to_the_same_objects(case: dict[str, Any]) -> None:
    decider, expected = cases.EVENTS[case["name"]]
    emit: Emit[Any, Any, Any] = Emit(decider, store=InMemoryEventStore())

    event = emit.decode(stored_event(case)).event

    assert event == expected
    assert typed(event) == typed(expected)  # the same types inside too: 2.0 is not 2


@pytest.mark.parametrize("case", stored_cases("snapshot"))
def test_stored_snapshots_decode_to_the_same_states(case: dict[str, Any]) -> None:
    decider, expected = cases.SNAPSHOTS[case["name"]]
    store = InMemoryEventStore()
    snapshots: Snapshots[Any] = Snapshots(decider, every=10)
    store.write_snapshot(StoredSnapshot("stream-1", 10, snapshots.key, case["json"]))

    read = snapshots.read(store, "stream-1")

    assert read == (10, expected)
    assert typed(read[1]) == typed(expected)


@pytest.mark.parametrize("case", stored_cases("metadata"))
def test_stored_metadata_decodes_to_the_same_metadata(case: dict[str, Any]) -> None:
    command, extra = cases.METADATA[case["name"]]
    event = FIXTURE["cases"][0]
    emit: Emit[Any, Any, Any] = Emit(DECIDERS[event["decider"]], store=InMemoryEventStore())

    metadata = emit.decode(stored_event(event, case["json"])).metadata

    assert metadata == cases.expected_metadata(command, extra, case["command_id"])


def test_a_stored_cart_replays_to_the_same_state() -> None:
    # A replay decodes each event on a path of its own (the inner loop of `Emit`).
    cart = [case for case in FIXTURE["cases"] if case.get("decider") == "cart"]
    stored = [c for c in cart if c["kind"] == "event"]
    decider = DECIDERS["cart"]
    store = InMemoryEventStore()
    metadata = next(c["json"] for c in FIXTURE["cases"] if c["kind"] == "metadata")
    request = AppendRequest(
        "cart-1",
        0,
        [
            NewEvent(UUID(int=n), c["type"], c["schema_version"], c["json"], metadata)
            for n, c in enumerate(stored, start=1)
        ],
    )
    (result,) = store.append_many([request])
    assert not isinstance(result, Exception), result
    expected = decider.fold(decider.initial_state, [cases.EVENTS[c["name"]][1] for c in stored])

    assert Emit(decider, store=store).get_state("cart-1") == expected
    assert expected.status == "checked_out"


def encoded_event(decider: Decider[Any, Any, Any], event: object) -> str:
    """The JSON text `Emit` stores for an event."""
    return to_json(decider.encode(event)[2])


@pytest.mark.parametrize("case", stored_cases("event"))
def test_events_are_stored_as_before(case: dict[str, Any]) -> None:
    decider, event = cases.EVENTS[case["name"]]
    type_name, schema_version, _ = decider.encode(event)

    assert (type_name, schema_version) == (case["type"], case["schema_version"])
    assert same_json(encoded_event(decider, event), case["json"])


def same_json(text: str, stored: str) -> bool:
    """True if `text` is `stored` byte for byte, or reads as the same data where they may
    differ in form: a set's items in another order (they follow string hashing, which
    changes from process to process), a time written another ISO 8601 way ("Z" or "+00:00")."""
    return text == stored or same_data(json.loads(text), json.loads(stored))


def same_data(one: Any, other: Any) -> bool:
    if isinstance(one, str) and isinstance(other, str) and one != other:
        try:
            a, b = datetime.fromisoformat(one), datetime.fromisoformat(other)
        except ValueError:
            return False
        return a == b and a.utcoffset() == b.utcoffset()
    if isinstance(one, list) and isinstance(other, list):
        if all(isinstance(item, str) for item in one + other):
            one, other = sorted(one), sorted(other)
        return len(one) == len(other) and all(map(same_data, one, other))
    if isinstance(one, dict) and isinstance(other, dict):
        return list(one) == list(other) and all(same_data(one[k], other[k]) for k in one)
    return type(one) is type(other) and one == other
