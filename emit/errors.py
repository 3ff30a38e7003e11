"""The errors emit raises. Every one is an `EmitError`, and every message names what it is about:
the aggregate, the projection or policy, the dead letter."""

from __future__ import annotations

import errno
import warnings
from enum import StrEnum


class StorageErrorKind(StrEnum):
    """Why the store failed, as far as the driver's error tells."""

    UNREACHABLE = "unreachable"  # no connection: refused, reset, server gone, file missing
    TIMEOUT = "timeout"  # no answer in time: a statement, a lock, a pooled connection
    FULL = "full"  # the disk or a quota is full
    READ_ONLY = "read-only"  # the database takes no writes (a standby, a read-only file)
    OTHER = "other"


class EmitError(Exception):
    """Base class of every error emit raises on purpose."""


class InvalidAggregateId(EmitError, ValueError):
    """An aggregate id that is empty, too long, or not a string."""

    def __init__(self, aggregate_id: object, reason: str) -> None:
        self.aggregate_id = aggregate_id
        self.reason = reason
        super().__init__(f"Invalid aggregate id {aggregate_id!r}: {reason}.")


class AggregateNotFound(EmitError, LookupError):
    """No aggregate was ever created under this id."""

    def __init__(self, aggregate_id: str) -> None:
        self.aggregate_id = aggregate_id
        super().__init__(f"Aggregate {aggregate_id!r} does not exist.")


class AggregateAlreadyExists(EmitError):
    """`create` was asked for an id that is taken."""

    def __init__(self, aggregate_id: str) -> None:
        self.aggregate_id = aggregate_id
        super().__init__(f"Aggregate {aggregate_id!r} already exists.")


class CommandRejected(EmitError):
    """Raised by a decider's `decide` to refuse a command; nothing is recorded.

    `reason` is meant for the person who sent the command. `Emit` fills in `aggregate_id`,
    `command` and `version` (the aggregate's version the command was decided on, always the
    latest stored) on the way out, so a decider only has to say why.
    """

    def __init__(self, reason: str, *, aggregate_id: str | None = None) -> None:
        self.reason = reason
        self.aggregate_id = aggregate_id
        self.command: object | None = None
        self.version: int | None = None
        super().__init__(reason)

    def __str__(self) -> str:
        if self.aggregate_id is None:
            return self.reason
        return f"Aggregate {self.aggregate_id!r} rejected the command: {self.reason}"


class ConcurrencyError(EmitError):
    """An append expected a stream version that another writer has already moved past.

    Nothing of the rejected append was stored. `Emit` catches this itself and retries on fresh
    state; callers see it only when the retries run out.
    """

    def __init__(
        self, aggregate_id: str, expected_version: int, actual_version: int | None
    ) -> None:
        self.aggregate_id = aggregate_id
        self.expected_version = expected_version
        self.actual_version = actual_version
        actual = "unknown" if actual_version is None else str(actual_version)
        super().__init__(
            f"Aggregate {aggregate_id!r} was changed by another writer: expected version "
            f"{expected_version}, found {actual}."
        )


class WrongExpectedVersion(ConcurrencyError):
    """A command sent with `expected_version` found the aggregate at another version in the
    store: the caller decided on a state that is no longer the latest. Nothing was stored and
    the command was not decided again; show the caller the fresh state and let them choose."""

    def __init__(self, aggregate_id: str, expected_version: int, actual_version: int) -> None:
        EmitError.__init__(
            self,
            f"Aggregate {aggregate_id!r} is at version {actual_version}, not at the expected "
            f"version {expected_version}: it changed since the caller looked. Nothing was stored.",
        )
        self.aggregate_id = aggregate_id
        self.expected_version = expected_version
        self.actual_version: int = actual_version


class IdempotencyKeyReused(EmitError, ValueError):
    """An idempotency key already recorded for an aggregate came with a different command: a
    key names one command, so a new command needs a new key. Nothing was decided or stored."""

    def __init__(self, aggregate_id: str, key: str, first_command: str, command: str) -> None:
        self.aggregate_id = aggregate_id
        self.key = key
        super().__init__(
            f"Idempotency key {key!r} of aggregate {aggregate_id!r} was first used for "
            f"another command ({first_command}); it came again with {command}. Send a new "
            "command with a new key."
        )


class InvalidIdempotencyKey(EmitError, ValueError):
    """An idempotency key that is not a non-empty string of at most 200 characters."""

    def __init__(self, key: object, reason: str) -> None:
        self.key = key
        super().__init__(f"Invalid idempotency key {key!r}: {reason}.")


class VersionOutOfRange(EmitError, ValueError):
    """A replay (or a fork) asked for a version the aggregate does not have. `lowest` is the
    first version the caller could ask for (0 for a replay, 1 for a fork)."""

    def __init__(
        self, aggregate_id: str, version: int, latest: int, *, lowest: int = 0, purpose: str = ""
    ) -> None:
        self.aggregate_id = aggregate_id
        self.version = version
        self.latest = latest
        purpose = f" {purpose}" if purpose else ""
        super().__init__(
            f"Aggregate {aggregate_id!r} has versions {lowest} to {latest}{purpose}; version "
            f"{version} is out of range."
        )


