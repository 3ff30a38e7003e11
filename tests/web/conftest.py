"""Fixtures for the web app, flaskr style: `app` on a fresh SQLite file, its `client` and CLI
`runner`. CSRF checks are off here so tests can post plain dicts; test_security.py turns them on.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from webapp import create_app
from webapp.live_server import LiveServer, chromium_launch_options
from webapp.store import CartEmit, get_emit, init_db

HTMX = {"HX-Request": "true"}


def make_app(store_url: str, **config: Any) -> Flask:
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test",
            "EMIT_STORE_URL": store_url,
            "WTF_CSRF_ENABLED": False,
            "CARTS_PER_PAGE": 20,
            **config,
        }
    )
    init_db(app)
    return app


@pytest.fixture
def app(sqlite_url: str) -> Iterator[Flask]:
    app = make_app(sqlite_url)
    yield app
    get_emit(app).close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def emit(app: Flask) -> CartEmit:
    return get_emit(app)


def open_cart(client: FlaskClient) -> str:
    """Open a cart through the app, as the "New cart" button does; return its id."""
    response = client.post("/carts")
    assert response.status_code == 303
    return response.headers["Location"].rsplit("/", 1)[1]


# --- browser tests -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """pytest-playwright launches Debian's Chromium (Playwright cannot download its own here)."""
    return {**browser_type_launch_args, **chromium_launch_options()}


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The app, with CSRF checks on as in production, served from a thread at a free port."""
    store = tmp_path_factory.mktemp("live") / "emit.sqlite3"
    app = make_app(f"sqlite:///{store}", WTF_CSRF_ENABLED=True)
    with LiveServer(app) as server:
        yield server
    get_emit(app).close()
