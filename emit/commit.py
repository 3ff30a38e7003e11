"""Group commit: appends from many threads share one transaction, and so one disk flush.

There is no background thread. A caller queues its request and then takes the leader's lock;
whoever holds it commits everything queued so far in one `append_many` and hands each request
its own result. While one batch is being flushed the next one gathers behind the lock. A caller
returns only after the transaction holding its request has committed, so an acknowledged
command is as durable as with one transaction per command.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from emit.store import AppendRequest, AppendResult


class _Pending:
    __slots__ = ("request", "result")

    def __init__(self, request: AppendRequest) -> None:
        self.request = request
        self.result: AppendResult | None = None


class GroupCommit:
    """Batches concurrent `append` calls into `append_many` calls of at most `max_batch`."""

    def __init__(
        self,
        append_many: Callable[[Sequence[AppendRequest]], list[AppendResult]],
        *,
        max_batch: int = 256,
    ) -> None:
        self._append_many = append_many
        self._max_batch = max_batch
        self._queue: list[_Pending] = []
        self._queue_lock = threading.Lock()
        self._leader_lock = threading.Lock()
        self.batches = 0
        self.requests = 0

    def append(self, request: AppendRequest) -> AppendResult:
        pending = _Pending(request)
        with self._queue_lock:
            self._queue.append(pending)
        while pending.result is None:
            with self._leader_lock:
                if pending.result is not None:
                    break  # an earlier leader committed it
                with self._queue_lock:
                    batch = self._queue[: self._max_batch]
                    del self._queue[: self._max_batch]
                self._commit(batch)
        return pending.result

    def _commit(self, batch: list[_Pending]) -> None:
        try:
            results = self._append_many([p.request for p in batch])
        except Exception as error:  # a bug in the store must not leave followers waiting
            results = [error] * len(batch)
        for pending, result in zip(batch, results, strict=True):
            pending.result = result
        self.batches += 1
        self.requests += len(batch)
