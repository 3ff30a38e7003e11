"""An event store that lives in a Python list: for tests, teaching and throwaway demos.

It keeps every guarantee of the SQL store except durability: it is gone with the process.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from emit.codec import from_json
from emit.errors import ConcurrencyError
from emit.forks import Fork, ForkRecords
from emit.log import NO_FILTER, LogFilter, check_log_page
from emit.refusals import InMemoryRefusalLog
from emit.store import (
    AppendRequest,
    AppendResult,
    CommandAlreadyRecorded,
    EventData,
    StoredCommand,
    StoredEvent,
    StoredSnapshot,
    StreamInfo,
    TransactionHook,
    check_requests,
)


class InMemoryEventStore:
    """A thread-safe, non-durable `EventStore`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._log: list[StoredEvent] = []
        self._streams: dict[str, list[StoredEvent]] = {}
        self._created: dict[str, datetime] = {}
        self._snapshots: dict[tuple[str, str], dict[int, StoredSnapshot]] = {}
        self._commands: dict[tuple[str, str], StoredCommand] = {}
        self.refusals = InMemoryRefusalLog()  # the refused commands (emit/refusals.py)
        self._forks: dict[str, Fork] = {}  # by the fork's id
        self._forks_by_origin: dict[str, list[Fork]] = {}

    def append_many(self, requests: Sequence[AppendRequest]) -> list[AppendResult]:
        check_requests(requests)
        results: list[AppendResult] = []
        moved: set[str] = set()
        with self._lock:
            for request in requests:
                if request.stream_id in moved:  # as in the SQL store: see `EventStore`
                    actual = len(self._streams[request.stream_id])
                    results.append(
                        ConcurrencyError(request.stream_id, request.expected_version, actual)
                    )
                    continue
                result = self._append(request)
                if isinstance(result, list) and result:
                    moved.add(request.stream_id)
                results.append(result)
        return results

    def _append(self, request: AppendRequest) -> AppendResult:
        stream = self._streams.get(request.stream_id, [])
        expected, new_events = request.expected_version, request.events
        key = request.command_key
        if key is not None:
            recorded = self._commands.get((request.stream_id, key.key))
            if recorded is not None:
                return CommandAlreadyRecorded(recorded)
        if len(stream) != expected:
            conflict = ConcurrencyError(request.stream_id, expected, len(stream))
            if request.resolve is None or len(stream) < expected or expected == 0:
                return conflict
            try:
                new_events = request.resolve(stream[expected:])
            except Exception as error:
                return error
            if not new_events:
                return []
            expected = len(stream)
        now = datetime.now(UTC)
        position = len(self._log)
        stored = [
            StoredEvent(
                stream_id=request.stream_id,
                version=expected + offset,
                position=position + offset,
                event_id=event.event_id,
                type=event.type,
                schema_version=event.schema_version,
                data=event.data,
                metadata=event.metadata,
                recorded_at=now,
            )
            for offset, event in enumerate(new_events, start=1)
        ]
        if request.before_commit is not None:
            try:
                request.before_commit(None, stored)
            except Exception as error:
                return error
        if expected == 0:
            self._streams[request.stream_id] = stream
            self._created[request.stream_id] = now
        stream.extend(stored)
        self._log.extend(stored)
        if key is not None:
            self._commands[(request.stream_id, key.key)] = StoredCommand(
                request.stream_id, key.key, key.fingerprint, stored[0].version, stored[-1].version
            )
        return stored

    def read_stream(
        self, stream_id: str, *, after: int = 0, up_to: int | None = None
    ) -> list[StoredEvent]:
        with self._lock:
            stream = self._streams.get(stream_id, [])
            return stream[after:up_to]

    def read_stream_data(
        self, stream_id: str, *, after: int = 0, up_to: int | None = None
    ) -> list[EventData]:
        stored = self.read_stream(stream_id, after=after, up_to=up_to)
        return [(e.version, e.type, e.schema_version, e.data) for e in stored]

    def read_all(self, *, after: int = 0, limit: int | None = None) -> list[StoredEvent]:
        with self._lock:
            end = None if limit is None else after + limit
            return self._log[after:end]

    def read_log(
        self,
        log_filter: LogFilter = NO_FILTER,
        *,
        before: int | None = None,
        after: int | None = None,
        limit: int = 50,
    ) -> list[StoredEvent]:
        check_log_page(before, after, limit)
        with self._lock:
            # Positions are 1, 2, 3 ...: event p sits at index p - 1.
            low = 0 if after is None else min(after, len(self._log))
            high = len(self._log) if before is None else max(low, min(before - 1, len(self._log)))
            window = self._log[low:high]
        if before is None and after is not None:
            found = [e for e in window if self._keeps(log_filter, e)][:limit]
            return found[::-1]
        found = []
        for event in reversed(window):
            if self._keeps(log_filter, event):
                found.append(event)
                if len(found) == limit:
                    break
        return found

    @staticmethod
    def _keeps(log_filter: LogFilter, event: StoredEvent) -> bool:
        correlation = None
        if log_filter.correlation_id is not None:
            correlation = from_json(event.metadata).get("correlation_id")
        return log_filter.keeps(event, correlation)

    def event_at(self, position: int) -> StoredEvent | None:
        with self._lock:
            return self._log[position - 1] if 1 <= position <= len(self._log) else None

    def stream_version(self, stream_id: str) -> int:
        with self._lock:
            return len(self._streams.get(stream_id, ()))

    def list_streams(self, *, after: str | None = None, limit: int = 100) -> list[StreamInfo]:
        with self._lock:
            ids = sorted(i for i in self._streams if after is None or i > after)[:limit]
            return [
                StreamInfo(
                    i, len(self._streams[i]), self._created[i], self._streams[i][-1].recorded_at
                )
                for i in ids
            ]

    def count_streams(self) -> int:
        with self._lock:
            return len(self._streams)

    def head_position(self) -> int:
        with self._lock:
            return len(self._log)

    def find_command(self, stream_id: str, key: str) -> StoredCommand | None:
        with self._lock:
            return self._commands.get((stream_id, key))

    def write_snapshot(self, snapshot: StoredSnapshot) -> None:
        with self._lock:
            versions = self._snapshots.setdefault((snapshot.stream_id, snapshot.key), {})
            versions.setdefault(snapshot.version, snapshot)

    def read_snapshot(
        self, stream_id: str, key: str, *, up_to: int | None = None
    ) -> StoredSnapshot | None:
        with self._lock:
            versions = self._snapshots.get((stream_id, key), {})
            eligible = [v for v in versions if up_to is None or v <= up_to]
            return versions[max(eligible)] if eligible else None

    def read_from_snapshot(
        self, stream_id: str, key: str, *, up_to: int | None = None
    ) -> tuple[StoredSnapshot | None, list[EventData]]:
        snapshot = self.read_snapshot(stream_id, key, up_to=up_to)
        after = 0 if snapshot is None else snapshot.version
        # An append in between only adds events after the snapshot, which this read sees.
        return snapshot, self.read_stream_data(stream_id, after=after, up_to=up_to)

    def recording_fork(self, aggregate_id: str, origin_id: str, version: int) -> TransactionHook:
        def record(_: object, stored: Sequence[StoredEvent]) -> None:
            # Hooks run inside `append_many`, which holds the lock already, and last: once this
            # has run, the events are stored too.
            fork = Fork(aggregate_id, origin_id, version, stored[0].recorded_at)
            self._forks[aggregate_id] = fork
            self._forks_by_origin.setdefault(origin_id, []).append(fork)

        return record

    def fork_of(self, aggregate_id: str) -> Fork | None:
        with self._lock:
            return self._forks.get(aggregate_id)

    def forks_of(self, aggregate_id: str) -> list[Fork]:
        with self._lock:
            return list(self._forks_by_origin.get(aggregate_id, ()))

    def close(self) -> None:
        """Nothing to release; the events stay readable."""


if TYPE_CHECKING:  # mypy checks that the store has the capability `Emit.fork` needs
    _capable: type[ForkRecords] = InMemoryEventStore
