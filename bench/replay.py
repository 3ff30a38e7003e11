"""W2 and W3: one cart with a long history, loaded cold and replayed to a past version.

Both sides record the same commands (`workload.long_cart`), one event each, through their
public APIs; that is untimed. W2 times a cold load by a fresh instance with nothing cached and
no snapshots: a pure replay, in events per second. W3 times the state at the middle version,
each side at its best (emit's `state_at` with snapshots; the peer's `repository.get(version=)`
with and without its snapshots). Every timed result is compared with the expected state.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar
from uuid import UUID

from bench import peer
from bench.commands import open_emit
from bench.workload import CartLines, emit_lines, long_cart, long_cart_expected
from emit import Emit
from webapp.cart import AddItem, ChangeQuantity, RemoveLine, cart_decider

T = TypeVar("T")
CART_ID = "cart-long"


@dataclass
class Timing:
    seconds: float  # the median of the repeats
    repeats: int


def timed(repeats: int, call: Callable[[], T], check: Callable[[T], None]) -> Timing:
    """Run `call` `repeats` times; check every result; the median time."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - started)
        check(result)
    return Timing(statistics.median(times), repeats)


def expect(expected: CartLines, what: str) -> Callable[[CartLines], None]:
    def check(actual: CartLines) -> None:
        if actual != expected:
            raise AssertionError(f"{what}: got {actual}, expected {expected}")

    return check


# --- emit ----------------------------------------------------------------------------------------


def emit_build(url: str, events: int) -> None:
    emit = open_emit(url)
    emit.create(CART_ID)
    for command in long_cart(events):
        emit.handle_command(CART_ID, command)
    if emit.aggregate(CART_ID).version != events + 1:
        raise AssertionError("emit: the long cart is not at the expected version")
    emit.close()


def emit_cold_load(url: str, events: int, repeats: int, *, snapshots: bool) -> Timing:
    """A fresh `Emit` (empty pool) on an open store loads the cart, each repeat."""
    every = peer.SNAPSHOT_EVERY if snapshots else None
    store_owner = open_emit(url)

    def load() -> CartLines:
        emit = Emit(cart_decider, store=store_owner.store, snapshot_every=every)
        aggregate = emit.aggregate(CART_ID)
        if aggregate.version != events + 1:
            raise AssertionError(f"emit loaded version {aggregate.version}")
        return emit_lines(aggregate.state)

    try:
        return timed(repeats, load, expect(long_cart_expected(events), "emit cold load"))
    finally:
        store_owner.close()


def emit_state_at(url: str, events: int, version: int, repeats: int) -> Timing:
    emit = open_emit(url)
    try:
        return timed(
            repeats,
            lambda: emit_lines(emit.state_at(CART_ID, version)),
            expect(long_cart_expected(events, up_to=version - 1), "emit state_at"),
        )
    finally:
        emit.close()


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
    repeats: int,
    expected: CartLines,
    *,
    version: int | None = None,
    snapshots: bool = False,
) -> Timing:
    """`repository.get` on an open application without an aggregate cache, each repeat."""
    shop = peer.open_shop(env, snapshots=snapshots)
    try:
        return timed(
            repeats,
            lambda: peer.cart_lines(shop.get_cart(cart_id, version=version)),
            expect(expected, "peer load"),
        )
    finally:
        shop.close()
