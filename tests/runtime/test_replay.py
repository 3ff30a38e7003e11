"""Replaying a stream to any version, checked as a property: for random cart command sequences,
the state at version v is the fold of the first v events, is the live state emit answered right
after the command that made version v, and is what the history page folds (`CartTimeline`).
Replays leave the live aggregate in the pool alone. On the in-memory store and a SQLite file."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emit import CommandRejected, Emit, EventStore, InMemoryEventStore, SqlEventStore
from shop.cart import (
    AddItem,
    Cart,
    CartCommand,
    CartEvent,
    ChangeQuantity,
    CheckOut,
    RemoveLine,
    cart_decider,
)
from webapp.timeline import CartTimeline

CartEmit = Emit[CartCommand, CartEvent, Cart]

# A few products, so commands often meet the lines earlier ones made; quantities reach past the
# limits, so some commands are rejected and record nothing. Some carts end checked out, and one
# command after that (rejected: a checked-out cart accepts no change).
SKUS = st.sampled_from(["BEAN-250", "MUG-TRVL", "TEA-CHAI", "MILK-OAT"])
CHANGES: st.SearchStrategy[CartCommand] = st.one_of(
    st.builds(AddItem, SKUS, st.integers(1, 60)),
    st.builds(AddItem, SKUS, st.integers(1, 60)),  # adding is the common case
    st.builds(ChangeQuantity, SKUS, st.integers(0, 120)),
    st.builds(RemoveLine, SKUS),
)
ENDINGS: st.SearchStrategy[list[CartCommand]] = st.sampled_from(
    [[], [CheckOut()], [CheckOut(), AddItem("BEAN-250")]]
)
SEQUENCES = st.builds(lambda body, end: body + end, st.lists(CHANGES, max_size=20), ENDINGS)


@pytest.fixture(params=["memory", "sqlite"])
def emit(request: pytest.FixtureRequest) -> Iterator[CartEmit]:
    store: EventStore = (
        InMemoryEventStore()
        if request.param == "memory"
        else SqlEventStore(request.getfixturevalue("sqlite_url"))
    )
    with Emit(cart_decider, store=store) as emit:
        yield emit


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(commands=SEQUENCES)
def test_the_state_at_every_version_is_the_one_emit_answered_then(
    emit: CartEmit, commands: list[CartCommand]
) -> None:
    cart_id = f"cart-{uuid.uuid4().hex[:8]}"  # one store per test: a new cart per example
    created = emit.create(cart_id)
    seen: dict[int, Cart] = {created.version: created.state}
    for command in commands:
        try:
            result = emit.handle_command(cart_id, command)
        except CommandRejected:
            continue
        seen[result.version] = result.state
    live = emit.aggregate(cart_id)

    history = emit.history(cart_id)
    timeline = CartTimeline(history)
    assert timeline.latest == live.version == len(history)
    for version in range(live.version + 1):
        folded = cart_decider.fold(cart_decider.initial_state, (r.event for r in history[:version]))
        replayed = emit.state_at(cart_id, version)
        assert replayed == folded == timeline.state(version)
        if version in seen:
            assert replayed == seen[version]
    # Every cart command records at most one event: every version was seen live.
    assert set(seen) == set(range(1, live.version + 1))
    # Replays built their own states: the live aggregate is the very same object.
    assert emit.aggregate(cart_id) is live
