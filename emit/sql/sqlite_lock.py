"""A queue in the kernel for SQLite's writers: an exclusive `flock` on a file next to the
database (`emit.sqlite3.lock` beside `emit.sqlite3`), held by each write transaction.

Why: SQLite lets one connection write at a time. Another that wants to waits in SQLite's busy
handler, which sleeps 1, 2, 5, 10, 25, 50 ms and more between tries: when several processes
write steadily (gunicorn workers), a waiter keeps waking too late or too early, and a write
that takes a millisecond can wait fifty. Writers that first queue on a `flock` sleep in the
kernel instead and are woken the moment the writer before them is done.

SQLite's lock stays the one that keeps the data safe; the `flock` only orders who asks for it:

- It is taken before `BEGIN IMMEDIATE` (or `EXCLUSIVE`) and let go as soon as the connection is
  out of its transaction: after COMMIT or ROLLBACK, an error that ended the transaction, a
  failed BEGIN, or `close`.
- A writer that has waited the connection's busy timeout for it goes on without it and asks
  SQLite once more, without a second wait (its busy timeout is 0 for that one statement): it
  writes if SQLite's lock is free, else fails with "database is locked" as SQLite would have
  after the wait. So no wait is longer than it was, and a cycle through some other lock (a
  thread holding the `flock` waits for a lock that a thread waiting for the `flock` holds)
  ends as it did before. (The helper thread that waited stays blocked until the lock file
  comes free, then lets it go at once.)
- A thread that holds it through one connection does not queue for it again through another:
  SQLite decides, as before (it waits its busy timeout and fails).
- Writers that do not take it (another program, `BEGIN DEFERRED` transactions that write) meet
  SQLite's lock and its busy handler as before.

`make_engine` (emit/sql/engine.py) opens SQLite files with `LockingConnection`. Linux and other
Unix systems only (`fcntl`); elsewhere the connections are plain ones.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from typing import Any, Self

try:
    import fcntl
except ImportError:  # pragma: no cover  (Windows: no flock, SQLite's busy handler alone)
    fcntl = None  # type: ignore[assignment]

_WRITE_BEGINS = ("BEGIN IMMEDIATE", "BEGIN EXCLUSIVE")
_holding: dict[int, int] = {}  # thread id: how many connections hold the lock for that thread
_holding_guard = threading.RLock()  # re-entrant: `__del__` may run while a thread holds it


def lock_path(database: str | os.PathLike[str]) -> str | None:
    """The lock file for a SQLite database file; None for an in-memory database or a URI."""
    name = os.fspath(database)
    if fcntl is None or name in ("", ":memory:") or name.startswith("file:"):
        return None
    return f"{name}.lock"


class LockingConnection(sqlite3.Connection):
    """A sqlite3 connection whose write transactions queue on the database's lock file; pass it
    as `sqlite3.connect(..., factory=LockingConnection)`."""

    def __init__(self, database: str | os.PathLike[str], *args: Any, **kwargs: Any) -> None:
        super().__init__(database, *args, **kwargs)
        self._lock_path = lock_path(database)
        self._lock_fd: int | None = None
        self._lock_thread = 0
        self._busy_ms: int | None = None  # the busy timeout to put back after a statement

    def cursor(self, factory: Any = None) -> Any:
        return super().cursor(factory or _LockingCursor)

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        self._before(sql)
        try:
            return super().execute(sql, parameters)
        finally:
            self._after()

    def executemany(self, sql: str, parameters: Any, /) -> sqlite3.Cursor:
        self._before(sql)
        try:
            return super().executemany(sql, parameters)
        finally:
            self._after()

    def executescript(self, script: str, /) -> sqlite3.Cursor:
        self._before(script)
        try:
            return super().executescript(script)
        finally:
            self._after()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._after()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._after()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._release()

    def __exit__(self, *exc: object) -> Any:
        # `with connection:` commits or rolls back in C, past the overrides above.
        try:
            return super().__exit__(*exc)  # type: ignore[arg-type]
        finally:
            self._after()

    def __del__(self) -> None:
        self._release()

    @property
    def holds_write_lock(self) -> bool:
        """Whether this connection holds the lock file now."""
        return self._lock_fd is not None

    def _before(self, sql: str) -> None:
        if self._lock_fd is not None and not self.in_transaction:
            self._release()  # the transaction ended by a way we did not see
        if self._lock_fd is not None or self._lock_path is None:
            return
        if sql.lstrip()[:15].upper() not in _WRITE_BEGINS:
            return
        thread = threading.get_ident()
        if _holding.get(thread):
            return  # held through another connection of this thread: SQLite decides
        timeout_ms = self._busy_timeout_ms()
        self._lock_fd = _acquire(self._lock_path, timeout_ms / 1000)
        if self._lock_fd is None:  # waited the whole busy timeout: SQLite must not wait again
            self._busy_ms = timeout_ms
            sqlite3.Connection.execute(self, "PRAGMA busy_timeout = 0")
            return
        self._lock_thread = thread
        with _holding_guard:
            _holding[thread] = _holding.get(thread, 0) + 1

    def _after(self) -> None:
        if self._busy_ms is not None:
            busy_ms, self._busy_ms = self._busy_ms, None
            sqlite3.Connection.execute(self, f"PRAGMA busy_timeout = {busy_ms}")
        if self._lock_fd is not None and not self.in_transaction:
            self._release()

    def _release(self) -> None:
        fd, self._lock_fd = getattr(self, "_lock_fd", None), None
        if fd is None:
            return
        with _holding_guard:
            left = _holding.get(self._lock_thread, 1) - 1
            if left:
                _holding[self._lock_thread] = left
            else:
                _holding.pop(self._lock_thread, None)
        os.close(fd)  # closing the file lets the lock go

    def _busy_timeout_ms(self) -> int:
        row = super().execute("PRAGMA busy_timeout").fetchone()
        return int(row[0]) if row else 0


class _LockingCursor(sqlite3.Cursor):
    """The cursor of a `LockingConnection`: statements run through it take and let go of the
    lock as the connection's own do."""

    def execute(self, sql: str, parameters: Any = (), /) -> Self:
        connection: LockingConnection = self.connection  # type: ignore[assignment]
        connection._before(sql)
        try:
            return super().execute(sql, parameters)
        finally:
            connection._after()

    def executemany(self, sql: str, parameters: Any, /) -> Self:
        connection: LockingConnection = self.connection  # type: ignore[assignment]
        connection._before(sql)
        try:
            return super().executemany(sql, parameters)
        finally:
            connection._after()

    def executescript(self, script: str, /) -> sqlite3.Cursor:
        connection: LockingConnection = self.connection  # type: ignore[assignment]
        connection._before(script)
        try:
            return super().executescript(script)
        finally:
            connection._after()


