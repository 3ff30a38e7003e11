"""Stored data stays readable: the JSON that emit's first codec wrote decodes to the same objects.

tests/runtime/fixtures/codec-2026-12-03.json holds events, snapshots and metadata as they were
stored before the codec moved to msgspec; tests/codec_cases.py says what each one stands for.
"""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from emit import (
    CodecError,
    Decider,
    Emit,
    EventDecodeError,
    InMemoryEventStore,
    Snapshots,
    StoredEvent,
    StoredSnapshot,
)
from emit.codec import json_decoder
from emit.ids import new_id
from emit.recorded import new_metadata
from emit.store import AppendRequest, NewEvent
from shop.cart import Cart
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


# Stored as before: byte for byte, but for the UTC times (and a float written 1e-7, not 1e-07).
CHANGED_TEXT = {"rich", "rich, an offset and a big decimal", "odds"}


@pytest.mark.parametrize("case", stored_cases("event"))
def test_events_are_stored_as_before(case: dict[str, Any]) -> None:
    decider, event = cases.EVENTS[case["name"]]

    type_name, schema_version, text = decider.encode_json(event)

    assert (type_name, schema_version) == (case["type"], case["schema_version"])
    assert same_json(text, case["json"])
    if case["name"] not in SETS:
        assert (text == case["json"]) is (case["name"] not in CHANGED_TEXT)


SETS = {"rich, every optional field"}  # its set's order changes from process to process


@pytest.mark.parametrize("case", stored_cases("snapshot"))
def test_snapshots_are_stored_as_before(case: dict[str, Any]) -> None:
    store = InMemoryEventStore()
    decider, state = cases.SNAPSHOTS[case["name"]]
    snapshots: Snapshots[Any] = Snapshots(decider, every=10)

    snapshots.write(store, "stream-1", 10, state)

    stored = store.read_snapshot("stream-1", snapshots.key)
    assert stored is not None
    assert stored.state == case["json"]


@pytest.mark.parametrize("case", stored_cases("metadata"))
def test_metadata_is_stored_as_before(case: dict[str, Any]) -> None:
    command, extra = cases.METADATA[case["name"]]

    document, text = new_metadata(command, extra)

    assert text.replace(document["correlation_id"], case["command_id"]) == case["json"]


# --- what does not decode --------------------------------------------------------------------

UNDECODABLE = [
    pytest.param("Nonesuch", 1, '{"cart_id":"c"}', "no event type 'Nonesuch'", id="unknown type"),
    pytest.param("CartOpened", 1, '{"cart_id":', "JSON", id="malformed JSON"),
    pytest.param("CartOpened", 1, '{"cart_id":"c"} {}', "JSON", id="two JSON values"),
    pytest.param("CartOpened", 1, "[]", "expected an object, got array", id="not an object"),
    pytest.param(
        "CartOpened", 1, '{"cart_id":7}', "field 'cart_id': expected str, got int", id="wrong type"
    ),
    pytest.param(
        "ItemAdded",
        1,
        '{"sku":"a","name":"n","unit_price":1,"quantity":true,"line_quantity":1}',
        "field 'quantity': expected int, got bool",
        id="a bool for an int",
    ),
    pytest.param(
        "ItemAdded",
        1,
        '{"sku":"a","name":"n","unit_price":1,"quantity":1}',
        "missing field 'line_quantity'",
        id="missing field",
    ),
    pytest.param(
        "CartOpened", 1, '{"cart_id":"c","owner":"ann"}', "no field 'owner'", id="unknown field"
    ),
    pytest.param("CartOpened", 2, '{"cart_id":"c"}', "newer than this code", id="newer schema"),
]


@pytest.mark.parametrize(("type_name", "schema_version", "text", "reason"), UNDECODABLE)
def test_what_does_not_decode_names_the_stream_and_version(
    type_name: str, schema_version: int, text: str, reason: str
) -> None:
    store = InMemoryEventStore()
    events = [
        NewEvent(UUID(int=1), "CartOpened", 1, '{"cart_id":"cart-1"}', "{}"),
        NewEvent(UUID(int=2), type_name, schema_version, text, "{}"),
    ]
    (result,) = store.append_many([AppendRequest("cart-1", 0, events)])
    assert not isinstance(result, Exception), result
    emit: Emit[Any, Any, Any] = Emit(DECIDERS["cart"], store=store)

    for read in (emit.get_state, emit.history):  # the replay's path, and one event at a time
        with pytest.raises(EventDecodeError, match=reason) as raised:
            read("cart-1")
        assert (raised.value.aggregate_id, raised.value.version) == ("cart-1", 2)
        assert raised.value.type_name == type_name
        assert "at version 2 of aggregate 'cart-1'" in str(raised.value)


