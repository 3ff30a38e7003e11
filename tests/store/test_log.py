"""The log newest first (`read_log`, `event_at`): part of the store contract, run on every store
(memory, SQLite, PostgreSQL through the `any_store` fixture)."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime

import pytest

from emit import AppendRequest, EventStore, LogFilter, NewEvent, SqlEventStore, StoredEvent
from emit.store import append_one
from tests.threads import start_and_join


def new(type_name: str = "Happened", correlation: str | None = None) -> NewEvent:
    metadata = {"command": "Test"}
    if correlation is not None:
        metadata["correlation_id"] = correlation
    return NewEvent(uuid.uuid4(), type_name, 1, "{}", json.dumps(metadata))


def append(store: EventStore, stream: str, *events: NewEvent) -> list[StoredEvent]:
    version = store.stream_version(stream)
    return append_one(store, AppendRequest(stream, version, events or [new()]))


def positions(events: list[StoredEvent]) -> list[int]:
    return [e.position for e in events]


@pytest.fixture
def log(any_store: EventStore) -> EventStore:
    """A store with 10 events: streams a (1, 3, 5, 7, 9) and b (2, 4, 6, 8, 10); even
    positions are `Paid`, the others `Ordered`; positions 3 and 4 share correlation `c-1`."""
    for n in range(1, 11):
        correlation = "c-1" if n in (3, 4) else None
        append(any_store, "a" if n % 2 else "b", new("Ordered" if n % 2 else "Paid", correlation))
    return any_store


def test_the_log_reads_newest_first_up_to_the_limit(log: EventStore) -> None:
    assert positions(log.read_log()) == list(range(10, 0, -1))
    assert positions(log.read_log(limit=3)) == [10, 9, 8]


def test_before_pages_to_older_events_and_after_to_newer_ones(log: EventStore) -> None:
    assert positions(log.read_log(before=8, limit=3)) == [7, 6, 5]
    assert positions(log.read_log(before=2)) == [1]
    assert positions(log.read_log(before=1)) == []
    # Only `after`: the page just newer than it, still newest first.
    assert positions(log.read_log(after=4, limit=3)) == [7, 6, 5]
    assert positions(log.read_log(after=9, limit=3)) == [10]
    assert positions(log.read_log(after=3, before=7)) == [6, 5, 4]
    assert positions(log.read_log(before=99, limit=2)) == [10, 9]


def test_the_log_filters_by_type_stream_and_correlation(log: EventStore) -> None:
    assert positions(log.read_log(LogFilter({"Paid"}))) == [10, 8, 6, 4, 2]
    assert positions(log.read_log(LogFilter(["Paid", "Ordered"]), limit=3)) == [10, 9, 8]
    assert positions(log.read_log(LogFilter("Ordered"), before=5)) == [3, 1]
    assert positions(log.read_log(LogFilter(stream_id="a"), before=9, limit=2)) == [7, 5]
    assert positions(log.read_log(LogFilter(correlation_id="c-1"))) == [4, 3]
    assert positions(log.read_log(LogFilter(correlation_id="nope"))) == []
    both = LogFilter({"Paid"}, stream_id="b", correlation_id="c-1")
    assert positions(log.read_log(both)) == [4]
    assert positions(log.read_log(LogFilter({"Paid"}), after=4, limit=2)) == [8, 6]
    assert positions(log.read_log(LogFilter({"Shipped"}))) == []


def test_the_log_filters_by_time(log: EventStore) -> None:
    everything = log.read_log()
    middle = log.event_at(5)
    assert middle is not None
    moment = middle.recorded_at
    since = log.read_log(LogFilter(since=moment))
    until = log.read_log(LogFilter(until=moment))
    assert since == [e for e in everything if e.recorded_at >= moment]
    assert until == [e for e in everything if e.recorded_at < moment]
    assert 5 in positions(since)
    assert 5 not in positions(until)
    assert sorted(positions(since + until)) == list(range(1, 11))


def test_one_event_by_its_position(log: EventStore) -> None:
    event = log.event_at(4)
    assert event is not None
    assert (event.position, event.stream_id, event.version, event.type) == (4, "b", 2, "Paid")
    assert event == log.read_log(before=5, limit=1)[0]
    assert log.event_at(11) is None
    assert log.event_at(0) is None


def test_a_page_of_nothing_or_a_negative_bound_is_refused(any_store: EventStore) -> None:
    with pytest.raises(ValueError, match="at least 1 event"):
        any_store.read_log(limit=0)
    with pytest.raises(ValueError, match="before must be a position"):
        any_store.read_log(before=-1)
    with pytest.raises(ValueError, match="after must be a position"):
        any_store.read_log(after=True)  # type: ignore[arg-type]


def test_a_filter_refuses_what_can_keep_nothing() -> None:
    moment = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="must be after its since"):
        LogFilter(since=moment, until=moment)
    with pytest.raises(ValueError, match="stream_id cannot be empty"):
        LogFilter(stream_id="")
    assert LogFilter("Paid") == LogFilter(["Paid"])  # a name, not its letters
    assert LogFilter(since=moment.replace(tzinfo=None)).since == moment  # naive is UTC


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def sql_store(request: pytest.FixtureRequest) -> Iterator[SqlEventStore]:
    url = request.getfixturevalue(f"{request.param}_url")
    with closing(SqlEventStore(url)) as store:
        yield store


def test_paging_the_whole_log_while_writers_append_sees_each_event_once(
    sql_store: SqlEventStore,
) -> None:
    for n in range(120):
        append(sql_store, f"s-{n % 7}")
    head = sql_store.head_position()
    stop, wrote = threading.Event(), threading.Event()

    def write(worker: int) -> None:
        n = 0
        while not stop.is_set():
            append(sql_store, f"w-{worker}-{n % 3}", new("Written"))
            wrote.set()
            n += 1

    writers = [threading.Thread(target=write, args=(w,)) for w in range(3)]
    seen: list[int] = []

    def read() -> None:
        try:
            before = head + 1  # the events that existed when paging started
            while True:
                # Each page is read after at least one more append: paging and appending
                # interleave, however the threads are scheduled.
                assert wrote.wait(timeout=60)
                wrote.clear()
                page = sql_store.read_log(before=before, limit=7)
                if not page:
                    return
                seen.extend(positions(page))
                before = page[-1].position
        finally:
            stop.set()

    reader = threading.Thread(target=read)
    start_and_join([*writers, reader])

    assert sql_store.head_position() > head  # the writers did write while it paged
    assert seen == sorted(set(seen), reverse=True)  # strictly decreasing: no repeats
    assert seen == list(range(head, 0, -1))  # and nothing missed
