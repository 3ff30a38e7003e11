"""Observers: your code, told by `Emit` of what it does (commands, appends, loads, evictions).

Subclass `Observer`, override the methods you care about, and pass instances to
`Emit(observers=[...])` (or `emit.add_observer`). By default `Emit` has one `LoggingObserver`;
pass `observers=[]` for silence or a list of your own to replace it. (The word is "observer",
not "handler": a command handler decides; an observer only hears of it. `Handler`,
`LoggingHandler`, `handlers=` and `add_handler` are the old names, kept as deprecated aliases.)

An observer is called after the fact, in the thread that did the work: after the commit for
`events_appended` and `command_handled`, outside the aggregate's lock except for
`conflict_retried` and `aggregate_loaded`. It must be quick and thread safe. What it raises is
logged and swallowed: the command has already happened, and its caller must not be told
otherwise.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from emit.errors import CommandRejected, WrongExpectedVersion

if TYPE_CHECKING:
    from emit.recorded import Aggregate, CommandResult, RecordedEvent

log = logging.getLogger("emit")


class Observer:
    """Does nothing on every occasion; override the methods you need. Durations are in
    nanoseconds (`time.perf_counter_ns`)."""

    def command_handled(
        self, aggregate_id: str, command: object, result: CommandResult[Any, Any], duration_ns: int
    ) -> None:
        """A command was decided and its events (possibly none) are durably stored."""

    def command_rejected(
        self, aggregate_id: str, command: object, rejection: CommandRejected, duration_ns: int
    ) -> None:
        """The decider refused a command; nothing was stored."""

    def command_failed(
        self, aggregate_id: str, command: object, error: Exception, duration_ns: int
    ) -> None:
        """A command failed for another reason: an unknown aggregate, the store, a projection."""

    def events_appended(self, events: Sequence[RecordedEvent[Any]]) -> None:
        """Events of one aggregate were durably stored (by `create` or a command)."""

    def conflict_retried(self, aggregate_id: str, expected_version: int, attempt: int) -> None:
        """Another writer stored events first: the command was decided again on the fresh state
        (by the store, inside the append) or is about to be (after catching up)."""

    def aggregate_loaded(self, aggregate: Aggregate[Any], duration_ns: int) -> None:
        """An aggregate not in the pool was rebuilt from its events."""

    def aggregate_evicted(self, aggregate: Aggregate[Any], reason: str) -> None:
        """The pool let an aggregate go: "capacity", "idle", "discarded" (after a failure) or
        "requested" (`Emit.evict`)."""


class LoggingObserver(Observer):
    """One structured line per thing that happens, in logfmt (`key=value`), to `logger`.

    Each record also carries the fields as a dict in `record.emit`, for JSON formatters. All is
    logged at `level` except failures, which are at least warnings: a rejection is the domain
    doing its job, a failure is not.
    """

    def __init__(self, logger: logging.Logger | str = "emit", level: int = logging.INFO) -> None:
        self.logger = logging.getLogger(logger) if isinstance(logger, str) else logger
        self.level = level

    def command_handled(
        self, aggregate_id: str, command: object, result: CommandResult[Any, Any], duration_ns: int
    ) -> None:
        if not self.logger.isEnabledFor(self.level):
            return
        self._log(
            self.level,
            "command handled",
            aggregate=aggregate_id,
            command=type(command).__name__,
            version=result.version,
            events=len(result.events),
            ms=_ms(duration_ns),
        )

    def command_rejected(
        self, aggregate_id: str, command: object, rejection: CommandRejected, duration_ns: int
    ) -> None:
        if not self.logger.isEnabledFor(self.level):
            return
        self._log(
            self.level,
            "command rejected",
            aggregate=aggregate_id,
            command=type(command).__name__,
            reason=rejection.reason,
            ms=_ms(duration_ns),
        )

    def command_failed(
        self, aggregate_id: str, command: object, error: Exception, duration_ns: int
    ) -> None:
        # A caller's stale view is an expected outcome, like a rejection; the rest is trouble.
        stale = isinstance(error, WrongExpectedVersion)
        level = self.level if stale else max(self.level, logging.WARNING)
        if not self.logger.isEnabledFor(level):
            return
        self._log(
            level,
            "command refused as stale" if stale else "command failed",
            aggregate=aggregate_id,
            command=type(command).__name__,
            error=f"{type(error).__name__}: {error}",
            ms=_ms(duration_ns),
        )

    def events_appended(self, events: Sequence[RecordedEvent[Any]]) -> None:
        if not self.logger.isEnabledFor(self.level):
            return
        self._log(
            self.level,
            "events appended",
            aggregate=events[0].aggregate_id,
            versions=f"{events[0].version}-{events[-1].version}",
            positions=f"{events[0].position}-{events[-1].position}",
            types=",".join(e.type for e in events),
        )

    def conflict_retried(self, aggregate_id: str, expected_version: int, attempt: int) -> None:
        if not self.logger.isEnabledFor(self.level):
            return
        self._log(
            self.level,
            "conflict retried",
            aggregate=aggregate_id,
            expected_version=expected_version,
            attempt=attempt,
        )

    def aggregate_loaded(self, aggregate: Aggregate[Any], duration_ns: int) -> None:
        if not self.logger.isEnabledFor(self.level):
            return
        self._log(
            self.level,
            "aggregate loaded",
            aggregate=aggregate.id,
            version=aggregate.version,
            ms=_ms(duration_ns),
        )

    def aggregate_evicted(self, aggregate: Aggregate[Any], reason: str) -> None:
        if not self.logger.isEnabledFor(self.level):
            return
        self._log(
            self.level,
            "aggregate evicted",
            aggregate=aggregate.id,
            version=aggregate.version,
            reason=reason,
        )

    def _log(self, level: int, what: str, **fields: object) -> None:
        # Each caller checks isEnabledFor first: building the fields is the expensive part.
        line = " ".join(f"{key}={_logfmt(value)}" for key, value in fields.items())
        self.logger.log(level, "%s %s", what, line, extra={"emit": {"event": what, **fields}})


class Observers(Observer):
    """Several observers as one: each is called in turn; what one raises is logged, not passed
    on, and does not keep the others from being called. An observer costs nothing for the
    methods it does not override."""

    def __init__(self, observers: Sequence[Observer] = ()) -> None:
        self._set(observers)

    def add(self, observer: Observer) -> None:
        """Tell `observer` too, from now on, after the others."""
        self._set([*self.observers, observer])

    def remove(self, observer: Observer) -> None:
        """Stop telling `observer`; nothing happens if it was not there."""
        self._set([o for o in self.observers if o is not observer])

    def _set(self, observers: Sequence[Observer]) -> None:
        # Built whole and swapped in one assignment each: a thread calling `_each` meanwhile
        # sees the old set of calls or the new one, never half of one.
        calls: dict[str, tuple[Callable[..., None], ...]] = {
            name: tuple(
                getattr(o, name) for o in observers if getattr(type(o), name) is not default
            )
            for name, default in vars(Observer).items()
            if callable(default) and not name.startswith("_")
        }
        self.observers: tuple[Observer, ...] = tuple(observers)
        self._calls = calls

    def command_handled(
        self, aggregate_id: str, command: object, result: CommandResult[Any, Any], duration_ns: int
    ) -> None:
        self._each("command_handled", aggregate_id, command, result, duration_ns)

    def command_rejected(
        self, aggregate_id: str, command: object, rejection: CommandRejected, duration_ns: int
    ) -> None:
        self._each("command_rejected", aggregate_id, command, rejection, duration_ns)

    def command_failed(
        self, aggregate_id: str, command: object, error: Exception, duration_ns: int
    ) -> None:
        self._each("command_failed", aggregate_id, command, error, duration_ns)

    def events_appended(self, events: Sequence[RecordedEvent[Any]]) -> None:
        self._each("events_appended", events)

    def conflict_retried(self, aggregate_id: str, expected_version: int, attempt: int) -> None:
        self._each("conflict_retried", aggregate_id, expected_version, attempt)

    def aggregate_loaded(self, aggregate: Aggregate[Any], duration_ns: int) -> None:
        self._each("aggregate_loaded", aggregate, duration_ns)

    def aggregate_evicted(self, aggregate: Aggregate[Any], reason: str) -> None:
        self._each("aggregate_evicted", aggregate, reason)

    def _each(self, method: str, *args: Any) -> None:
        for call in self._calls[method]:
            try:
                call(*args)
            except Exception:
                log.exception(
                    "Observer %r failed in %s; what it was told about went through.",
                    getattr(call, "__self__", call),
                    method,
                )


def _ms(duration_ns: int) -> str:
    return f"{duration_ns / 1e6:.3f}"


def _logfmt(value: object) -> str:
    text = str(value)
    if text and not any(c in text for c in ' "=\\') and text.isprintable():
        return text
    return json.dumps(text, ensure_ascii=False)


# The old names, from when observers were "handlers" (emit/handlers.py): still importable.
_OLD_NAMES = {"Handler": "Observer", "LoggingHandler": "LoggingObserver", "Handlers": "Observers"}


def __getattr__(name: str) -> Any:
    if name in _OLD_NAMES:
        new = _OLD_NAMES[name]
        warnings.warn(f"{name} is deprecated; use {new}.", DeprecationWarning, stacklevel=2)
        return globals()[new]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
