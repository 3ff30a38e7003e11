"""Given/when/then for deciders: a domain rule as a test reads like the rule itself.

    given(cart, CartOpened("c1")).when(CheckOut()).then_rejected("empty")
    given(cart, CartOpened("c1"), ItemAdded(...)).when(CheckOut()).then(CartCheckedOut(...))

No storage is involved: the given events are folded into a state with `evolve`, the command is
decided on it, and the outcome is compared. Failures raise `AssertionError` with both sides.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from emit.decider import Decider
from emit.errors import CommandRejected

C = TypeVar("C")
E = TypeVar("E")
S = TypeVar("S")


class Scenario(Generic[C, E, S]):
    def __init__(self, decider: Decider[C, E, S], events: Sequence[E]) -> None:
        self.decider = decider
        self.events = list(events)
        self.state: S = decider.fold(decider.initial_state, self.events)

    def when(self, command: C) -> Outcome[E, S]:
        try:
            produced = list(self.decider.decide(command, self.state))
        except CommandRejected as rejection:
            return Outcome(self.decider, self.state, None, rejection)
        return Outcome(self.decider, self.state, produced, None)


class Outcome(Generic[E, S]):
    def __init__(
        self,
        decider: Decider[Any, E, S],
        state: S,
        events: list[E] | None,
        rejection: CommandRejected | None,
    ) -> None:
        self._decider = decider
        self._state = state
        self.events = events
        self.rejection = rejection

    def then(self, *expected: E) -> S:
        """Assert the command produced exactly `expected`; return the state after them."""
        if self.rejection is not None:
            raise AssertionError(
                f"expected events {list(expected)!r}, but: {self.rejection.reason}"
            )
        if self.events != list(expected):
            raise AssertionError(f"expected events {list(expected)!r}, got {self.events!r}")
        return self._decider.fold(self._state, self.events)

    def then_rejected(self, pattern: str = "") -> str:
        """Assert the command was rejected with a reason matching `pattern`; return the reason."""
        if self.rejection is None:
            raise AssertionError(f"expected a rejection, got events {self.events!r}")
        if not re.search(pattern, self.rejection.reason):
            raise AssertionError(
                f"expected a rejection matching {pattern!r}, got {self.rejection.reason!r}"
            )
        return self.rejection.reason


def given(decider: Decider[C, E, S], *events: E) -> Scenario[C, E, S]:
    """Start a scenario from the state these events build."""
    return Scenario(decider, events)
