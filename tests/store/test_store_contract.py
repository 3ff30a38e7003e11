"""The event store contract: written once, run against every store emit ships."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing
from typing import Any

import pytest
import sqlalchemy as sa

from emit import (
    AppendRequest,
    CommandAlreadyRecorded,
    CommandKey,
    ConcurrencyError,
    EventStore,
    InMemoryEventStore,
    NewEvent,
    SqlEventStore,
    StorageError,
    StoredCommand,
    StoredEvent,
    StoredSnapshot,
)
from emit.store import append_one

StoreFactory = Callable[[], EventStore]


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def open_store(request: pytest.FixtureRequest) -> Iterator[StoreFactory]:
    """A function opening the store under test; reopening gives the same data (except memory)."""
    if request.param == "memory":
        memory = InMemoryEventStore()
        yield lambda: memory
        return
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    with ExitStack() as opened:
        yield lambda: opened.enter_context(closing(SqlEventStore(url)))


@pytest.fixture
def store(open_store: StoreFactory) -> EventStore:
    return open_store()


def new(type_name: str = "Happened", **data: Any) -> NewEvent:
    import json

    return NewEvent(uuid.uuid4(), type_name, 1, json.dumps(data), '{"command":"Test"}')


def append(store: EventStore, stream: str, expected: int, *events: NewEvent) -> list[StoredEvent]:
    return append_one(store, AppendRequest(stream, expected, events or [new()]))


def test_a_new_stream_starts_at_version_one_and_position_one(store: EventStore) -> None:
    stored = append(store, "a", 0, new(n=1), new(n=2))

    assert [(e.stream_id, e.version, e.position) for e in stored] == [("a", 1, 1), ("a", 2, 2)]
    assert store.stream_version("a") == 2
    assert store.head_position() == 2


def test_what_is_read_back_is_what_was_appended(store: EventStore) -> None:
    event = NewEvent(uuid.uuid4(), "Noted", 3, '{"text":"café ☕ \\"quoted\\""}', '{"who":"é"}')
    append(store, "a", 0, event)

    (read,) = store.read_stream("a")
    assert (read.event_id, read.type, read.schema_version, read.data, read.metadata) == (
        event.event_id,
        "Noted",
        3,
        event.data,
        event.metadata,
    )
    assert read.recorded_at.tzinfo is not None
    assert read.recorded_at.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


def test_versions_continue_and_positions_are_global(store: EventStore) -> None:
    append(store, "a", 0)
    append(store, "b", 0)
    append(store, "a", 1, new(), new())

    assert [e.version for e in store.read_stream("a")] == [1, 2, 3]
    assert [(e.stream_id, e.position) for e in store.read_all()] == [
        ("a", 1),
        ("b", 2),
        ("a", 3),
        ("a", 4),
    ]


def test_a_stale_expected_version_stores_nothing(store: EventStore) -> None:
    append(store, "a", 0, new(), new())

    with pytest.raises(ConcurrencyError) as raised:
        append(store, "a", 1, new(), new(), new())

    assert (raised.value.expected_version, raised.value.actual_version) == (1, 2)
    assert "'a'" in str(raised.value)
    assert store.stream_version("a") == 2
    assert store.head_position() == 2
    assert len(store.read_all()) == 2


def test_an_expected_version_ahead_of_the_stream_is_a_conflict(store: EventStore) -> None:
    append(store, "a", 0)

    with pytest.raises(ConcurrencyError):
        append(store, "a", 5)
    with pytest.raises(ConcurrencyError) as raised:
        append(store, "missing", 1)
    assert raised.value.actual_version == 0
    assert store.head_position() == 1


def test_creating_an_existing_stream_is_a_conflict(store: EventStore) -> None:
    append(store, "a", 0)

    with pytest.raises(ConcurrencyError):
        append(store, "a", 0)
    assert store.stream_version("a") == 1


def test_an_append_without_events_is_refused(store: EventStore) -> None:
    with pytest.raises(ValueError, match="no events"):
        store.append_many([AppendRequest("a", 0, [])])


def test_a_batch_keeps_each_requests_outcome_apart(store: EventStore) -> None:
    append(store, "taken", 0)

    results = store.append_many(
        [
            AppendRequest("x", 0, [new(), new()]),
            AppendRequest("taken", 0, [new()]),  # conflict
            AppendRequest("y", 0, [new()]),
        ]
    )

    assert isinstance(results[1], ConcurrencyError)
    assert [(e.stream_id, e.position) for e in results[0]] == [("x", 2), ("x", 3)]  # type: ignore[union-attr]
    assert [(e.stream_id, e.position) for e in results[2]] == [("y", 4)]  # type: ignore[union-attr]
    assert [e.position for e in store.read_all()] == [1, 2, 3, 4]


@pytest.mark.parametrize("stale", [None, "s0", "s2", "s4"])
def test_a_batch_on_existing_streams_lands_whole_but_for_a_stale_request(
    store: EventStore, stale: str | None
) -> None:
    for n in range(5):
        append(store, f"s{n}", 0, *[new() for _ in range(n + 1)])
    requests = [
        AppendRequest(f"s{n}", n + (1 if f"s{n}" != stale else 0), [new(), new()])
        for n in (3, 0, 4, 1, 2)
    ]

    results = store.append_many(requests)

    for request, result in zip(requests, results, strict=True):
        if request.stream_id == stale:
            assert isinstance(result, ConcurrencyError)
        else:
            assert isinstance(result, list)
            assert [e.version for e in result] == [
                request.expected_version + 1,
                request.expected_version + 2,
            ]
    landed = [r for r in results if isinstance(r, list)]
    positions = [e.position for result in landed for e in result]
    assert positions == list(range(16, 16 + len(positions)))  # in the order of the requests
    assert sum(store.stream_version(f"s{n}") for n in range(5)) == 15 + len(positions)


def test_two_requests_for_one_stream_in_a_batch_cannot_both_win(store: EventStore) -> None:
    append(store, "a", 0)

    first, second = store.append_many(
        [AppendRequest("a", 1, [new()]), AppendRequest("a", 1, [new()])]
    )

    assert isinstance(first, list)
    assert isinstance(second, ConcurrencyError)
    assert store.stream_version("a") == 2


def test_a_failing_hook_keeps_its_own_events_out_and_the_others_in(store: EventStore) -> None:
    seen: list[list[int]] = []

    def record(_connection: object, stored: Any) -> None:
        seen.append([e.version for e in stored])

    def explode(_connection: object, _stored: Any) -> None:
        raise RuntimeError("projection failed")

    results = store.append_many(
        [
            AppendRequest("ok", 0, [new(), new()], before_commit=record),
            AppendRequest("bad", 0, [new()], before_commit=explode),
        ]
    )

    assert isinstance(results[1], RuntimeError)
    assert store.stream_version("bad") == 0
    assert [e.stream_id for e in store.read_all()] == ["ok", "ok"]
    assert [1, 2] in seen
    assert [e.position for e in store.read_all()] == [1, 2]


def test_a_resolver_decides_again_on_the_newer_events(store: EventStore) -> None:
    append(store, "a", 0, new(n=1))
    append(store, "a", 1, new(n=2), new(n=3))
    seen: list[list[int]] = []

    def resolve(newer: Any) -> list[NewEvent]:
        seen.append([e.version for e in newer])
        return [new(n=4)]

    (result,) = store.append_many([AppendRequest("a", 1, [new(n=99)], resolve=resolve)])

    assert seen == [[2, 3]]
    assert [(e.version, e.position, e.data) for e in result] == [(4, 4, '{"n": 4}')]  # type: ignore[union-attr]
    assert store.stream_version("a") == 4


def test_a_resolver_may_refuse_or_find_nothing_to_do(store: EventStore) -> None:
    append(store, "a", 0)
    append(store, "a", 1)

    def refuse(_newer: Any) -> list[NewEvent]:
        raise LookupError("no longer applies")

    refused, nothing = store.append_many(
        [
            AppendRequest("a", 1, [new()], resolve=refuse),
            AppendRequest("a", 1, [new()], resolve=lambda newer: []),
        ]
    )

    assert isinstance(refused, LookupError)
    assert nothing == []
    assert store.head_position() == 2


def test_a_resolver_does_not_turn_a_duplicate_create_into_an_append(store: EventStore) -> None:
    append(store, "a", 0)

    (result,) = store.append_many([AppendRequest("a", 0, [new()], resolve=lambda n: [new()])])

    assert isinstance(result, ConcurrencyError)


def test_read_stream_slices_by_version(store: EventStore) -> None:
    append(store, "a", 0, *[new(n=i) for i in range(5)])

    assert [e.version for e in store.read_stream("a", after=2)] == [3, 4, 5]
    assert [e.version for e in store.read_stream("a", up_to=2)] == [1, 2]
    assert [e.version for e in store.read_stream("a", after=1, up_to=3)] == [2, 3]
    assert store.read_stream("a", up_to=0) == []
    assert store.read_stream("missing") == []


def test_read_all_pages_by_position(store: EventStore) -> None:
    for stream in "abc":
        append(store, stream, 0, new(), new())

    assert [e.position for e in store.read_all(after=2, limit=3)] == [3, 4, 5]
    assert [e.position for e in store.read_all(after=5)] == [6]
    assert store.read_all(after=6) == []


def test_streams_are_listed_in_pages_by_id(store: EventStore) -> None:
    for stream in ["c", "a", "b", "d"]:
        append(store, stream, 0)
    append(store, "b", 1)

    first = store.list_streams(limit=2)
    second = store.list_streams(after=first[-1].stream_id, limit=2)

    assert [(s.stream_id, s.version) for s in first + second] == [
        ("a", 1),
        ("b", 2),
        ("c", 1),
        ("d", 1),
    ]
    b = first[1]
    assert b.created_at <= b.updated_at
    assert store.count_streams() == 4
    assert store.list_streams(after="d") == []


def test_an_empty_store(store: EventStore) -> None:
    assert store.head_position() == 0
    assert store.read_all() == []
    assert store.stream_version("a") == 0
    assert store.count_streams() == 0


def test_events_survive_closing_and_reopening(open_store: StoreFactory) -> None:
    first = open_store()
    append(first, "a", 0, new(n=1))
    append(first, "a", 1, new(n=2))
    append(first, "b", 0)
    before = first.read_all()
    first.close()

    again = open_store()

    assert again.read_all() == before
    assert again.stream_version("a") == 2
    assert again.head_position() == 3
    append(again, "a", 2)
    assert again.head_position() == 4


# --- what only a database can show -------------------------------------------------------------


@pytest.fixture
def sql_store(database_url: str) -> Iterator[SqlEventStore]:
    store = SqlEventStore(database_url)
    yield store
    store.close()


def test_the_database_itself_refuses_a_duplicate_version(sql_store: SqlEventStore) -> None:
    append(sql_store, "a", 0)
    from emit.sql.tables import events

    (row,) = sql_store.read_stream("a")
    with pytest.raises(sa.exc.IntegrityError), sql_store.engine.begin() as connection:
        connection.execute(
            events.insert().values(
                position=99,
                stream_id="a",
                version=1,
                event_id=uuid.uuid4() if sql_store.dialect == "postgresql" else str(uuid.uuid4()),
                type="Dup",
                schema_version=1,
                data="{}",
                metadata="{}",
                recorded_at=row.recorded_at
                if sql_store.dialect == "postgresql"
                else row.recorded_at.isoformat(),
            )
        )


def test_sqlite_runs_in_wal_mode_with_full_sync(sqlite_url: str) -> None:
    store = SqlEventStore(sqlite_url, busy_timeout=12.5)
    try:
        with store.engine.connect() as connection:
            pragma = connection.exec_driver_sql
            assert pragma("PRAGMA journal_mode").scalar() == "wal"
            assert pragma("PRAGMA synchronous").scalar() == 2  # FULL
            assert pragma("PRAGMA busy_timeout").scalar() == 12500
    finally:
        store.close()


def test_a_closed_store_says_so(sqlite_url: str) -> None:
    store = SqlEventStore(sqlite_url)
    store.close()

    with pytest.raises(StorageError, match="closed"):
        append(store, "a", 0)
    with pytest.raises(StorageError, match="closed"):
        store.read_stream("a")


def test_an_unreachable_database_is_a_storage_error() -> None:
    with pytest.raises(StorageError, match="create the schema"):
        SqlEventStore("postgresql://nobody@127.0.0.1:1/none?connect_timeout=1")


def test_in_memory_sqlite_is_refused_with_advice() -> None:
    with pytest.raises(ValueError, match="InMemoryEventStore"):
        SqlEventStore("sqlite://")


def test_schema_creation_is_idempotent(database_url: str) -> None:
    SqlEventStore(database_url).close()
    store = SqlEventStore(database_url)
    append(store, "a", 0)
    store.close()
    store = SqlEventStore(database_url)
    assert store.head_position() == 1
    store.close()


# --- snapshots -----------------------------------------------------------------------------------


def test_the_latest_snapshot_at_or_below_a_version_is_read(store: EventStore) -> None:
    append(store, "a", 0, *[new(n=n) for n in range(10)])
    for version in (3, 6, 9):
        store.write_snapshot(StoredSnapshot("a", version, "k1", f'{{"v":{version}}}'))

    assert store.read_snapshot("a", "k1") == StoredSnapshot("a", 9, "k1", '{"v":9}')
    assert store.read_snapshot("a", "k1", up_to=8) == StoredSnapshot("a", 6, "k1", '{"v":6}')
    assert store.read_snapshot("a", "k1", up_to=6) == StoredSnapshot("a", 6, "k1", '{"v":6}')
    assert store.read_snapshot("a", "k1", up_to=2) is None


def test_snapshots_are_kept_apart_by_stream_and_key(store: EventStore) -> None:
    append(store, "a", 0, new(), new())
    append(store, "b", 0, new(), new())
    store.write_snapshot(StoredSnapshot("a", 2, "old-code", "{}"))

    assert store.read_snapshot("a", "new-code") is None
    assert store.read_snapshot("b", "old-code") is None
    assert store.read_snapshot("nope", "old-code") is None


def test_writing_a_snapshot_twice_keeps_the_first(open_store: StoreFactory) -> None:
    store = open_store()
    append(store, "a", 0, new(), new())
    store.write_snapshot(StoredSnapshot("a", 2, "k", '{"first":true}'))
    store.write_snapshot(StoredSnapshot("a", 2, "k", '{"first":false}'))

    again = open_store()

    assert again.read_snapshot("a", "k") == StoredSnapshot("a", 2, "k", '{"first":true}')
    assert again.read_stream("a") == store.read_stream("a")  # events untouched


def test_a_load_reads_the_latest_snapshot_and_the_events_after_it_together(
    store: EventStore,
) -> None:
    append(store, "a", 0, *[new(n=n) for n in range(10)])
    append(store, "b", 0, new(), new())
    for version in (3, 6):
        store.write_snapshot(StoredSnapshot("a", version, "k1", f'{{"v":{version}}}'))
    store.write_snapshot(StoredSnapshot("a", 9, "old-code", '{"v":9}'))
    store.write_snapshot(StoredSnapshot("b", 2, "k1", '{"v":2}'))

    def versions(found: tuple[StoredSnapshot | None, list[Any]]) -> tuple[int | None, list[int]]:
        snapshot, rows = found
        return (None if snapshot is None else snapshot.version), [row[0] for row in rows]

    # The latest snapshot of this key (not the newer one of other code), then what follows.
    snapshot, rows = store.read_from_snapshot("a", "k1")
    assert snapshot == StoredSnapshot("a", 6, "k1", '{"v":6}')
    assert rows == store.read_stream_data("a", after=6)
    assert versions(store.read_from_snapshot("a", "k1", up_to=8)) == (6, [7, 8])
    assert versions(store.read_from_snapshot("a", "k1", up_to=5)) == (3, [4, 5])
    assert versions(store.read_from_snapshot("a", "k1", up_to=6)) == (6, [])
    # No snapshot of this key at or below: every event from version 1.
    assert versions(store.read_from_snapshot("a", "new-code", up_to=3)) == (None, [1, 2, 3])
    assert versions(store.read_from_snapshot("a", "k1", up_to=2)) == (None, [1, 2])
    # A snapshot with nothing after it; a stream that does not exist.
    assert versions(store.read_from_snapshot("b", "k1")) == (2, [])
    assert store.read_from_snapshot("nope", "k1") == (None, [])


def test_stream_data_is_what_a_replay_needs_of_the_stream(store: EventStore) -> None:
    append(store, "a", 0, new("Opened", n=1), new("Noted", n=2), new("Noted", n=3))
    append(store, "b", 0, new())

    full = store.read_stream("a", after=1, up_to=3)

    assert store.read_stream_data("a", after=1, up_to=3) == [
        (e.version, e.type, e.schema_version, e.data) for e in full
    ]
    assert [row[0] for row in store.read_stream_data("a")] == [1, 2, 3]
    assert store.read_stream_data("nope") == []


# --- SQLite's schema, new and old ----------------------------------------------------------------

# The event tables of a SQLite file made by emit before the head row and the event-id index were
# dropped on SQLite, exactly as that version created them.
_EARLIER_SQLITE_SCHEMA = """
CREATE TABLE emit_streams (
    stream_id VARCHAR(200) NOT NULL, version INTEGER NOT NULL,
    created_at VARCHAR(32) NOT NULL, updated_at VARCHAR(32) NOT NULL, PRIMARY KEY (stream_id)
);
CREATE TABLE emit_events (
    position INTEGER NOT NULL, stream_id VARCHAR(200) NOT NULL, version INTEGER NOT NULL,
    event_id VARCHAR(36) NOT NULL, type VARCHAR(200) NOT NULL, schema_version INTEGER NOT NULL,
    data TEXT NOT NULL, metadata TEXT NOT NULL, recorded_at VARCHAR(32) NOT NULL,
    PRIMARY KEY (position),
    CONSTRAINT emit_events_stream_version UNIQUE (stream_id, version),
    UNIQUE (event_id)
);
CREATE TABLE emit_head (id INTEGER NOT NULL, position BIGINT NOT NULL, PRIMARY KEY (id));
INSERT INTO emit_streams VALUES ('a', 2, '2026-01-01T00:00:00.000000+00:00',
    '2026-01-01T00:00:00.000000+00:00');
