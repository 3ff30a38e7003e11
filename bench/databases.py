"""Where the benchmark keeps its data: fresh SQLite files, and private PostgreSQL schemas.

Every scenario gets a database of its own, so no side reads the other's pages from a warm
cache or pays for the other's bloat. PostgreSQL schemas are dropped when the run ends.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa


class Workspace:
    """A temporary folder of SQLite files, removed on `close`."""

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="emit-bench-"))
        self._count = 0

    def sqlite_path(self, name: str) -> str:
        self._count += 1
        return str(self.path / f"{self._count:02d}-{name}.sqlite3")

    def close(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


class Postgres:
    """Private schemas on one PostgreSQL server, each dropped on `close`."""

    def __init__(self, url: str) -> None:
        self.url = sa.make_url(url).set(drivername="postgresql+psycopg")
        self._admin = sa.create_engine(self.url)
        self._schemas: list[str] = []
        with self._admin.connect() as connection:
            self.version = str(connection.exec_driver_sql("SHOW server_version").scalar())

    def schema(self) -> str:
        name = f"bench_{uuid.uuid4().hex[:12]}"
        with self._admin.begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{name}"')
        self._schemas.append(name)
        return name

    def emit_url(self, schema: str) -> str:
        """A URL whose connections work in `schema`."""
        options = quote(f"-csearch_path={schema}")
        return f"{self.url.render_as_string(hide_password=False)}?options={options}"

    def conninfo(self) -> str:
        """The server's URL as libpq (psycopg itself) takes it."""
        return self.url.set(drivername="postgresql").render_as_string(hide_password=False)

    def parts(self) -> dict[str, str]:
        """Host, port, database, user and password, as the peer's settings want them."""
        return {
            "host": self.url.host or "127.0.0.1",
            "port": str(self.url.port or 5432),
            "database": self.url.database or "postgres",
            "user": self.url.username or "postgres",
            "password": self.url.password or "",
        }

    def close(self) -> None:
        with self._admin.begin() as connection:
            for name in self._schemas:
                connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        self._schemas.clear()
        self._admin.dispose()


@contextmanager
def postgres_or_none(url: str | None) -> Iterator[Postgres | None]:
    if not url:
        yield None
        return
    postgres = Postgres(url)
    try:
        yield postgres
    finally:
        postgres.close()
