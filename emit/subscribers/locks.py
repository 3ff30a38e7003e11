"""Locks that only a live runner can hold: the database or the kernel lets go of them the moment
the runner's process dies, so another runner can take its policies over at once.

A policy's lease (emit/subscribers/checkpoints.py) ends `lease_ttl` seconds after its runner stopped
renewing it: long enough for a slow `handle` to keep it, so far too long a wait after a crash
(`kill -9`, an out-of-memory kill). Beside each lease a runner therefore holds a lock per
policy:

- **PostgreSQL**: a session-level advisory lock, on a connection the runner keeps for them. The
  server lets go when the session ends, which it does when the process dies. The key is a hash
  of the schema and the policy's name, so stores in other schemas of one database never meet.
- **SQLite**: an exclusive `flock` on a file beside the database
  (`emit.sqlite3.runner-<hash of the name>.lock`), which the kernel lets go when the process
  dies.

A runner that gets a policy's lock knows that no live runner works on it, and takes the lease
at once. The lease stays what fences the effects: a runner whose lease was taken cannot commit,
lock or not.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from typing import Any

import sqlalchemy as sa

from emit.sql import dialect_for, storage_errors

try:
    import fcntl
except ImportError:  # pragma: no cover  (Windows: no flock; leases alone, after `lease_ttl`)
    fcntl = None  # type: ignore[assignment]

_TRY_LOCK = sa.text(
    "SELECT pg_try_advisory_lock(hashtextextended(current_schema() || '/emit-runner/' || :name, 0))"
)
_UNLOCK = sa.text(
    "SELECT pg_advisory_unlock(hashtextextended(current_schema() || '/emit-runner/' || :name, 0))"
)
_UNLOCK_ALL = sa.text("SELECT pg_advisory_unlock_all()")


class RunnerLocks:
    """The locks one runner holds, by policy name; thread safe. Raises `StorageError` when the
    database fails; the locks held are then gone with the connection, and the next `try_lock`
    starts again on a new one."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._advisory = dialect_for(engine).advisory_locks
        self._connection: sa.Connection | None = None
        self._files: dict[str, int] = {}  # SQLite: policy name -> the locked file
        self._held: set[str] = set()
        self._guard = threading.Lock()  # the runner's thread and its heartbeat share the session

    def holds(self, name: str) -> bool:
        return name in self._held

    def try_lock(self, name: str) -> bool | None:
        """Take policy `name`'s lock if no one holds it: True if this runner holds it now,
        False if another (live) runner does, None where there are no such locks (SQLite
        without `flock`)."""
        with self._guard:
            return self._try_lock(name)

    def unlock(self, name: str) -> None:
        """Let go of policy `name`'s lock (nothing happens if it is not held)."""
        with self._guard:
            self._unlock(name)

    def close(self) -> None:
        """Let go of every lock: when it returns, another runner can take them."""
        with self._guard:
            for name in list(self._held):
                if not self._advisory:
                    self._unlock(name)
            if self._advisory and self._held and self._connection is not None:
                # The server lets go of a closed session's locks only once it notices the
                # session is gone, a moment later: let go of them now, while it listens.
                with contextlib.suppress(sa.exc.SQLAlchemyError):
                    self._connection.execute(_UNLOCK_ALL)
            self._held.clear()
            self._drop_session()

    def _try_lock(self, name: str) -> bool | None:
        if name in self._held:
            return True
        got = self._try_postgres(name) if self._advisory else self._try_file(name)
        if got:
            self._held.add(name)
        return got

    def _unlock(self, name: str) -> None:
        if name not in self._held:
            return
        self._held.discard(name)
        if not self._advisory:
            fd = self._files.pop(name, None)
            if fd is not None:
                os.close(fd)  # closing the file lets the lock go
            return
        try:
            with storage_errors("let go of a runner lock"):
                self._session().execute(_UNLOCK, {"name": name})
        except Exception:
            self._drop_session()  # the session's end lets go of every lock it had
            raise

    def _try_postgres(self, name: str) -> bool:
        try:
            with storage_errors("take a runner lock"):
                return bool(self._session().execute(_TRY_LOCK, {"name": name}).scalar())
        except Exception:
            self._drop_session()
            raise

    def _session(self) -> sa.Connection:
        if self._connection is None:
            # Autocommit: the locks are the session's, no transaction is left open for them.
            self._connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self._connection

    def _drop_session(self) -> None:
        connection, self._connection = self._connection, None
        if self._advisory:
            self._held.clear()  # the locks end with the session
        if connection is not None:
            try:
                connection.invalidate()  # never back to the pool with locks on it
                connection.close()
            except sa.exc.SQLAlchemyError:
                pass

    def _try_file(self, name: str) -> bool | None:
        path = _lock_file(self.engine, name)
        if path is None:
            return None  # no file locks here: the leases alone decide
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self._files[name] = fd
        return True


def _lock_file(engine: sa.Engine, name: str) -> str | None:
    """The lock file of policy `name` beside the SQLite database; None without `flock`."""
    database: Any = engine.url.database
    if fcntl is None or not database:
        return None
    digest = hashlib.sha256(name.encode()).hexdigest()[:16]
    return f"{database}.runner-{digest}.lock"
