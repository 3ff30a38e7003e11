"""PostgreSQL connections that cannot hang: every wait for the server is bounded by a timeout.

- **Connecting**: psycopg's `connect_timeout` (at least 2 s: libpq's floor).
- **Each statement, each wait for a lock**: the server's `statement_timeout` and `lock_timeout`,
  set on every new connection; the server cancels the statement and answers with an error.
- **A server that does not answer at all** (frozen, or a network that drops everything): the
  server's own timeouts cannot answer for it, so every wait for an answer on a connection gives
  up a second after the statement timeout, closes the connection (its state is unknown) and
  raises `NoAnswer`. TCP keepalives and `tcp_user_timeout` find a dead peer of an idle
  connection the same way.
- **The pool**: waiting for a free connection (`pool_timeout`).

A pooled connection is not pinged before use (SQLAlchemy's `pool_pre_ping` is off): a ping is a
round trip, as long as the read it guards. Instead, at checkout, what the server sent while the
connection sat idle is read without waiting (`check_still_open`): a server that closed it (a
restart, an operator ending the session, a reset) said so, and the pool connects anew. A
connection that died without a word (a firewall forgot it) fails on use; the store tries a read
once more on a new connection, and an append only where it cannot have committed
(emit/sql/store.py).

`make_engine` (emit/sql/engine.py) sets these up with `bounded_engine_options` and
`bound_engine`.
"""

from __future__ import annotations

import math
from typing import Any

import psycopg
import psycopg.sql
import sqlalchemy as sa
from psycopg import errors

# The server's own timeout answers first; this much later the client stops waiting for it.
_GRACE = 1.0


class NoAnswer(errors.ConnectionTimeout):
    """The server sent no answer in time; the connection was closed."""


class BoundedConnection(psycopg.Connection[Any]):
    """A psycopg connection whose every wait for the server ends after `answer_timeout`
    seconds: with `NoAnswer`, the connection closed."""

    answer_timeout: float = 6.0

    def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
        limit = self.answer_timeout if timeout is None else timeout
        try:
            return super().wait(gen, interval, limit)
        except errors._WaitTimeout as error:
            self.pgconn.finish()  # half a conversation: the connection cannot be used again
            raise NoAnswer(
                f"The database sent no answer within {limit:g} s; the connection was closed."
            ) from error


def bounded_engine_options(timeout: float, options: dict[str, Any]) -> None:
    """Fill `create_engine` options (those given win) so that connecting, waiting for a pooled
    connection and noticing a dead peer each take about `timeout` seconds at most."""
    connect_args = options.setdefault("connect_args", {})
    seconds = max(1, math.ceil(timeout))
    connect_args.setdefault("connect_timeout", max(2, seconds))
    connect_args.setdefault("keepalives", 1)
    connect_args.setdefault("keepalives_idle", seconds)
    connect_args.setdefault("keepalives_interval", 1)
    connect_args.setdefault("keepalives_count", 3)
    connect_args.setdefault("tcp_user_timeout", int(timeout * 1000))
    options.setdefault("pool_timeout", timeout)


def bound_engine(engine: sa.Engine, timeout: float) -> None:
    """Make `engine`'s connections `BoundedConnection`s, set the server's statement and lock
    timeouts on each, to `timeout` seconds, and let the pool hand out no connection that the
    server is known to have closed."""
    milliseconds = max(1, int(timeout * 1000))

    @sa.event.listens_for(engine, "do_connect")
    def _connect(_dialect: Any, _record: Any, cargs: Any, cparams: Any) -> BoundedConnection:
        connection = BoundedConnection.connect(*cargs, **cparams)
        connection.answer_timeout = timeout + _GRACE
        return connection

    @sa.event.listens_for(engine, "connect")
    def _set_timeouts(connection: BoundedConnection, _record: Any) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('statement_timeout', %(ms)s, false), "
                "set_config('lock_timeout', %(ms)s, false)",
                {"ms": str(milliseconds)},
            )
        connection.commit()

    @sa.event.listens_for(engine, "checkout")
    def _still_open(connection: BoundedConnection, _record: Any, _proxy: Any) -> None:
        try:
            check_still_open(connection)
        except psycopg.Error as error:
            # The pool's signal to throw this connection away and hand out a new one.
            raise sa.exc.DisconnectionError(str(error)) from error


class Listener:
    """A connection of its own, outside the engine's pool, that `LISTEN`s on `channel`:
    a `Listener` of emit/store.py. Its waits are not bounded by the store's timeout (they are
    waits for appends, not for answers); a dead peer is found by TCP keepalives."""

    def __init__(self, engine: sa.Engine, channel: str, timeout: float) -> None:
        cargs, cparams = engine.dialect.create_connect_args(engine.url)
        seconds = max(1, math.ceil(timeout))
        cparams = {
            "connect_timeout": max(2, seconds),
            "keepalives": 1,
            "keepalives_idle": seconds,
            "keepalives_interval": 1,
            "keepalives_count": 3,
            **cparams,
            "autocommit": True,
        }
        self._connection = psycopg.Connection.connect(*cargs, **cparams)
        listen = psycopg.sql.SQL("LISTEN {}").format(psycopg.sql.Identifier(channel))
        self._connection.execute(listen)

    def wait(self, timeout: float) -> bool:
        heard = False
        for _ in self._connection.notifies(timeout=timeout, stop_after=1):
            heard = True
        if heard:  # take the others that came meanwhile: one wake for all of them
            for _ in self._connection.notifies(timeout=0):
                pass
        return heard

    def close(self) -> None:
        self._connection.close()


def check_still_open(connection: psycopg.Connection[Any]) -> None:
    """Raise psycopg's own error if the server has closed this idle connection (it restarted,
    an operator ended the session, the network was cut and the peer reset it), without sending
    anything: reading what the server sent meanwhile never waits. Before a statement that
    commits by itself, this tells "it never left" from "its answer was lost"."""
    pgconn = connection.pgconn
    # A server ending the session sends its reason (a FATAL error), then closes. libpq takes an
    # error that comes while idle for a notice and leaves the connection OK until it reads the
    # close, which may lag the reason (the backend is still exiting): the reason alone must do.
    ended: list[str] = []

    def fatal(diagnostic: psycopg.errors.Diagnostic) -> None:
        if diagnostic.severity_nonlocalized == "FATAL":
            ended.append(diagnostic.message_primary or "the session was ended")

    connection.add_notice_handler(fatal)
    try:
        # The first read may take just the reason, the second meet the close (and raise).
        for _ in range(2):
            pgconn.consume_input()
        pgconn.notifies()  # parses what came, handing the reason to `fatal`
    finally:
        connection.remove_notice_handler(fatal)
    if ended or pgconn.status != psycopg.pq.ConnStatus.OK:
        reason = f" ({ended[0]})" if ended else ""
        raise psycopg.OperationalError(
            f"the server closed the connection while it was idle{reason}"
        )
