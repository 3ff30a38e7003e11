"""A stream exported as a JSON document and read back: the same events, metadata included, and a
clear `InvalidExport` for a document that does not fit."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from emit import Decider, Emit, InMemoryEventStore
from emit.export import FORMAT, InvalidExport, export_stream, read_export, write_export
from emit.testing import given
from tests.account import Deposit, Deposited, Opened, Withdraw, Withdrawn, account


@pytest.fixture
def document() -> dict[str, Any]:
    with Emit(account, store=InMemoryEventStore()) as emit:
        emit.create("acc-1", metadata={"source": "test"})
        emit.handle_command("acc-1", Deposit(10, "ann"))
        emit.handle_command("acc-1", Withdraw(4), metadata={"teller": "bob"})
        # Through JSON text, as a file or an HTTP answer carries it.
        return json.loads(json.dumps(export_stream(account, emit.history("acc-1"))))


def test_the_document_has_the_documented_shape(document: dict[str, Any]) -> None:
    assert list(document) == ["format", "decider", "aggregate_id", "version", "events"]
    assert (document["format"], document["decider"], document["aggregate_id"]) == (
        FORMAT,
        "account",
        "acc-1",
    )
    assert document["version"] == 3
    first, _, last = document["events"]
    assert list(first) == [
        "version",
        "position",
        "event_id",
        "type",
        "schema_version",
        "data",
        "metadata",
    ]
    assert (first["version"], first["type"], first["data"]) == (
        1,
        "Opened",
        {"account_id": "acc-1"},
    )
    assert first["metadata"]["command"] == "create"
    assert first["metadata"]["source"] == "test"
    assert last["data"] == {"amount": 4}
    assert last["metadata"]["command"] == "Withdraw"
    assert last["metadata"]["teller"] == "bob"
    assert [event["position"] for event in document["events"]] == [1, 2, 3]


def test_reading_it_back_gives_the_same_events(document: dict[str, Any]) -> None:
    with Emit(account, store=InMemoryEventStore()) as emit:
        emit.create("acc-1", metadata={"source": "test"})
        emit.handle_command("acc-1", Deposit(10, "ann"))
        emit.handle_command("acc-1", Withdraw(4), metadata={"teller": "bob"})
        history = emit.history("acc-1")
    recorded = read_export(account, json.loads(json.dumps(export_stream(account, history))))
    assert recorded == history  # ids, positions, times and metadata included
    assert export_stream(account, read_export(account, document)) == document


def test_an_export_is_a_fixture_for_given_when_then(document: dict[str, Any]) -> None:
    events = [recorded.event for recorded in read_export(account, document)]
    assert events == [Opened("acc-1"), Deposited(10, "ann"), Withdrawn(4)]
    given(account, *events).when(Withdraw(7)).then_rejected("balance is 6")


def test_an_empty_or_mixed_stream_cannot_be_exported() -> None:
    with pytest.raises(ValueError, match="at least one event"):
        export_stream(account, [])
    with Emit(account, store=InMemoryEventStore()) as emit:
        emit.create("a")
        emit.create("b")
        mixed = [*emit.history("a"), *emit.history("b")]
    with pytest.raises(ValueError, match="version order"):
        export_stream(account, mixed)


@pytest.mark.parametrize("window", [1, 2, 3, 100])
def test_written_a_window_at_a_time_it_is_the_same_document(window: int) -> None:
    with Emit(account, store=InMemoryEventStore()) as emit:
        emit.create("acc-1", metadata={"note": "café ☕"})  # not ASCII, as json.dumps keeps it
        for amount in range(1, 6):
            emit.handle_command("acc-1", Deposit(amount, "ann"))
        events = emit.history("acc-1")
    windows = [events[start : start + window] for start in range(0, len(events), window)]
    written = "".join(write_export(account, "acc-1", 6, windows))
    whole = json.dumps(export_stream(account, events), indent=2, ensure_ascii=False) + "\n"
    assert written == whole
    assert read_export(account, json.loads(written)) == events


def test_a_written_export_refuses_events_out_of_place() -> None:
    with Emit(account, store=InMemoryEventStore()) as emit:
        emit.create("a")
        emit.handle_command("a", Deposit(1))
        emit.create("b")
        events, other = emit.history("a"), emit.history("b")
    with pytest.raises(ValueError, match="at least one event"):
        list(write_export(account, "a", 0, []))
    with pytest.raises(ValueError, match="version 1 of 'b' where version 2 of 'a' belongs"):
        list(write_export(account, "a", 2, [events[:1], other]))
    with pytest.raises(ValueError, match="to end at version 3, but its events end at version 2"):
        list(write_export(account, "a", 3, [events]))


def _broken(document: dict[str, Any], change: Any) -> dict[str, Any]:
    broken = copy.deepcopy(document)
    change(broken)
    return broken


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(format="emit.stream/9"), "not a stream export in format"),
        (lambda d: d.update(decider="cart"), "written by decider 'cart', not 'account'"),
        (lambda d: d.pop("aggregate_id"), "'aggregate_id' must be a string"),
        # An id no store takes; a page that writes it into Python source would run its 2nd line.
        (
            lambda d: d.update(aggregate_id="acc-1\nimport os"),
            "Its aggregate_id cannot name an aggregate: it contains control",
        ),
        (lambda d: d.update(aggregate_id=""), "Its aggregate_id cannot name an aggregate"),
        (lambda d: d.update(events=[]), "has no events"),
        (lambda d: d.update(events={}), "'events' must be a list"),
        (lambda d: d.update(version=2), "says version 2, but its events end at version 3"),
        (lambda d: d["events"].pop(1), "event 2 has version 3"),
        (lambda d: d["events"].__setitem__(0, "x"), "Event 1 is not a JSON object"),
        (lambda d: d["events"][0].update(version=True), "'version' must be a whole number"),
        (lambda d: d["events"][1].update(type="Robbed"), "no event type 'Robbed'"),
        (lambda d: d["events"][1]["data"].update(amount="10"), "expected int"),
        (lambda d: d["events"][1].update(event_id="nope"), "Event 2 (Deposited) does not fit"),
        (lambda d: d["events"][2]["metadata"].pop("timestamp"), "'timestamp' must be a string"),
        (lambda d: d["events"][2]["metadata"].update(timestamp="noon"), "does not fit"),
    ],
)
def test_a_document_that_does_not_fit_says_why(
    document: dict[str, Any], change: Any, message: str
) -> None:
    with pytest.raises(InvalidExport, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_export(account, _broken(document, change))


def test_a_document_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(InvalidExport, match="is a JSON object, not list"):
        read_export(account, [])


def test_data_is_exported_at_the_current_schema_version() -> None:
    """Events stored before an upcaster existed are exported as this code reads them."""

    def rename(data: dict[str, Any]) -> dict[str, Any]:
        return {"amount": data["amount"], "by": data.get("by", "unknown")}

    store = InMemoryEventStore()
    with Emit(account, store=store) as emit:
        emit.create("acc-1")
        emit.handle_command("acc-1", Deposit(5))
    upcasting = Decider(
        "account",
        account.initial_state,
        account.decide,
        account.evolve,
        account.events,
        account.genesis,
        upcasters={("Deposited", 1): rename},
    )
    document = export_stream(upcasting, Emit(upcasting, store=store).history("acc-1"))
    assert document["events"][1]["schema_version"] == 2
    assert read_export(upcasting, document)[1].event == Deposited(5, "teller")
