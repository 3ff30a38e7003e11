"""W1 and W1c: add-item commands on 100 carts, from one client thread or from many.

Carts are created beforehand, untimed. The commands are then run in slices, and the slices of
all sides (emit, the peer in each configuration, the raw limit) take turns: slice 1 of each
side, then slice 2 of each, and so on, each side on its own fresh database. A side's rate is the
rate of its fastest slice (its rate with the least disturbance from whatever else the machine
was doing); the rate over all its slices is kept in the notes. Other processes on a shared
machine then slow all sides alike, and never turn one side's quiet minute into a ratio.

Afterwards a fresh instance of each side reads every cart back from its database, and the run
fails unless each cart holds exactly what the commands put in it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.persistence import RecordConflictError

from bench import peer, raw
from bench.workload import Commands, emit_lines
from emit import Emit, SqlEventStore
from shop.cart import AddItem, cart_decider

SNAPSHOT_EVERY = peer.SNAPSHOT_EVERY
SLICES = 10


def open_emit(url: str, *, notify: str | None = None, **options: Any) -> Emit[Any, Any, Any]:
    """emit as the benchmark runs it: the cart decider on a SQL store, snapshots on; `notify`:
    the store's NOTIFY channel (PostgreSQL), as the web app has it."""
    options.setdefault("snapshot_every", SNAPSHOT_EVERY)
    return Emit(cart_decider, store=SqlEventStore(url, notify=notify), **options)


@dataclass
class Run:
    """A side's best slice rate (per second), and what it noticed on the way."""

    rate: float
    notes: dict[str, Any] = field(default_factory=dict)


class Side(Protocol):
    def prepare(self) -> None: ...
    def run_slice(self, index: int) -> tuple[int, float]:
        """Run slice `index`: (operations done, seconds taken)."""
        ...

    def finish(self) -> dict[str, Any]:
        """Check the results; notes for the report."""
        ...


def interleaved(sides: dict[str, Side], slices: int = SLICES) -> dict[str, Run]:
    for side in sides.values():
        side.prepare()
    done: dict[str, list[tuple[int, float]]] = {name: [] for name in sides}
    for index in range(slices):
        names = list(sides)
        shift = index % len(names)  # take turns going first, too
        for name in names[shift:] + names[:shift]:
            done[name].append(sides[name].run_slice(index))
    runs = {}
    for name, side in sides.items():
        rates = [count / seconds for count, seconds in done[name]]
        total = sum(c for c, _ in done[name]) / sum(s for _, s in done[name])
        runs[name] = Run(max(rates), {"overall": round(total), **side.finish()})
    return runs


