"""The head watcher: one thread per process that follows a store's global head position.

Pages that follow the store (a cart open in two tabs, a growing history, /ops) and the policies'
runner ask it, instead of each asking the database: it reads the head position every
`interval` seconds, and on a `NotifyingStore` (PostgreSQL with `notify`) it also `LISTEN`s,
so an append by any process on any host wakes it at once. When the head moves it reads the new
events once, remembers each stream's latest version, wakes whoever waits and tells its
listeners. What it follows is the store's head, never a signal inside this process: a change by
another process or host shows the same way as one made here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

from emit.errors import StorageError
from emit.store import EventStore, Listener, NotifyingStore, StoredEvent, TransactionalStore

log = logging.getLogger("emit.watcher")

# Told the events the head moved past, in position order, from the watcher's thread.
HeadListener = Callable[[Sequence[StoredEvent]], None]

_BATCH = 1000  # events read at a time when the head moved far
_RETRY_LISTEN = 5.0  # seconds before a failed `LISTEN` connection is tried again


class HeadWatcher:
    """Follows `store`'s head position in one daemon thread (`start`, `stop`).

    Guarantees: `position` only grows; `wait(after)` returns within `interval` seconds (plus
    the time of one read) of an append that moved the head past `after`, by any process, or at
    once on a notifying store; `version(stream_id)` is never older than the stream was when the
    head last moved past `position`. A database that fails is logged and tried again each
    `interval`; meanwhile waiters simply hear nothing, and `failure` holds the error of the
    last read (None once a read succeeds). `remember` bounds how many streams'
    versions are kept; one forgotten is read again from the store. Appends that come within
    `settle` seconds of a read wake waiters once, after it: under a stream of appends, many
    waiting threads wake a few times a second, not once per append.
    """

    def __init__(
        self,
        store: EventStore,
        *,
        interval: float = 0.5,
        settle: float = 0.1,
        remember: int = 10_000,
    ) -> None:
        if interval <= 0 or settle < 0 or remember < 1:
            raise ValueError("interval and remember must be positive, settle not negative.")
        self.store = store
        self.interval = interval
        self.settle = settle
        self._remember = remember
        self._changed = threading.Condition()
        self._position = -1  # not read yet
        self._versions: OrderedDict[str, int] = OrderedDict()
        # Threads waiting for one stream to move: woken only by its events, not by every move.
        self._stream_waiters: dict[str, set[threading.Event]] = {}
        self._listeners: list[HeadListener] = []
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()
        # The error of the last read of the head, if it failed; None once one succeeds.
        self.failure: StorageError | None = None

    # --- running -------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the thread, if it is not running; it reads the head position first (a
        database that is away is tried again each `interval`). Safe from many threads."""
        with self._start:
            if self.running:
                return
            self._stopping.clear()
            try:
                self._catch_up()
            except StorageError as error:
                self.failure = error
                log.warning("watcher cannot read the head position yet: %s", error)
            self._thread = threading.Thread(target=self._run, name="emit-watcher", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread; waiters are woken and see the position as it was."""
        self._stopping.set()
        self._wake_all()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        self._thread = None

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def add_listener(self, listener: HeadListener) -> None:
        """Call `listener` from the watcher's thread with the events the head moves past (it
        must be quick, and not raise: an error is logged)."""
        with self._changed:
            self._listeners = [*self._listeners, listener]

    def remove_listener(self, listener: HeadListener) -> None:
        with self._changed:
            self._listeners = [x for x in self._listeners if x is not listener]

    # --- asking --------------------------------------------------------------------------------

    @property
    def position(self) -> int:
        """The head position last read (0 for an empty store; -1 before `start`)."""
        return self._position

    def wait(self, after: int, timeout: float) -> int:
        """Wait until the head position is past `after`, at most `timeout` seconds, or until the
        watcher stops; the position then."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._position <= after and not self._stopping.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
            return self._position

    def wait_version(self, stream_id: str, after: int, timeout: float) -> int:
        """Wait until the stream's version is past `after`, at most `timeout` seconds, or until
        the watcher stops; the version then. Woken only by events of this stream: many threads
        can each wait for their own stream while others change. Raises `StorageError`."""
        woken = threading.Event()
        with self._changed:
            known = self._versions.get(stream_id, 0)
            if known > after:
                return known
            waiting = not self._stopping.is_set()
            if waiting:
                self._stream_waiters.setdefault(stream_id, set()).add(woken)
        if waiting:
            try:
                woken.wait(timeout)
            finally:
                with self._changed:
                    waiters = self._stream_waiters.get(stream_id, set())
                    waiters.discard(woken)
                    if not waiters:
                        self._stream_waiters.pop(stream_id, None)
        return self.version(stream_id)

    def version(self, stream_id: str) -> int:
        """The stream's latest version (0: no such stream), from memory once known: the
        watcher keeps it up to date as the head moves. Raises `StorageError`."""
        with self._changed:
            known = self._versions.get(stream_id)
            if known is not None:
                self._versions.move_to_end(stream_id)
                return known
        read = self.store.stream_version(stream_id)
        with self._changed:
            # The thread may have seen a newer version meanwhile: versions only grow.
            version = max(read, self._versions.get(stream_id, 0))
            self._remember_version(stream_id, version)
            return version

    # --- the thread ----------------------------------------------------------------------------

    def _run(self) -> None:
        listener: Listener | None = None
        listen_after = 0.0
        failing = False
        while not self._stopping.is_set():
            if listener is None and time.monotonic() >= listen_after:
                listener = self._listen()
                if listener is None:
                    listen_after = time.monotonic() + _RETRY_LISTEN
            try:
                if listener is not None:
                    # Appends during the last read and the settling time are heard at once.
                    self._stopping.wait(self.settle)
                    listener.wait(self.interval)
                else:
                    self._stopping.wait(self.interval)
            except StorageError as error:
                log.warning("watcher stopped listening; polling meanwhile: %s", error)
                if listener is not None:
                    listener.close()
                listener, listen_after = None, time.monotonic() + _RETRY_LISTEN
            if self._stopping.is_set():
                break
            try:
                self._catch_up()
            except StorageError as error:
                self.failure = error
                if isinstance(self.store, TransactionalStore) and self.store.closed:
                    log.info("watcher stopped: its store was closed")
                    self._stopping.set()
                    break
                if not failing:  # one line per outage, not one per interval
                    log.warning("watcher cannot read the head position: %s", error)
                failing = True
                continue
            except Exception:
                log.exception("watcher failed; trying again in %ss", self.interval)
                continue
            failing = False
            self.failure = None
        if listener is not None:
            listener.close()
        self._wake_all()

    def _listen(self) -> Listener | None:
        if not isinstance(self.store, NotifyingStore):
            return None
        try:
            return self.store.listen()
        except StorageError as error:
            log.warning("watcher cannot listen for appends; polling meanwhile: %s", error)
            return None

    def _catch_up(self) -> None:
        """Read the head; if it moved, the events it moved past, then wake waiters."""
        head = self.store.head_position()
        self.failure = None
        if head <= self._position:
            return
        seen: list[StoredEvent] = []
        if self._position >= 0:  # the first read only learns where the head is
            after = self._position
            while after < head:
                batch = self.store.read_all(after=after, limit=_BATCH)
                if not batch:
                    break
                seen.extend(batch)
                after = batch[-1].position
                head = max(head, after)
        with self._changed:
            for event in seen:
                self._remember_version(event.stream_id, event.version)
                for woken in self._stream_waiters.get(event.stream_id, ()):
                    woken.set()
            self._position = head
            listeners = self._listeners
            self._changed.notify_all()
        for listener in listeners:
            try:
                listener(seen)
            except Exception:
                log.exception("a head listener failed")

    def _wake_all(self) -> None:
        """Every waiter sees the watcher stopping."""
        with self._changed:
            self._changed.notify_all()
            for waiters in self._stream_waiters.values():
                for woken in waiters:
                    woken.set()

    def _remember_version(self, stream_id: str, version: int) -> None:
        """Under the lock: keep the version, forgetting the least recently used stream."""
        if version <= 0:
            return  # no such stream yet: asked again next time
        if version > self._versions.get(stream_id, 0):
            self._versions[stream_id] = version
        self._versions.move_to_end(stream_id)
        while len(self._versions) > self._remember:
            self._versions.popitem(last=False)