def _acquire(path: str, timeout: float) -> int | None:
    """An open file holding the exclusive lock on `path`, or None after `timeout` seconds.

    Each holder opens the file anew: a `flock` belongs to an open file, so two connections of
    one process exclude each other as two processes do. A wait that must be able to end is
    done by a helper thread (`flock` itself cannot time out); if it gets the lock after the
    caller has given up, it lets it go at once.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return fd
    except BlockingIOError:
        pass
    except BaseException:
        os.close(fd)
        raise
    waiter = _Waiter(fd)
    if waiter.wait(timeout):
        return fd
    return None


class _Waiter:
    """Waits for the lock on `fd` in a thread of its own, for a caller that may give up."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._done = threading.Event()
        self._guard = threading.Lock()
        self._got = False
        self._abandoned = False
        threading.Thread(target=self._run, name="emit-sqlite-lock", daemon=True).start()

    def wait(self, timeout: float) -> bool:
        self._done.wait(timeout)
        with self._guard:
            if not self._got:
                self._abandoned = True  # the thread closes the file when it is done
            return self._got

    def _run(self) -> None:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            got = True
        except OSError:
            got = False
        with self._guard:
            if self._abandoned or not got:
                os.close(self._fd)
                self._fd = -1
            else:
                self._got = True
        self._done.set()
