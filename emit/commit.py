"""Group commit: appends from many threads share one transaction, and so one disk flush.

There is no background thread. A caller queues its request; if no one is committing, it becomes
the leader and commits everything queued so far in one `append_many`, then hands each request
its own result and wakes its caller. Requests that arrive while a batch is being flushed wait in
the queue, and the first of them becomes the next leader. A caller returns only after the
transaction holding its request has committed, so an acknowledged command is as durable as with
one transaction per command.

Each waiting caller sleeps on a lock of its own, and is woken exactly once: with its result, or
to lead the next batch. (Waiting on one shared lock instead would wake the callers one after the
other, each only to find its result already there: a convoy that cost more than the flush.)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from emit.store import AppendRequest, AppendResult


class _Pending:
    __slots__ = ("leads", "request", "result", "wake")

    def __init__(self, request: AppendRequest) -> None:
        self.request = request
        self.result: AppendResult | None = None
        self.leads = False
        self.wake = threading.Lock()
        self.wake.acquire()  # released once, by the leader that has news for this caller


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
        self._lock = threading.Lock()
        self._leading = False
        self.batches = 0
        self.requests = 0

    def append(self, request: AppendRequest) -> AppendResult:
        pending: _Pending | None = None
        with self._lock:
            if self._leading:
                pending = _Pending(request)
                self._queue.append(pending)
            else:  # no one is committing, so no one is queued either
                self._leading = True
        if pending is None:
            return self._append_alone(request)
        pending.wake.acquire()  # until a leader brings the result, or the lead
        if not pending.leads:
            assert pending.result is not None
            return pending.result
        # The leader: its own request is first in the queue, so it is in this batch.
        with self._lock:
            batch = self._take_batch()
        try:
            self._commit(batch)
        finally:  # even if this thread is interrupted, no one is left waiting
            with self._lock:
                successor = self._queue[0] if self._queue else None
                self._leading = successor is not None
            for other in batch:
                if other is not pending:
                    other.wake.release()
            if successor is not None:
                successor.leads = True
                successor.wake.release()
        assert pending.result is not None
        return pending.result

    def _append_alone(self, request: AppendRequest) -> AppendResult:
        """The leader when no one else was waiting (one writer, the usual case): its request
        alone, without a wake-up lock of its own; then the lead goes to whoever queued
        meanwhile, as in `append`."""
        try:
            result = self._append_many([request])[0]
            self.batches += 1
            self.requests += 1
            return result
        except Exception as error:  # a bug in the store: this caller gets it, as in `_commit`
            return error
        finally:
            with self._lock:
                successor = self._queue[0] if self._queue else None
                self._leading = successor is not None
            if successor is not None:
                successor.leads = True
                successor.wake.release()

    def _take_batch(self) -> list[_Pending]:
        """Up to `max_batch` queued requests, in order, at most one per stream: a second
        request for a stream waits for the next batch, so that it is checked against (and can
        be resolved on) the first one's events. Call with `_lock` held."""
        batch: list[_Pending] = []
        streams: set[str] = set()
        rest: list[_Pending] = []
        for pending in self._queue:
            stream_id = pending.request.stream_id
            if len(batch) < self._max_batch and stream_id not in streams:
                batch.append(pending)
                streams.add(stream_id)
            else:
                rest.append(pending)
        self._queue = rest
        return batch

    def _commit(self, batch: list[_Pending]) -> None:
        try:
            results = self._append_many([p.request for p in batch])
        except BaseException as error:  # a bug in the store must not leave followers waiting
            failure = error if isinstance(error, Exception) else RuntimeError(repr(error))
            for pending in batch:
                pending.result = failure
            if not isinstance(error, Exception):
                raise
            return
        for pending, result in zip(batch, results, strict=True):
            pending.result = result
        self.batches += 1
        self.requests += len(batch)
