"""Fixtures shared by the whole suite: store URLs for SQLite files and PostgreSQL schemas."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from hypothesis import settings

from emit import EventStore, InMemoryEventStore, SqlEventStore
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


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each SQL database emit supports, in turn."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(name))


def _psycopg(url: str) -> str:
    return (
        sa.make_url(url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    )


@pytest.fixture
def pg_proxy(postgres_url: str) -> Iterator[FaultProxy]:
    """A `FaultProxy` (tests/faultproxy.py) in front of the test server, passing traffic;
    `pg_proxy.url` is `postgres_url` (private schema included) through it."""
    with FaultProxy.in_front_of(postgres_url) as proxy:
        yield proxy