INSERT INTO emit_events VALUES
    (1, 'a', 1, '6f1c0c8e-0000-4000-8000-000000000001', 'Happened', 1, '{}', '{}',
     '2026-01-01T00:00:00.000000+00:00'),
    (2, 'a', 2, '6f1c0c8e-0000-4000-8000-000000000002', 'Happened', 1, '{}', '{}',
     '2026-01-01T00:00:00.000000+00:00');
INSERT INTO emit_head VALUES (1, 2);
"""


def test_a_new_sqlite_file_has_no_head_row_and_no_event_id_index(sqlite_url: str) -> None:
    # On SQLite the write lock orders appends, and nothing looks events up by id: both would
    # only cost pages on every commit. (The log is filtered by correlation id: that one stays.)
    store = SqlEventStore(sqlite_url)
    append(store, "a", 0)
    with store.engine.connect() as connection:
        tables = connection.exec_driver_sql("SELECT name FROM sqlite_master WHERE type='table'")
        assert "emit_head" not in set(tables.scalars())
        indexes = connection.exec_driver_sql("PRAGMA index_list('emit_events')").all()
        columns = [
            connection.exec_driver_sql(f"PRAGMA index_info('{index[1]}')").all()
            for index in indexes
        ]
        assert sorted([column[2] for column in index] for index in columns) == [
            ["correlation_id", "position"],
            ["stream_id", "version"],
        ]
    assert store.head_position() == 1
    store.close()


def test_a_sqlite_file_made_by_an_earlier_emit_keeps_working(sqlite_url: str) -> None:
    import sqlite3

    path = sa.make_url(sqlite_url).database
    assert path is not None
    with sqlite3.connect(path) as connection:
        connection.executescript(_EARLIER_SQLITE_SCHEMA)
    connection.close()

    store = SqlEventStore(sqlite_url)
    assert store.head_position() == 2
    append(store, "a", 2)
    append(store, "b", 0, new(), new())
    assert [e.position for e in store.read_all()] == [1, 2, 3, 4, 5]
    assert store.head_position() == 5
    assert [e.version for e in store.read_stream("a")] == [1, 2, 3]
    store.close()

    # Its old head row is left alone and no longer read: the events are the truth.
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT position FROM emit_head").fetchall() == [(2,)]
    connection.close()


# --- idempotency keys ---------------------------------------------------------------------------


def test_a_command_key_is_recorded_with_its_events(open_store: StoreFactory) -> None:
    store = open_store()
    append(store, "a", 0)
    key = CommandKey("k1", "f" * 64)
    append_one(store, AppendRequest("a", 1, [new(), new()], command_key=key))
    for reader in (store, open_store()):  # and read back by another store on the same data
        assert reader.find_command("a", "k1") == StoredCommand("a", "k1", "f" * 64, 2, 3)
        assert reader.find_command("a", "k2") is None
        assert reader.find_command("b", "k1") is None


@pytest.mark.parametrize("batch", [1, 3])
def test_a_recorded_key_keeps_a_request_out_even_with_a_resolver(
    store: EventStore, batch: int
) -> None:
    """Checked while the request holds the stream: a repeat racing its original finds the
    original's key, and its resolver is never asked."""
    append(store, "a", 0)
    key = CommandKey("k1", "f" * 64)
    append_one(store, AppendRequest("a", 1, [new()], command_key=key))
    asked: list[object] = []

    def resolve(newer: object) -> list[NewEvent]:
        asked.append(newer)
        return [new()]

    others = [AppendRequest(f"other{n}", 0, [new()]) for n in range(batch - 1)]
    repeat = AppendRequest("a", 1, [new()], resolve=resolve, command_key=key)
    results = store.append_many([*others, repeat])
    assert isinstance(results[-1], CommandAlreadyRecorded)
    assert results[-1].command == StoredCommand("a", "k1", "f" * 64, 2, 2)
    assert all(isinstance(r, list) and r for r in results[:-1])
    assert asked == []
    assert store.stream_version("a") == 2
