"""Metrics: what an `Emit` has done since it started, counted as it happens.

The recorder is an `Observer` that `Emit` always runs first. Counting is plain integer arithmetic
on the thread that did the work, with no lock, because a lock per command would cost more than
the counting: two threads switching inside one `+=` can, rarely, lose an increment. The figures
are for watching a system, not for accounting. Timings go into power-of-two buckets (1
microsecond, 2, 4, ...), which give percentiles within a factor of two for the price of a shift.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from emit.observers import Observer

if TYPE_CHECKING:
    from emit.errors import CommandRejected
    from emit.pool import AggregatePool
    from emit.recorded import Aggregate, CommandResult, RecordedEvent

_BUCKETS = 32  # bucket i counts durations below 2**i microseconds; the last takes the rest


@dataclass(frozen=True, slots=True)
class Timing:
    """How many times something happened and how long it took (nanoseconds)."""

    count: int = 0
    total_ns: int = 0
    max_ns: int = 0
    buckets: tuple[int, ...] = field(default=(0,) * _BUCKETS, repr=False)

    @property
    def mean_ms(self) -> float:
        return self.total_ns / self.count / 1e6 if self.count else 0.0

    @property
    def max_ms(self) -> float:
        return self.max_ns / 1e6

    def percentile_ms(self, fraction: float) -> float:
        """An upper bound, within a factor of two, on the duration that `fraction` (0.5, 0.99)
        of the occurrences did not exceed; 0 when nothing happened."""
        if not 0 < fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], not {fraction}.")
        if not self.count:
            return 0.0
        wanted = fraction * self.count
        seen = 0
        for index, count in enumerate(self.buckets):
            seen += count
            if seen >= wanted:
                return min((1 << index) / 1000, self.max_ms)
        return self.max_ms

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "mean_ms": round(self.mean_ms, 3),
            "p50_ms": round(self.percentile_ms(0.5), 3),
            "p99_ms": round(self.percentile_ms(0.99), 3),
            "max_ms": round(self.max_ms, 3),
        }


@dataclass(frozen=True, slots=True)
class Metrics:
    """A snapshot of an `Emit`'s counters (since it was made) and of its subscribers' lag.

    `subscriber_lag` maps each projection and policy of the store's database to how many
    events it is behind the head; it is read from the database, so it covers subscribers run
    by other processes too.
    """

    commands_handled: Timing
    commands_rejected: Timing
    commands_failed: int
    events_appended: int
    conflicts_retried: int
    aggregates_loaded: Timing
    pool_hits: int
    pool_misses: int
    pool_evictions: int
    pool_size: int
    pool_capacity: int
    head_position: int
    subscriber_lag: Mapping[str, int]

    def to_dict(self) -> dict[str, Any]:
        """Plain values, for JSON or a template."""
        return {
            "commands_handled": self.commands_handled.to_dict(),
            "commands_rejected": self.commands_rejected.to_dict(),
            "commands_failed": self.commands_failed,
            "events_appended": self.events_appended,
            "conflicts_retried": self.conflicts_retried,
            "aggregates_loaded": self.aggregates_loaded.to_dict(),
            "pool_hits": self.pool_hits,
            "pool_misses": self.pool_misses,
            "pool_evictions": self.pool_evictions,
            "pool_size": self.pool_size,
            "pool_capacity": self.pool_capacity,
            "head_position": self.head_position,
            "subscriber_lag": dict(self.subscriber_lag),
        }


class _Timer:
    __slots__ = ("buckets", "count", "max_ns", "total_ns")

    def __init__(self) -> None:
        self.count = 0
        self.total_ns = 0
        self.max_ns = 0
        self.buckets = [0] * _BUCKETS

    def record(self, duration_ns: int) -> None:
        self.count += 1
        self.total_ns += duration_ns
        if duration_ns > self.max_ns:
            self.max_ns = duration_ns
        self.buckets[min((duration_ns // 1000).bit_length(), _BUCKETS - 1)] += 1

    def snapshot(self) -> Timing:
        return Timing(self.count, self.total_ns, self.max_ns, tuple(self.buckets))


class MetricsRecorder(Observer):
    """Counts commands, events, conflicts and loads; `Emit.metrics()` reads it."""

    def __init__(self) -> None:
        self.handled = _Timer()
        self.rejected = _Timer()
        self.loaded = _Timer()
        self.failed = 0
        self.appended = 0
        self.conflicts = 0

    def command_handled(
        self, aggregate_id: str, command: object, result: CommandResult[Any, Any], duration_ns: int
    ) -> None:
        self.handled.record(duration_ns)

    def command_rejected(
        self, aggregate_id: str, command: object, rejection: CommandRejected, duration_ns: int
    ) -> None:
        self.rejected.record(duration_ns)

    def command_failed(
        self, aggregate_id: str, command: object, error: Exception, duration_ns: int
    ) -> None:
        self.failed += 1

    def events_appended(self, events: Sequence[RecordedEvent[Any]]) -> None:
        self.appended += len(events)

    def conflict_retried(self, aggregate_id: str, expected_version: int, attempt: int) -> None:
        self.conflicts += 1

    def aggregate_loaded(self, aggregate: Aggregate[Any], duration_ns: int) -> None:
        self.loaded.record(duration_ns)

    def snapshot(
        self, pool: AggregatePool[Any], head_position: int, subscriber_lag: Mapping[str, int]
    ) -> Metrics:
        return Metrics(
            commands_handled=self.handled.snapshot(),
            commands_rejected=self.rejected.snapshot(),
            commands_failed=self.failed,
            events_appended=self.appended,
            conflicts_retried=self.conflicts,
            aggregates_loaded=self.loaded.snapshot(),
            pool_hits=pool.hits,
            pool_misses=pool.misses,
            pool_evictions=pool.evictions,
            pool_size=len(pool),
            pool_capacity=pool.size,
            head_position=head_position,
            subscriber_lag=subscriber_lag,
        )