def test_a_nested_object_with_a_key_its_type_has_no_field_for_is_refused() -> None:
    text = '{"cart_id":"c","lines":[{"sku":"a","name":"n","unit_price":1,"quantity":1,"x":0}]}'

    with pytest.raises(CodecError, match="field 'lines': no field 'x'"):
        json_decoder(Cart)(text)


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


@dataclasses.dataclass(frozen=True)
class Measured:
    reading: float
    history: tuple[float, ...] = ()
    note: str | None = None


measured = Decider(
    name="meter",
    initial_state=0.0,
    decide=lambda command, state: [command],
    evolve=lambda state, event: event.reading,
    events=[Measured],
)


@pytest.mark.parametrize(
    "event",
    [Measured(float("nan")), Measured(float("inf")), Measured(1.0, (2.0, float("-inf")))],
    ids=["nan", "infinity", "nested"],
)
def test_a_float_that_is_not_finite_is_refused_and_nothing_is_stored(event: Measured) -> None:
    """JSON has no NaN: stored as null, it would never decode as a float again."""
    emit: Emit[Measured, Measured, float] = Emit(measured, store=InMemoryEventStore(), observers=[])
    emit.create("m-1")
    with pytest.raises(CodecError, match="JSON has no NaN or infinity"):
        emit.handle_command("m-1", event)
    assert emit.aggregate("m-1").version == 1  # the genesis only
    fine = emit.handle_command("m-1", Measured(2.5, (1.0,), None))
    assert emit.history("m-1")[-1].event == Measured(2.5, (1.0,), None)
    assert fine.state == 2.5


def test_events_stored_with_nan_or_infinity_before_msgspec_still_decode() -> None:
    """Python's json module wrote them so, and emit stored what it wrote."""
    text = '{"reading":NaN,"history":[Infinity,-Infinity],"note":null}'
    store = InMemoryEventStore()
    store.append_many(
        [AppendRequest("m-1", 0, [NewEvent(new_id(), "Measured", 1, text, '{"command":"x"}')])]
    )
    emit: Emit[Measured, Measured, float] = Emit(measured, store=store, observers=[])
    (recorded,) = emit.history("m-1")
    assert math.isnan(recorded.event.reading)
    assert recorded.event.history == (math.inf, -math.inf)
    assert math.isnan(emit.get_state("m-1"))  # the replay loop's decoder too
    broken = NewEvent(new_id(), "Measured", 1, '{"reading":NaN', "{}")
    store.append_many([AppendRequest("m-2", 0, [broken])])
    with pytest.raises(EventDecodeError, match="not one JSON value"):
        emit.history("m-2")


@dataclasses.dataclass(frozen=True)
class Noted:
    note: Any
    notes: tuple[Any, ...] = ()


noted = Decider(
    name="notes",
    initial_state=None,
    decide=lambda command, state: [command],
    evolve=lambda state, event: event.note,
    events=[Noted],
)


@pytest.mark.parametrize(
    "event",
    [Noted(datetime(2026, 12, 3, tzinfo=UTC)), Noted("x", ({1, 2},)), Noted((1, 2))],
    ids=["datetime", "set", "tuple"],
)
def test_a_field_typed_any_that_would_come_back_as_another_type_is_refused(event: Noted) -> None:
    """JSON keeps a datetime as text and a set or tuple as a list: read back, the event would
    not be the one decided."""
    emit: Emit[Noted, Noted, Any] = Emit(noted, store=InMemoryEventStore(), observers=[])
    emit.create("n-1")
    with pytest.raises(CodecError, match="would not read back as it is"):
        emit.handle_command("n-1", event)
    emit.handle_command("n-1", Noted({"who": "ana", "n": [1, 2.5, None, True]}))
    assert emit.history("n-1")[-1].event == Noted({"who": "ana", "n": [1, 2.5, None, True]})


@dataclasses.dataclass(frozen=True)
class Stamped:
    at: datetime


@dataclasses.dataclass(frozen=True)
class Seen:
    last: Any = None


seen = Decider(
    name="seen",
    initial_state=Seen(),
    decide=lambda command, state: [command],
    evolve=lambda state, event: Seen(event.at),
    events=[Stamped],
)


def test_a_state_that_would_not_read_back_as_it_is_gets_no_snapshot() -> None:
    """A snapshot must never change a state: one whose field typed Any holds a datetime (text
    in JSON) is not written, and loads replay the events instead."""
    store = InMemoryEventStore()
    moment = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    writer: Emit[Stamped, Stamped, Seen] = Emit(seen, store=store, snapshot_every=1, observers=[])
    writer.create("s-1")
    writer.handle_command("s-1", Stamped(moment))
    reader: Emit[Stamped, Stamped, Seen] = Emit(seen, store=store, snapshot_every=1, observers=[])
    assert reader.aggregate("s-1").state == Seen(moment)
    assert reader.state_at("s-1", 2) == Seen(moment)
