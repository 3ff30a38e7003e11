"""Refused commands, kept in a bounded log beside the events: which stream, what was asked (the
command's type and fields), why it was refused, on which version, when, and the correlation id
of the request that sent it.

A refusal is not an event: it changed nothing, has no version and no position, and no replay,
projection or policy ever sees it. The log is for people asking "why was my command refused?"
after the moment has passed.

What a caller may rely on:
- Best effort: `Emit` records a refusal after the command was finally rejected and its
  aggregate let go; if recording fails, that is logged and the caller still gets its
  `CommandRejected`, as without a log. A command that is accepted never touches the log.
- Bounded: recording with `keep=N` leaves at most the N newest refusals (ids are never reused,
  and the oldest go first), so the log never grows past `Emit(refusal_retention=N)`.
- Ids grow with each refusal recorded: `read(before=id)` pages from the newest back (keyset).

`InMemoryRefusalLog` is the in-memory store's; the SQL store's is emit/sql/refusals.py, in the
table `emit_refusals` of the events' database. A store offers its log through the
`RefusalLogStore` capability.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from emit.codec import from_json, to_json
from emit.errors import CommandRejected

log = logging.getLogger("emit")

DEFAULT_RETENTION = 10_000


@dataclass(frozen=True, slots=True)
class NewRefusal:
    """A refusal on its way into the log: the command's fields already JSON text."""

    stream_id: str
    command: str  # the command type's name
    data: str  # the command's fields, as JSON text ("null" if they could not be written)
    reason: str  # `CommandRejected.reason`
    version: int  # the stream's version the command was decided on
    correlation_id: str


@dataclass(frozen=True, slots=True)
class Refusal:
    """A refused command as the log keeps it; `refused_at` is by the database's clock."""

    id: int
    stream_id: str
    command: str
    data: str
    reason: str
    version: int
    correlation_id: str
    refused_at: datetime

    @property
    def fields(self) -> Any:
        """The command's fields (a dict for a dataclass command), None if not recorded."""
        return from_json(self.data)


class RefusalLog(Protocol):
    """Where refusals are kept. Every implementation passes the same contract tests
    (tests/store/test_refusals.py)."""

    def record(self, refusal: NewRefusal, *, keep: int) -> int:
        """Keep `refusal`, then drop all but the `keep` newest (`keep` >= 1); its id. Raises
        `StorageError` when the database fails."""
        ...

    def read(
        self,
        *,
        before: int | None = None,
        stream_id: str | None = None,
        versions: tuple[int, int] | None = None,
        limit: int = 50,
    ) -> list[Refusal]:
        """Up to `limit` refusals, newest first: those with an id below `before` if given, of
        one stream if `stream_id` is given, decided on a version from `versions[0]` to
        `versions[1]` (both included) if given."""
        ...

    def count(self, *, stream_id: str | None = None) -> int:
        """How many refusals the log holds (of one stream if given); never more than the
        retention, so it is cheap."""
        ...


@runtime_checkable
class RefusalLogStore(Protocol):
    """An event store that keeps a refusal log beside its events (`InMemoryEventStore` and
    `SqlEventStore` do). Ask with `isinstance(store, RefusalLogStore)`."""

    @property
    def refusals(self) -> RefusalLog: ...


class InMemoryRefusalLog:
    """A thread-safe, non-durable `RefusalLog`, for the in-memory store."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: deque[Refusal] = deque()  # oldest first
        self._last_id = 0

    def record(self, refusal: NewRefusal, *, keep: int) -> int:
        check_keep(keep)
        with self._lock:
            self._last_id += 1
            self._kept.append(
                Refusal(
                    self._last_id,
                    refusal.stream_id,
                    refusal.command,
                    refusal.data,
                    refusal.reason,
                    refusal.version,
                    refusal.correlation_id,
                    datetime.now(UTC),
                )
            )
            while len(self._kept) > keep:
                self._kept.popleft()
            return self._last_id

    def read(
        self,
        *,
        before: int | None = None,
        stream_id: str | None = None,
        versions: tuple[int, int] | None = None,
        limit: int = 50,
    ) -> list[Refusal]:
        with self._lock:
            found: list[Refusal] = []
            for refusal in reversed(self._kept):
                if len(found) == limit:
                    break
                if before is not None and refusal.id >= before:
                    continue
                if stream_id is not None and refusal.stream_id != stream_id:
                    continue
                if versions is None or versions[0] <= refusal.version <= versions[1]:
                    found.append(refusal)
            return found

    def count(self, *, stream_id: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self._kept if stream_id is None or r.stream_id == stream_id)


def check_keep(keep: int) -> None:
    if keep < 1:
        raise ValueError(f"A refusal log keeps at least one refusal, not {keep}.")


class RefusalRecorder:
    """What `Emit` does with each command finally rejected: keep it in `log`, at most the
    `retention` newest, and never let a failure to do so reach the caller."""

    def __init__(self, log: RefusalLog, retention: int) -> None:
        check_keep(retention)
        self.log = log
        self.retention = retention

    def refused(
        self, stream_id: str, command: object, rejection: CommandRejected, correlation_id: str
    ) -> None:
        """Record the refusal; what goes wrong is logged, not raised: the command was refused
        all the same, and its sender must hear why, not of our log."""
        try:
            self.log.record(
                NewRefusal(
                    stream_id,
                    type(command).__name__,
                    _fields(command),
                    rejection.reason,
                    rejection.version or 0,  # always set by `Emit`
                    correlation_id,
                ),
                keep=self.retention,
            )
        except Exception:
            log.exception(
                "Could not record the refusal of %s on %r; it was refused all the same.",
                type(command).__name__,
                stream_id,
            )


def _fields(command: object) -> str:
    try:
        return to_json(command)
    except TypeError:  # a command whose fields JSON cannot hold: the rest is still worth keeping
        return "null"
