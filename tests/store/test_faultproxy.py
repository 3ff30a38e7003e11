"""The fault proxy itself (tests/faultproxy.py): each fault is what a driver meets for real."""

from __future__ import annotations

import time

import psycopg
import pytest
import sqlalchemy as sa

from emit.sql.postgres import check_still_open
from tests.faultproxy import FaultProxy

pytestmark = pytest.mark.postgres


def _conninfo(url: str) -> str:
    """A libpq connection string for a SQLAlchemy URL (psycopg does not read `+psycopg`)."""
    return sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def test_it_passes_traffic_and_keeps_the_schema(pg_proxy: FaultProxy) -> None:
    with psycopg.connect(_conninfo(pg_proxy.url)) as connection:
        schema = connection.execute("SELECT current_schema()").fetchone()
    assert schema is not None
    assert schema[0].startswith("test_")
    assert pg_proxy.accepted == 1


def test_refused_connections_fail_at_once_and_pass_again_after(pg_proxy: FaultProxy) -> None:
    pg_proxy.refuse()
    started = time.monotonic()
    with pytest.raises(psycopg.OperationalError, match="refused"):
        psycopg.connect(_conninfo(pg_proxy.url), connect_timeout=5)
    assert time.monotonic() - started < 1
    pg_proxy.pass_traffic()
    with psycopg.connect(_conninfo(pg_proxy.url)) as connection:
        assert connection.execute("SELECT 1").fetchone() == (1,)


def test_a_cut_breaks_open_connections_and_new_ones(pg_proxy: FaultProxy) -> None:
    connection = psycopg.connect(_conninfo(pg_proxy.url))
    connection.execute("SELECT 1")
    pg_proxy.cut()
    time.sleep(0.1)
    with pytest.raises(psycopg.OperationalError):
        connection.execute("SELECT 1")
    assert connection.broken
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(_conninfo(pg_proxy.url), connect_timeout=5)
    pg_proxy.pass_traffic()
    with psycopg.connect(_conninfo(pg_proxy.url)) as again:
        assert again.execute("SELECT 1").fetchone() == (1,)


def test_a_freeze_answers_nothing_until_traffic_passes_again(pg_proxy: FaultProxy) -> None:
    connection = psycopg.connect(_conninfo(pg_proxy.url), autocommit=True)
    pg_proxy.freeze()
    with pytest.raises(psycopg.OperationalError):
        # psycopg's own wait with a deadline: the query was sent, no answer comes.
        connection.wait(connection._exec_command(b"SELECT 1"), timeout=0.5)  # type: ignore[attr-defined]
    started = time.monotonic()
    with pytest.raises(psycopg.OperationalError, match="timeout"):
        psycopg.connect(_conninfo(pg_proxy.url), connect_timeout=2)
    assert 1.5 < time.monotonic() - started < 4
    pg_proxy.pass_traffic()
    with psycopg.connect(_conninfo(pg_proxy.url)) as again:
        assert again.execute("SELECT 1").fetchone() == (1,)
    connection.close()


def test_a_dropped_commit_answer_leaves_the_commit_done_and_the_client_in_the_dark(
    pg_proxy: FaultProxy, postgres_url: str
) -> None:
    with psycopg.connect(_conninfo(postgres_url), autocommit=True) as direct:
        direct.execute("CREATE TABLE proxied (n int)")
    connection = psycopg.connect(_conninfo(pg_proxy.url))
    connection.execute("INSERT INTO proxied VALUES (1)")
    pg_proxy.drop_commit_answer()
    with pytest.raises(psycopg.OperationalError):
        connection.commit()
    assert pg_proxy.commits_dropped == 1
    with psycopg.connect(_conninfo(postgres_url)) as direct:
        assert direct.execute("SELECT n FROM proxied").fetchall() == [(1,)]
    # One-shot: the next commit through the proxy is answered.
    with psycopg.connect(_conninfo(pg_proxy.url)) as again:
        again.execute("INSERT INTO proxied VALUES (2)")
    assert pg_proxy.commits_dropped == 1


def test_refusing_can_cut_the_open_connections_too(pg_proxy: FaultProxy) -> None:
    kept = psycopg.connect(_conninfo(pg_proxy.url))
    pg_proxy.refuse()
    kept.execute("SELECT 1")  # refusing alone leaves it be
    pg_proxy.refuse(cut_open=True)
    time.sleep(0.1)
    assert pg_proxy.open_connections == 0
    with pytest.raises(psycopg.OperationalError):
        kept.execute("SELECT 1")
    with pytest.raises(psycopg.OperationalError, match="refused"):
        psycopg.connect(_conninfo(pg_proxy.url))


def test_a_forgotten_connection_looks_fine_until_it_is_used(pg_proxy: FaultProxy) -> None:
    connection = psycopg.connect(_conninfo(pg_proxy.url), autocommit=True)
    pg_proxy.forget_idle()
    check_still_open(connection)  # nothing came from the server: it looks open
    with pytest.raises(psycopg.OperationalError):
        connection.execute("SELECT 1")
    assert connection.broken
    with psycopg.connect(_conninfo(pg_proxy.url), autocommit=True) as fresh:  # only those open
        assert fresh.execute("SELECT 1").fetchone() == (1,)


def test_it_counts_the_requests_that_wait_for_an_answer(pg_proxy: FaultProxy) -> None:
    with psycopg.connect(_conninfo(pg_proxy.url), autocommit=True) as connection:
        before = pg_proxy.round_trips
        connection.execute("SELECT 1")  # the extended protocol: Parse, Bind, ..., Sync
        connection.execute("SELECT %s", [2])
        with connection.transaction():  # BEGIN, the statement, COMMIT
            connection.execute("SELECT 3")
        assert pg_proxy.round_trips - before == 5