def _slice(items: list[Any], index: int, slices: int) -> list[Any]:
    size = -(-len(items) // slices)
    return items[index * size : (index + 1) * size]


def in_threads(threads: int, work: Callable[[int], None]) -> float:
    """Run `work(t)` on `threads` threads started together; the seconds until all are done.
    One "thread" is the calling thread itself."""
    if threads == 1:
        started = time.perf_counter()
        work(0)
        return time.perf_counter() - started
    errors: list[BaseException] = []
    start = threading.Barrier(threads + 1)

    def run(t: int) -> None:
        start.wait()
        try:
            work(t)
        except BaseException as error:
            errors.append(error)

    pool = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for thread in pool:
        thread.start()
    start.wait()
    started = time.perf_counter()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return elapsed


class RawSide:
    """The raw limit, `per_slice` one-row transactions a slice."""

    def __init__(self, open_limit: Callable[[], raw.OneRowPerTransaction], per_slice: int) -> None:
        self._open = open_limit
        self._per_slice = per_slice

    def prepare(self) -> None:
        self._limit = self._open()

    def run_slice(self, index: int) -> tuple[int, float]:
        return self._per_slice, self._limit.run(self._per_slice)

    def finish(self) -> dict[str, Any]:
        self._limit.close()
        return {}


class EmitSide:
    def __init__(
        self,
        url: str,
        commands: Commands,
        threads: int = 1,
        slices: int = SLICES,
        notify: str | None = None,
    ):
        self.url = url
        self.commands = commands
        self.threads = threads
        self.slices = slices
        self.notify = notify

    def prepare(self) -> None:
        self.emit = open_emit(self.url, notify=self.notify)
        ids = self.commands.cart_ids()
        for cart_id in ids:
            self.emit.create(cart_id)
        self.work = [(ids[cart], AddItem(sku)) for cart, sku in self.commands.items()]
        commit = self.emit._loop.commit
        self._before = (commit.batches, commit.requests)

    def run_slice(self, index: int) -> tuple[int, float]:
        work = _slice(self.work, index, self.slices)
        shares = [work[t :: self.threads] for t in range(self.threads)]
        handle = self.emit.handle_command

        def client(t: int) -> None:
            for cart_id, command in shares[t]:
                handle(cart_id, command)

        return len(work), in_threads(self.threads, client)

    def finish(self) -> dict[str, Any]:
        commit = self.emit._loop.commit
        batches, requests = commit.batches - self._before[0], commit.requests - self._before[1]
        self.emit.close()
        check_emit(self.url, self.commands)
        return {"commands per commit": round(requests / batches, 2)}


def check_emit(url: str, commands: Commands) -> None:
    """Read every cart back through a fresh Emit (empty pool, no snapshots) and compare."""
    emit = open_emit(url, snapshot_every=None)
    try:
        expected = commands.expected()
        head = emit.store.head_position()
        if head != commands.carts + commands.count:
            total = commands.carts + commands.count
            raise AssertionError(f"emit stored {head} events, expected {total}")
        per_cart = commands.count // commands.carts
        for n, cart_id in enumerate(commands.cart_ids()):
            aggregate = emit.aggregate(cart_id)
            if emit_lines(aggregate.state) != expected[n]:
                raise AssertionError(f"emit: {cart_id} holds {aggregate.state}")
            if aggregate.version != 1 + per_cart + (n < commands.count % commands.carts):
                raise AssertionError(f"emit: {cart_id} is at version {aggregate.version}")
    finally:
        emit.close()


class PeerSide:
    """The peer: `repository.get`, the command method, `save`; a conflict is retried."""

    def __init__(
        self, env: dict[str, str], commands: Commands, threads: int = 1, slices: int = SLICES
    ):
        self.env = env
        self.commands = commands
        self.threads = threads
        self.slices = slices
        self.conflicts = 0

    def prepare(self) -> None:
        self.shop = peer.open_shop(self.env)
        self.ids = [self.shop.open_cart(cart_id) for cart_id in self.commands.cart_ids()]
        self.work = [(self.ids[cart], sku) for cart, sku in self.commands.items()]

    def run_slice(self, index: int) -> tuple[int, float]:
        work = _slice(self.work, index, self.slices)
        shares = [work[t :: self.threads] for t in range(self.threads)]
        add_item = self.shop.add_item
        conflicts = [0] * self.threads

        def client(t: int) -> None:
            for cart_id, sku in shares[t]:
                while True:
                    try:
                        add_item(cart_id, sku)
                        break
                    except RecordConflictError:  # another thread saved this cart first
                        conflicts[t] += 1

        elapsed = in_threads(self.threads, client)
        self.conflicts += sum(conflicts)
        return len(work), elapsed

    def finish(self) -> dict[str, Any]:
        self.shop.close()
        check_peer(self.env, self.commands, self.ids)
        return {"conflicts retried": self.conflicts} if self.threads > 1 else {}


def check_peer(env: dict[str, str], commands: Commands, ids: list[UUID]) -> None:
    shop = peer.open_shop({**env, "AGGREGATE_CACHE_MAXSIZE": ""})
    try:
        expected = commands.expected()
        for n, cart_id in enumerate(ids):
            cart = shop.get_cart(cart_id)
            if peer.cart_lines(cart) != expected[n]:
                raise AssertionError(f"peer: cart {n} holds {cart.lines}, expected {expected[n]}")
            per_cart = commands.count // commands.carts
            if cart.version != 1 + per_cart + (n < commands.count % commands.carts):
                raise AssertionError(f"peer: cart {n} is at version {cart.version}")
    finally:
        shop.close()
