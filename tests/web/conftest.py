"""Fixtures for the web app, flaskr style: `app` on a fresh SQLite file, its `client` and CLI
`runner`, and `operator_client`, signed in as an operator through the sign-in form. CSRF checks
are off here so tests can post plain dicts; test_security.py turns them on.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from werkzeug.test import TestResponse

from emit.codec import to_json
from emit.ids import new_id
from emit.store import AppendRequest, NewEvent
from shop.cart import (
    AddItem,
    CartCommand,
    ChangeQuantity,
    CheckOut,
    QuantityChanged,
    RemoveLine,
    cart_decider,
)
from webapp import create_app, operators
from webapp.db import CartEmit, get_emit, get_engine, init_db
from webapp.live_server import LiveServer, chromium_launch_options

HTMX = {"HX-Request": "true"}
# The operator the tests sign in as (`add_operator`, `operator_client`).
OPERATOR = "olga"
PASSWORD = "correct horse battery staple"


def make_app(store_url: str, **config: Any) -> Flask:
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test",
            "EMIT_STORE_URL": store_url,
            "WTF_CSRF_ENABLED": False,
            "CARTS_PER_PAGE": 20,
            # Tests run the policies themselves (`get_policies(app).catch_up()`), when they
            # want them: no background thread per test app.
            "EMIT_RUN_POLICIES": False,
            "RECEIPTS_FIRST_RETRY_WAIT": 0.001,
            # Tests post far faster than people: the limits stay on, far out of their way
            # (test_limits.py turns them down).
            "RATE_LIMIT_NEW_CARTS": "100000 per minute",
            "RATE_LIMIT_ACTIONS": "100000 per minute",
            "RATE_LIMIT_CART_COMMANDS": "100000 per minute",
            "RATE_LIMIT_SIGN_IN": "100000 per minute",
            **config,
        }
    )
    init_db(app)
    return app


AppFactory = Callable[..., Flask]


@pytest.fixture
def app_with(sqlite_url: str) -> Iterator[AppFactory]:
    """Makes the app with settings of its own (`make_app`'s) on the test's SQLite file; each one
    made is closed after the test."""
    with ExitStack() as opened:

        def make(**config: Any) -> Flask:
            app = make_app(sqlite_url, **config)
            opened.callback(get_emit(app).close)
            return app

        yield make


@pytest.fixture
def app(app_with: AppFactory) -> Flask:
    return app_with()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def operator_client(app: Flask) -> FlaskClient:
    """A client signed in as an operator, through the sign-in form, as a person would."""
    add_operator(app)
    client = app.test_client()
    response = sign_in(client)
    assert response.status_code == 303, response.text
    return client


def add_operator(app: Flask, name: str = OPERATOR, password: str = PASSWORD) -> None:
    operators.create(get_engine(app), name, password)


def sign_in(client: FlaskClient, name: str = OPERATOR, password: str = PASSWORD) -> TestResponse:
    """Post the sign-in form, with the CSRF token of the page when CSRF checks are on."""
    form = client.get("/sign-in").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    data = {"name": name, "password": password}
    if token is not None:
        data["csrf_token"] = token[1]
    return client.post("/sign-in", data=data)


@pytest.fixture
def emit(app: Flask) -> CartEmit:
    return get_emit(app)


def open_cart(client: FlaskClient) -> str:
    """Open a cart through the app, as the "New cart" button does; return its id."""
    response = client.post("/carts")
    assert response.status_code == 303
    return response.headers["Location"].rsplit("/", 1)[1]


def open_cart_with(client: FlaskClient, emit: CartEmit, *commands: CartCommand) -> str:
    """Open a cart through the app and handle the commands on it directly; return its id."""
    cart_id = open_cart(client)
    for command in commands:
        emit.handle_command(cart_id, command)
    return cart_id


def create_history(emit: CartEmit, cart_id: str) -> str:
    """A checked-out cart with seven versions: 1 opened, 2 two bags of beans, 3 filters, 4 a
    mug, 5 three bags of beans, 6 the mug removed, 7 checked out (€45.20 for 4 items)."""
    emit.create(cart_id)
    for command in [
        AddItem("BEAN-250", 2),
        AddItem("FILT-100"),
        AddItem("MUG-TRVL"),
        ChangeQuantity("BEAN-250", 3),
        RemoveLine("MUG-TRVL"),
        CheckOut(),
    ]:
        emit.handle_command(cart_id, command)
    return cart_id


def append_flips(emit: CartEmit, cart_id: str, until: int) -> None:
    """Grow a cart with one bag of beans to `until` versions by flipping its quantity between 1
    and 2, in appends of 5,000 events through the store: a second, where 20,000 commands one
    by one take about 12 s here. The projections (the dashboard) do not see these events until
    the next command catches them up: only the history reads them."""
    emit.create(cart_id)
    line = emit.handle_command(cart_id, AddItem("BEAN-250")).state.lines[0]
    version = 2
    while version < until:
        events = []
        for next_version in range(version + 1, min(version + 5_000, until) + 1):
            to = 1 + next_version % 2
            flip = QuantityChanged(line.sku, line.name, line.unit_price, 3 - to, to)
            type_name, schema_version, data = cart_decider.encode(flip)
            command = str(new_id())
            metadata = {"correlation_id": command, "causation_id": command, "command": "flip"}
            events.append(
                NewEvent(new_id(), type_name, schema_version, to_json(data), to_json(metadata))
            )
        (result,) = emit.store.append_many([AppendRequest(cart_id, version, events)])
        assert not isinstance(result, Exception), result
        version += len(events)
    emit.evict(cart_id)


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
