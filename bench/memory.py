"""W5: peak memory while commands touch many carts, with room for 1,000 in memory.

Each side runs in a fresh process (`python -m bench.memory emit|peer DATABASE CARTS`) so its
peak resident size is its own. The carts are created beforehand by the parent, untimed, in large
batches. The child then sends one add-item command to each cart, from 8 threads, and reports its
peak resident memory after the first 1,000 carts and after all of them: the growth between the
two is what an unbounded cache would show. Then it checks that every cart got its command.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

POOL = 1000
THREADS = 8


def peak_mb() -> float:
    """This process's peak resident memory. Linux's VmHWM, not `ru_maxrss`: the latter carries
    the parent's peak over into a child started with fork and exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kilobytes
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cart_ids(carts: int) -> list[str]:
    return [f"cart-{n:06d}" for n in range(carts)]


# --- set-up, in the parent -----------------------------------------------------------------------


def emit_populate(url: str, carts: int) -> None:
    from emit import AppendRequest, NewEvent
    from emit.ids import new_id
    from shop.cart import CartOpened, cart_decider

    store = _store(url)
    for start in range(0, carts, 1000):
        requests = [
            AppendRequest(
                cart_id,
                0,
                [NewEvent(new_id(), *cart_decider.encode_json(CartOpened(cart_id)), "{}")],
            )
            for cart_id in cart_ids(carts)[start : start + 1000]
        ]
        for result in store.append_many(requests):
            if isinstance(result, Exception):
                raise result
    store.close()


def peer_populate(env: dict[str, str], carts: int) -> None:
    from bench import peer

    shop = peer.open_shop(env)
    for start in range(0, carts, 1000):
        shop.save(*[peer.Cart(cart_id) for cart_id in cart_ids(carts)[start : start + 1000]])
    shop.close()


def measure(side: str, database: str, carts: int) -> dict[str, Any]:
    """Run the child process for `side` and return what it measured."""
    completed = subprocess.run(
        [sys.executable, "-m", "bench.memory", side, database, str(carts)],
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"W5 {side} failed:\n{completed.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


# --- the measurement, in the child ---------------------------------------------------------------


def _store(url: str) -> Any:
    from emit import SqlEventStore

    return SqlEventStore(url)


def _touch_all(touch: Callable[[str], None], ids: list[str]) -> dict[str, float]:
    """Touch the first POOL carts, note the peak; touch the rest, note the peak again."""
    from bench.commands import in_threads

    peaks = {}
    for label, part in (("first", ids[:POOL]), ("all", ids[POOL:])):
        shares = [part[t::THREADS] for t in range(THREADS)]

        def client(t: int, shares: list[list[str]] = shares) -> None:
            for cart_id in shares[t]:
                touch(cart_id)

        in_threads(THREADS, client)
        peaks[label] = peak_mb()
    return peaks


def _child_emit(url: str, carts: int) -> dict[str, Any]:
    from emit import Emit
    from shop.cart import AddItem, cart_decider

    ids = cart_ids(carts)
    emit = Emit(cart_decider, store=_store(url), pool_size=POOL, snapshot_every=100)
    command = AddItem("BEAN-250")
    peaks = _touch_all(lambda cart_id: _nothing(emit.handle_command(cart_id, command)), ids)
    pooled = len(emit.pool)
    head = emit.store.head_position()
    emit.close()
    if head != 2 * carts or pooled != POOL:
        raise AssertionError(f"emit: {head} events stored, {pooled} carts pooled")
    return {"peak_first_mb": peaks["first"], "peak_all_mb": peaks["all"], "pooled": pooled}


def _child_peer(env_json: str, carts: int) -> dict[str, Any]:
    from bench import peer

    env = json.loads(env_json)
    shop = peer.open_shop({**env, "AGGREGATE_CACHE_MAXSIZE": str(POOL)})
    by_name = dict(zip(cart_ids(carts), _peer_cart_ids(shop, carts), strict=True))
    peaks = _touch_all(lambda cart_id: shop.add_item(by_name[cart_id], "BEAN-250"), cart_ids(carts))
    stored = shop.recorder.max_notification_id()
    shop.close()
    if stored != 2 * carts:
        raise AssertionError(f"peer: {stored} events stored")
    return {"peak_first_mb": peaks["first"], "peak_all_mb": peaks["all"], "pooled": POOL}


def _peer_cart_ids(shop: Any, carts: int) -> list[Any]:
    """The peer's ids of the carts, in creation order, read back from its log."""
    found: list[Any] = []
    start = 1
    while len(found) < carts:
        notifications = shop.recorder.select_notifications(start=start, limit=1000)
        found.extend(n.originator_id for n in notifications)
        start = notifications[-1].id + 1
    return found[:carts]


def _nothing(_: object) -> None:
    return None


def main() -> None:
    side, database, carts = sys.argv[1], sys.argv[2], int(sys.argv[3])
    result = _child_emit(database, carts) if side == "emit" else _child_peer(database, carts)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
