"""Group commit: concurrent appends share transactions, and every caller gets its own result."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from emit import AppendRequest, ConcurrencyError, Emit, InMemoryEventStore, NewEvent, SqlEventStore
from emit.commit import GroupCommit
from emit.ids import new_id
from emit.store import AppendResult
from tests.account import Deposit, account

THREADS = 12


def event() -> NewEvent:
    return NewEvent(new_id(), "Noted", 1, "{}", "{}")


class SlowStore(InMemoryEventStore):
    """A store whose flush takes a while, like a disk: appends pile up behind it."""

    def __init__(self) -> None:
        super().__init__()
        self.batch_sizes: list[int] = []

    def append_many(self, requests: Sequence[AppendRequest]) -> list[AppendResult]:
        self.batch_sizes.append(len(requests))
        time.sleep(0.005)
        return super().append_many(requests)


def in_threads(work: Any) -> None:
    start = threading.Barrier(THREADS)

    def run(t: int) -> None:
        start.wait()
        work(t)

    threads = [threading.Thread(target=run, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)


def test_waiting_appends_are_committed_together_each_with_its_own_result() -> None:
    store = SlowStore()
    commit = GroupCommit(store.append_many)
    results: dict[str, AppendResult] = {}

    def work(t: int) -> None:
        for n in range(5):
            stream = f"s{t}-{n}"
            results[stream] = commit.append(AppendRequest(stream, 0, [event()]))
        # one stale request per thread: it fails alone
        results[f"stale{t}"] = commit.append(AppendRequest(f"s{t}-0", 0, [event()]))

    in_threads(work)

    assert commit.requests == THREADS * 6
    assert max(store.batch_sizes) > 1
    assert commit.batches < commit.requests
    for t in range(THREADS):
        for n in range(5):
            (stored,) = results[f"s{t}-{n}"]  # type: ignore[misc]
            assert (stored.stream_id, stored.version) == (f"s{t}-{n}", 1)
        assert isinstance(results[f"stale{t}"], ConcurrencyError)
    assert store.head_position() == THREADS * 5


def test_a_store_that_raises_fails_every_caller_of_the_batch_and_no_one_hangs() -> None:
    class Broken(SlowStore):
        def append_many(self, requests: Sequence[AppendRequest]) -> list[AppendResult]:
            super().append_many(requests)
            raise RuntimeError("disk on fire")

    commit = GroupCommit(Broken().append_many)
    outcomes: list[AppendResult] = []

    in_threads(lambda t: outcomes.append(commit.append(AppendRequest(f"s{t}", 0, [event()]))))

    assert len(outcomes) == THREADS
    assert all(isinstance(o, RuntimeError) and "fire" in str(o) for o in outcomes)


def test_many_clients_on_many_aggregates_share_flushes(sqlite_url: str) -> None:
    threads = 16
    emit: Emit[Any, Any, Any] = Emit(account, store=SqlEventStore(sqlite_url))
    for a in range(threads):
        emit.create(f"acc-{a}")

    def work(t: int) -> None:
        for n in range(20):
            emit.handle_command(f"acc-{(t + n) % threads}", Deposit(1, f"{t}-{n}"))

    in_threads(work)

    assert sum(emit.get_state(f"acc-{a}").balance for a in range(threads)) == THREADS * 20
    assert emit.store.head_position() == threads + THREADS * 20
    assert emit._loop.commit.requests / emit._loop.commit.batches > 1  # flushes were shared
    emit.close()
