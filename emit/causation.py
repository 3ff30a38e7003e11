"""Why an event happened and what it set off: its command, the other events of that command,
and the tree of what it caused, by correlation and causation ids.

Every event's metadata says what caused it: `causation_id` is the id of the command that
recorded it, or, for a command a policy sent in reaction to an event, that event's id (see
`emit.subscribers.Cause`); `correlation_id` is shared by everything one request set off. So the
events of one correlation (one indexed read of the log) hold the whole tree: an event's
children are the events whose `causation_id` is its id. What a policy did that is not an event
(a row it wrote, a dead letter) is added by the caller's `EffectFinder`s.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from emit.log import LogFilter
from emit.recorded import RecordedEvent

if TYPE_CHECKING:
    from emit.emit import Emit

# Events of one correlation read to build a tree; a larger correlation is cut (`truncated`).
MAX_CORRELATED = 1000


@dataclass(frozen=True, slots=True)
class Effect:
    """Something an event caused that is not an event: "Receipt R-000003 issued", "dead
    letter 7 of policy receipts". `kind` says which sort (a caller links it by `kind` and
    `key`); `label` is the line a person reads; `details` are more lines (attempts, errors);
    `caused` are effects of this effect (the retries of a dead letter, say)."""

    kind: str
    label: str
    key: str = ""
    details: tuple[str, ...] = ()
    caused: tuple[Effect, ...] = ()


# Given an event, what it caused outside the log (none: an empty sequence).
EffectFinder = Callable[[RecordedEvent[Any]], Sequence[Effect]]


@dataclass(frozen=True, slots=True)
class CausationNode:
    """An event, the effects it had outside the log, and the events it caused, each a node."""

    event: RecordedEvent[Any]
    effects: tuple[Effect, ...]
    caused: tuple[CausationNode, ...]

    def walk(self) -> list[CausationNode]:
        """This node and every node under it, depth first."""
        return [self, *(node for child in self.caused for node in child.walk())]


@dataclass(frozen=True, slots=True)
class Causation:
    """One event explained.

    - `command`: the name of the command that recorded it (None if not recorded by a command);
      `command_id`: its causation id when that names a command, not an event;
    - `cause`: the event it was recorded in reaction to (by a policy), if any;
    - `same_command`: every event that command recorded, this one included, in version order
      (same stream, same causation id, consecutive versions);
    - `tree`: this event, and what it caused, recursively;
    - `truncated`: its correlation held more than `MAX_CORRELATED` events: the tree holds
      those of the newest ones only.
    """

    event: RecordedEvent[Any]
    command: str | None
    command_id: str | None
    cause: RecordedEvent[Any] | None
    same_command: tuple[RecordedEvent[Any], ...]
    tree: CausationNode
    truncated: bool


def explain(
    emit: Emit[Any, Any, Any], position: int, *, effects: Sequence[EffectFinder] = ()
) -> Causation | None:
    """The event at `position` explained (see `Causation`); None if there is no such event.
    `effects` are asked, for each event of the tree, what it caused outside the log. Reads the
    event's correlation once (an indexed read), whatever the tree's depth. Raises
    `EventDecodeError`, `StorageError`, and whatever an `EffectFinder` raises."""
    event = emit.event_at(position)
    if event is None:
        return None
    correlation = event.metadata.correlation_id
    related: list[RecordedEvent[Any]] = [event]
    if correlation:
        related = emit.log(LogFilter(correlation_id=correlation), limit=MAX_CORRELATED + 1)
    truncated = len(related) > MAX_CORRELATED
    related = sorted(related[:MAX_CORRELATED], key=lambda e: e.position)
    by_id = {str(e.event_id): e for e in related}
    children: dict[str, list[RecordedEvent[Any]]] = {}
    for other in related:
        causation = other.metadata.causation_id
        if causation is not None and causation != str(other.event_id):
            children.setdefault(causation, []).append(other)
    cause = by_id.get(event.metadata.causation_id or "")
    return Causation(
        event=event,
        command=event.metadata.command,
        command_id=None if cause is not None else event.metadata.causation_id,
        cause=cause,
        same_command=_same_command(event, related),
        tree=_node(event, children, effects, set()),
        truncated=truncated,
    )


def _same_command(
    event: RecordedEvent[Any], related: Sequence[RecordedEvent[Any]]
) -> tuple[RecordedEvent[Any], ...]:
    """The run of consecutive versions of `event`'s stream around it with its causation id."""
    if event.metadata.causation_id is None:
        return (event,)
    versions = {
        e.version: e
        for e in related
        if e.aggregate_id == event.aggregate_id
        and e.metadata.causation_id == event.metadata.causation_id
    }
    versions[event.version] = event
    first = last = event.version
    while first - 1 in versions:
        first -= 1
    while last + 1 in versions:
        last += 1
    return tuple(versions[v] for v in range(first, last + 1))


def _node(
    event: RecordedEvent[Any],
    children: dict[str, list[RecordedEvent[Any]]],
    effects: Sequence[EffectFinder],
    seen: set[int],
) -> CausationNode:
    seen.add(event.position)  # a causation cycle (ids set by hand) ends the branch
    caused = [c for c in children.get(str(event.event_id), []) if c.position not in seen]
    return CausationNode(
        event,
        tuple(effect for find in effects for effect in find(event)),
        tuple(_node(child, children, effects, seen) for child in caused),
    )
