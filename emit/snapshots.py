"""Snapshots: an aggregate's state stored every so many events, so nothing replays from version 1.

With `Emit(..., snapshot_every=N)`, a command that carries an aggregate across a multiple of N
versions stores the state right after it, and so does a cold load that replayed across one.
Loading an aggregate or replaying it to a version (`state_at`) then starts from the latest
snapshot at or below that version and applies only the events after it: fewer than N, however
long the history. The result is the same state a full replay gives, because a snapshot is the
exact state at its version, and it is used only by the code that wrote it.

"The code that wrote it" is a key: a hash of the decider's name, its initial state, the schema
versions of its events, the source of the modules that define `evolve`, the state type and the
event types, and `snapshot_version`. Edit any of those and the old snapshots are simply not read
any more (the state is replayed from the events and snapshotted afresh). If `evolve` depends on
code elsewhere, bump `snapshot_version` when that code changes what states look like.

A snapshot is a cache, not a record: it is written after the command's transaction, a failure to
write one is logged and ignored, and one that cannot be decoded is skipped.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import marshal
from typing import Any, Generic, TypeVar

from emit.codec import CodecError, check_storable, json_decoder, to_typed_json
from emit.decider import Decider
from emit.store import EventStore, StoredSnapshot

S = TypeVar("S")

log = logging.getLogger("emit")


class Snapshots(Generic[S]):
    """When to snapshot an aggregate of `decider`, and how to write and read its snapshots.

    Raises `ValueError` for an interval below 1, and `CodecError` (at set-up, not on the first
    snapshot) if the state is not a dataclass emit can store.
    """

    def __init__(self, decider: Decider[Any, Any, S], every: int, version: str | int = 0) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"snapshot_every must be a whole number of events, not {every!r}.")
        state_type: Any = type(decider.initial_state)
        try:
            check_storable(state_type)
        except CodecError as error:
            raise CodecError(
                f"Snapshots of {decider.name!r} cannot store its state: {error}"
            ) from None
        self.every = every
        self.key = code_key(decider, version)
        self._decode = json_decoder(state_type)

    def due(self, before: int, after: int) -> bool:
        """True when going from version `before` to `after` crosses a multiple of the interval."""
        return before // self.every != after // self.every

    def write(self, store: EventStore, aggregate_id: str, version: int, state: S) -> None:
        """Store the state at `version`; a failure is logged, never raised: the events are safe."""
        try:
            text = to_typed_json(state)
            store.write_snapshot(StoredSnapshot(aggregate_id, version, self.key, text))
        except Exception:
            log.warning("could not snapshot %s at version %d", aggregate_id, version, exc_info=True)

    def read(
        self, store: EventStore, aggregate_id: str, up_to: int | None = None
    ) -> tuple[int, S] | None:
        """`(version, state)` of the latest usable snapshot at or below `up_to`, or None."""
        snapshot = store.read_snapshot(aggregate_id, self.key, up_to=up_to)
        return None if snapshot is None else self.decode(snapshot)

    def decode(self, snapshot: StoredSnapshot) -> tuple[int, S] | None:
        """`(version, state)` of a snapshot read with this key; None (and a warning logged) if
        it does not decode."""
        try:
            return snapshot.version, self._decode(snapshot.state)
        except (CodecError, ValueError, TypeError):
            log.warning(
                "ignoring a snapshot of %s at version %d that does not decode",
                snapshot.stream_id,
                snapshot.version,
                exc_info=True,
            )
            return None


def code_key(decider: Decider[Any, Any, Any], version: str | int = 0) -> str:
    """A short hash of everything that decides what a state looks like (see the module doc)."""
    parts: list[bytes] = [
        decider.name.encode(),
        repr(decider.initial_state).encode(),
        repr(sorted(decider.schema_versions.items())).encode(),
        str(version).encode(),
    ]
    sources: dict[str, bytes] = {}
    for thing in (decider.evolve, type(decider.initial_state), *decider.events):
        module = inspect.getmodule(thing)
        try:
            if module is not None and module.__name__ not in sources:
                sources[module.__name__] = inspect.getsource(module).encode()
        except (OSError, TypeError):  # no source file: a notebook cell, a frozen module
            module = None
        if module is None:
            parts.append(_code_of(thing))
    parts.extend(sources[name] for name in sorted(sources))
    return hashlib.sha256(b"\0".join(parts)).hexdigest()[:32]


def _code_of(thing: Any) -> bytes:
    code = getattr(thing, "__code__", None)
    if code is not None:
        return marshal.dumps(code)
    return f"{getattr(thing, '__qualname__', '')}{getattr(thing, '__annotations__', '')}".encode()
