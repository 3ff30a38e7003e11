"""A policy's failures on one event, as effects in that event's causation tree
(emit/causation.py): each dead letter of the event, and a retry under way.

A retry under way is not stored per event: a failing policy's checkpoint holds its attempts so
far, its last error and when it tries next, and the event it is stuck on is the first it wants
after its checkpoint. So an event is being retried by a policy whose checkpoint has failed
attempts, that wants the event, and that wants nothing between its checkpoint and the event.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from emit.causation import Effect
from emit.log import LogFilter
from emit.recorded import RecordedEvent
from emit.store import EventStore
from emit.subscribers.checkpoints import Checkpoint
from emit.subscribers.dead_letters import DeadLetters
from emit.subscribers.policies import Policy


def failures_on(
    event: RecordedEvent[Any],
    policies: Sequence[Policy[Any]],
    checkpoints: Sequence[Checkpoint],
    dead_letters: DeadLetters,
    store: EventStore,
) -> list[Effect]:
    """The effects `policies` left on `event`: kind "dead letter" (key: its id; the attempts in
    the label, the error and whether someone is retrying it now in the details), then kind
    "retry" (key: the policy's name; the attempts so far and the next try in the label, the
    last error in the details)."""
    names = {policy.name for policy in policies}
    found = [
        Effect(
            "dead letter",
            f"Dead letter {letter.id} of policy {letter.policy}: gave up after "
            f"{letter.attempts} attempts",
            str(letter.id),
            (letter.error, "being retried now" if letter.being_retried else "parked"),
        )
        for letter in dead_letters.at(event.position)
        if letter.policy in names
    ]
    by_name = {policy.name: policy for policy in policies}
    for checkpoint in checkpoints:
        policy = by_name.get(checkpoint.name)
        if policy is None or not checkpoint.attempts or checkpoint.position >= event.position:
            continue
        if not policy.wants(event.type) or _wants_one_before(policy, checkpoint, event, store):
            continue
        when = "" if checkpoint.retry_at is None else f", next at {checkpoint.retry_at:%H:%M:%S}"
        found.append(
            Effect(
                "retry",
                f"Policy {policy.name} failed {checkpoint.attempts} time(s) and will try "
                f"again{when}",
                policy.name,
                (checkpoint.last_error or "",),
            )
        )
    return found


def _wants_one_before(
    policy: Policy[Any], checkpoint: Checkpoint, event: RecordedEvent[Any], store: EventStore
) -> bool:
    """Whether `policy` wants an event between its checkpoint and `event`: then that one, not
    `event`, is what it is stuck on."""
    types = () if policy.types is None else [t.__name__ for t in policy.types]
    between = LogFilter(types)
    return bool(store.read_log(between, after=checkpoint.position, before=event.position, limit=1))