class EventDecodeError(EmitError):
    """A stored event could not be turned back into an event object.

    Raised instead of building a silently wrong state: the type is unknown to the decider, or
    its data does not fit the event's fields.
    """

    def __init__(self, aggregate_id: str, version: int, type_name: str, reason: str) -> None:
        self.aggregate_id = aggregate_id
        self.version = version
        self.type_name = type_name
        self.reason = reason
        super().__init__(
            f"Cannot decode event {type_name!r} at version {version} of aggregate "
            f"{aggregate_id!r}: {reason}"
        )


# What the operating system's error numbers mean for a store.
ERRNO_KINDS = {
    errno.ENOSPC: StorageErrorKind.FULL,
    errno.EDQUOT: StorageErrorKind.FULL,
    errno.EROFS: StorageErrorKind.READ_ONLY,
}


def python_kind(error: BaseException) -> StorageErrorKind:
    """What Python's own errors, in `error` and what it was raised from, say of a failure: no
    answer in time, no connection, a full or read-only disk; `OTHER` when they say none."""
    link: BaseException | None = error
    while link is not None:
        if isinstance(link, TimeoutError):
            return StorageErrorKind.TIMEOUT
        if isinstance(link, OSError) and link.errno in ERRNO_KINDS:
            return ERRNO_KINDS[link.errno]
        if isinstance(link, ConnectionError):
            return StorageErrorKind.UNREACHABLE
        link = link.__cause__
    return StorageErrorKind.OTHER


class StorageError(EmitError):
    """The event store failed; `operation` says what it was doing, `__cause__` holds the driver's
    error and `kind` (a `StorageErrorKind`) what it means: the database is unreachable, did not
    answer in time, is full, is read-only, or other.

    `maybe_stored` is true when the failure came after the store was asked to commit (the
    commit's answer was lost, the connection died while it ran): the command may have been
    stored. Otherwise nothing was. Either way, sending the command again with the same
    `idempotency_key` is safe: a stored one is answered as the first time, not stored twice."""

    def __init__(
        self,
        operation: str,
        aggregate_id: str | None,
        cause: BaseException,
        *,
        kind: StorageErrorKind | None = None,
        maybe_stored: bool = False,
    ) -> None:
        self.operation = operation
        self.aggregate_id = aggregate_id
        self.maybe_stored = maybe_stored
        # What a driver's words mean is the store's knowledge: the SQL store says it
        # (emit/sql/errors.py `storage_error`). Without it, Python's own errors still tell.
        self.kind = kind if kind is not None else python_kind(cause)
        where = f" for aggregate {aggregate_id!r}" if aggregate_id is not None else ""
        super().__init__(f"Event store failed to {operation}{where}: {cause}")
        self.__cause__ = cause  # also when it is returned as an append's result, not raised


class ProjectionError(EmitError):
    """A projection failed on an event (`__cause__` holds its error). Inline, the command that
    recorded the event fails with it and nothing of the command is stored; in a rebuild, the
    read model is left as it was."""

    def __init__(
        self,
        projection: str,
        aggregate_id: str,
        version: int,
        position: int,
        type_name: str,
        cause: BaseException,
    ) -> None:
        self.projection = projection
        self.aggregate_id = aggregate_id
        self.version = version
        self.position = position
        self.type_name = type_name
        super().__init__(
            f"Projection {projection!r} failed on {type_name} at position {position} "
            f"(aggregate {aggregate_id!r}, version {version}): {type(cause).__name__}: {cause}"
        )


class ProjectionOutOfDate(EmitError):
    """The database's read model of a projection was never installed, is of another revision,
    or is ahead of the log (a process running other projection code writes to the database)."""

    def __init__(self, projection: str, installed: bool = True) -> None:
        self.projection = projection
        if not installed:
            message = (
                f"Projection {projection!r} is not installed in this database: call "
                "emit.projections.install() (the web app's `flask init-db` does)."
            )
        else:
            message = (
                f"Projection {projection!r} in the database does not match this code (it was "
                "built by another revision, or is ahead of the log): is a process with other "
                "code writing? Installing it again (emit.projections.install()) rebuilds it "
                "with this code."
            )
        super().__init__(message)


class UnknownSubscriber(EmitError, LookupError):
    """A projection or policy name that nobody registered."""

    def __init__(self, kind: str, name: str, known: list[str]) -> None:
        self.kind = kind
        self.name = name
        choices = ", ".join(repr(k) for k in known) or "none"
        super().__init__(f"There is no {kind} named {name!r}; known: {choices}.")


class DeadLetterNotFound(EmitError, LookupError):
    """No dead letter has this id: it was never parked, or it was retried or skipped since."""

    def __init__(self, dead_letter_id: int) -> None:
        self.dead_letter_id = dead_letter_id
        super().__init__(
            f"There is no dead letter {dead_letter_id}: it may have been retried or skipped."
        )


class DeadLetterBusy(EmitError):
    """Another thread or process is retrying this dead letter right now."""

    def __init__(self, dead_letter_id: int) -> None:
        self.dead_letter_id = dead_letter_id
        super().__init__(
            f"Dead letter {dead_letter_id} is being retried elsewhere right now; try again soon."
        )


class PolicyFailed(EmitError):
    """A dead letter's retry failed again; it stays parked with the new error and attempts."""

    def __init__(self, policy: str, position: int, error: str) -> None:
        self.policy = policy
        self.position = position
        self.error = error
        super().__init__(
            f"Policy {policy!r} failed again on the event at position {position}: {error}"
        )

    @property
    def subscriber(self) -> str:
        """Deprecated: the old name of `policy`."""
        warnings.warn(
            "PolicyFailed.subscriber is deprecated; use PolicyFailed.policy.",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.policy
