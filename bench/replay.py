"""W2 and W3: one cart with a long history, loaded cold and replayed to a past version.

Both sides record the same commands (`workload.long_cart`), one event each, through their
public APIs; that is untimed. W2 times a cold load by a fresh instance with nothing cached and
no snapshots: a pure replay, in events per second. W3 times the state at the middle version,
each side at its best (emit's `state_at` with snapshots; the peer's `repository.get(version=)`
with and without its snapshots). Each timed call is repeated and the fastest repeat counts (the
median is kept in the notes); every result is compared with the expected state.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from bench import peer
from bench.commands import open_emit
from bench.workload import CartLines, emit_lines, long_cart, long_cart_expected
from emit import Emit
from shop.cart import AddItem, ChangeQuantity, RemoveLine, cart_decider

CART_ID = "cart-long"


@dataclass
class Timing:
    seconds: float  # the fastest repeat: the one least disturbed by the rest of the machine
    median: float
    repeats: int


@dataclass
class Probe:
    """One timed call of one side, the check of its result, and what to close afterwards."""

    call: Callable[[], CartLines]
    expected: CartLines
    close: Callable[[], None]


def race(probes: dict[str, Probe], repeats: int) -> dict[str, Timing]:
    """Call every probe `repeats` times, taking turns (emit, peer, emit, peer, ...) so that a
    disturbance from elsewhere on the machine hits both sides; check every result; per side
    the fastest and the median time."""
    times: dict[str, list[float]] = {name: [] for name in probes}
    try:
        for _ in range(repeats):
            for name, probe in probes.items():
                started = time.perf_counter()
                result = probe.call()
                times[name].append(time.perf_counter() - started)
                if result != probe.expected:
                    raise AssertionError(f"{name}: got {result}, expected {probe.expected}")
    finally:
        for probe in probes.values():
            probe.close()
    return {name: Timing(min(t), statistics.median(t), repeats) for name, t in times.items()}


# --- emit ----------------------------------------------------------------------------------------


def emit_build(url: str, events: int) -> None:
    emit = open_emit(url)
    emit.create(CART_ID)
    for command in long_cart(events):
        emit.handle_command(CART_ID, command)
    if emit.aggregate(CART_ID).version != events + 1:
        raise AssertionError("emit: the long cart is not at the expected version")
    emit.close()


def emit_cold_load(url: str, events: int, *, snapshots: bool) -> Probe:
    """A fresh `Emit` (empty pool) on an open store loads the cart, each call."""
    every = peer.SNAPSHOT_EVERY if snapshots else None
    store_owner = open_emit(url)

    def load() -> CartLines:
        emit = Emit(cart_decider, store=store_owner.store, snapshot_every=every)
        aggregate = emit.aggregate(CART_ID)
        if aggregate.version != events + 1:
            raise AssertionError(f"emit loaded version {aggregate.version}")
        return emit_lines(aggregate.state)

    return Probe(load, long_cart_expected(events), store_owner.close)


def emit_state_at(url: str, events: int, version: int) -> Probe:
    emit = open_emit(url)
    return Probe(
        lambda: emit_lines(emit.state_at(CART_ID, version)),
        long_cart_expected(events, up_to=version - 1),
        emit.close,
    )


# --- the peer ------------------------------------------------------------------------------------


def peer_build(env: dict[str, str], events: int, *, snapshots: bool) -> UUID:
    shop = peer.open_shop(env, snapshots=snapshots)
    cart_id = shop.open_cart(CART_ID)
    cart: peer.Cart = shop.repository.get(cart_id)
    for n, command in enumerate(long_cart(events), start=1):
        match command:
            case AddItem(sku, quantity):
                cart.add_item(sku, quantity)
            case ChangeQuantity(sku, quantity):
                cart.change_quantity(sku, quantity)
            case RemoveLine(sku):
                cart.remove_line(sku)
        if n % peer.SNAPSHOT_EVERY == 0 or n == events:
            shop.save(cart)  # the library records a batch of pending events atomically
    shop.close()
    return cart_id


def peer_load(
    env: dict[str, str],
    cart_id: UUID,
    expected: CartLines,
    *,
    version: int | None = None,
    snapshots: bool = False,
) -> Probe:
    """`repository.get` on an open application without an aggregate cache, each call."""
    shop = peer.open_shop(env, snapshots=snapshots)
    return Probe(
        lambda: peer.cart_lines(shop.get_cart(cart_id, version=version)), expected, shop.close
    )
