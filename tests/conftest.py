"""Fixtures shared by the whole suite: store URLs for SQLite files and PostgreSQL schemas."""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from hypothesis import settings

from emit import Emit, EventStore, InMemoryEventStore, SqlEventStore
from tests.account import Account, account
from tests.faultproxy import FaultProxy

# CI must not turn red at random: property tests explore the same examples on every run there.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI") or os.environ.get("EMIT_REQUIRE_POSTGRES") == "1":
    settings.load_profile("ci")

POSTGRES_URL = os.environ.get("EMIT_TEST_POSTGRES_URL", "")
REQUIRE_POSTGRES = os.environ.get("EMIT_REQUIRE_POSTGRES") == "1"
NO_POSTGRES = (
    "PostgreSQL tests skipped: set EMIT_TEST_POSTGRES_URL (.ci/run points it at the local server)"
)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'emit.sqlite3'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL whose connections work in a fresh, private schema, dropped afterwards."""
    if not POSTGRES_URL:
        if REQUIRE_POSTGRES:
            pytest.fail("EMIT_REQUIRE_POSTGRES=1 but EMIT_TEST_POSTGRES_URL is not set")
        pytest.skip(NO_POSTGRES)
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(_psycopg(POSTGRES_URL))
    try:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    except sa.exc.OperationalError as error:
        if REQUIRE_POSTGRES:
            raise
        pytest.skip(f"PostgreSQL at EMIT_TEST_POSTGRES_URL is not reachable: {error}")
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{_psycopg(POSTGRES_URL)}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_store(request: pytest.FixtureRequest) -> Iterator[EventStore]:
    """Each store emit ships, in turn, new and empty: in memory, a SQLite file, PostgreSQL."""
    if request.param == "memory":
        yield InMemoryEventStore()
        return
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    store = SqlEventStore(url)
    yield store
    store.close()


AccountEmit = Emit[Any, Any, Account]
Factory = Callable[..., AccountEmit]


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def make_emit(request: pytest.FixtureRequest) -> Iterator[Factory]:
    """Opens an `Emit` on the store under test; every call opens a new one on the same data."""
    memory = InMemoryEventStore()
    url = (
        None
        if request.param == "memory"
        else request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    )
    with ExitStack() as opened:

        def factory(**options: Any) -> AccountEmit:
            store: EventStore = memory if url is None else SqlEventStore(url)
            return Emit(account, store=opened.enter_context(closing(store)), **options)

        yield factory


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each SQL database emit supports, in turn."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(name))


def _psycopg(url: str) -> str:
    return (
        sa.make_url(url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    )


def fail_after_commits(store: SqlEventStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the store's commits reach the disk and then fail, as when a commit's answer is
    lost: the caller cannot tell it happened. `monkeypatch.undo()` ends it."""
    commit = store._appender._commit

    def commit_then_fail(driver_commit: Any, results: Any) -> None:
        def reached_the_disk_then_failed() -> None:
            driver_commit()
            raise sqlite3.OperationalError("disk I/O error")

        commit(reached_the_disk_then_failed, results)

    monkeypatch.setattr(store._appender, "_commit", commit_then_fail)


@pytest.fixture
def pg_proxy(postgres_url: str) -> Iterator[FaultProxy]:
    """A `FaultProxy` (tests/faultproxy.py) in front of the test server, passing traffic;
    `pg_proxy.url` is `postgres_url` (private schema included) through it."""
    with FaultProxy.in_front_of(postgres_url) as proxy:
        yield proxy
