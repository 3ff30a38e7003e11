"""The web app when its database fails, for real: PostgreSQL behind the fault proxy
(tests/faultproxy.py), and a SQLite file that is full. Every route answers 503 (never 500) with
words that fit the cause, within the store's time limit when the database hangs, and works
again without a restart once the database is back."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from werkzeug.test import TestResponse

from shop.cart import AddItem
from tests.faultproxy import FaultProxy
from tests.web.conftest import (
    HTMX,
    OPERATOR,
    PASSWORD,
    add_operator,
    create_history,
    make_app,
    sign_in,
)
from webapp import create_app
from webapp.db import get_emit, get_engine, get_policies

TIMEOUT = 1.0
# A request on a frozen database waits for one step of its own: a new connection (psycopg
# waits at least 2 s for one) or a statement's answer (the timeout and a second of grace). A
# command may first wait for the group commit's batch before it to fail the same way.
STEP = max(2.0, TIMEOUT + 1.0)
LIMIT = 2 * STEP + 0.5

CART = "cart-f0"  # checked out
# Commands and up-to-date reads of one cart wait for each other (the aggregate's lock), so on a
# frozen database they would wait one timeout each: every route gets a cart of its own.
OPEN_CARTS = {
    "carts.add_item": "cart-f1",
    "carts.change_quantity": "cart-f2",
    "carts.remove_line": "cart-f3",
    "carts.check_out": "cart-f4",
    "carts.change_quantity_by": "cart-f9",
}
CHECKED_OUT_CARTS = {
    "carts.show": "cart-f5",
    "carts.receipt": "cart-f6",
    "history.show": "cart-f7",
    "history.export": "cart-f8",
    "history.copy_as_test": "cart-f10",
    "forks.fork_cart": "cart-f11",
}
OPEN_CART = OPEN_CARTS["carts.add_item"]
OPERATOR_SESSION = "test_operator_session"


def routes(app: Flask) -> list[tuple[str, str, dict[str, str]]]:
    """Every route of the app, as (method, URL, form) with real values in its parameters."""
    values = {
        "cart_id": CART,
        "sku": "BEAN-250",
        "dead_letter_id": "1",
        "name": "carts",
        "position": "1",
    }
    forms = {
        "carts.add_item": {"sku": "BEAN-250", "quantity": "1"},
        "carts.change_quantity": {"quantity": "2"},
        "carts.change_quantity_by": {"by": "1"},
        "auth.sign_in": {"name": OPERATOR, "password": PASSWORD},
        "ops.receipt_printer": {"jammed": "0"},
        "forks.fork_cart": {"version": "2"},
        "imports.open_export": {"document": EXPORT.read_text(encoding="utf-8")},
    }
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        url = re.sub(r"<(?:[^<>]*:)?(\w+)>", lambda match: values[match[1]], rule.rule)
        own = OPEN_CARTS.get(rule.endpoint) or CHECKED_OUT_CARTS.get(rule.endpoint, CART)
        url = url.replace(CART, own)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((method, url, forms.get(rule.endpoint, {})))
    return found


# Routes that work during an outage: none. (Evicting a cart from this process's pool, or opening
# an export, reads no events, but every page first asks the database who the signed-in
# operator is.)
NEEDS_NO_STORE: set[tuple[str, str]] = set()
# What the routes send to open an export: one the suite keeps.
EXPORT = Path(__file__).parent / "fixtures" / "cart-5eed0001.events.json"


def request(app: Flask, method: str, url: str, form: dict[str, str], htmx: bool) -> TestResponse:
    """`method` on `url` from a new client, signed in as the operator (its session cookie, from
    before the fault: signing in needs the database too)."""
    client = app.test_client()
    client.set_cookie("session", app.extensions[OPERATOR_SESSION])
    headers = HTMX if htmx else {}
    if htmx and url == "/ops":
        url = "/ops?part=subscribers"  # htmx asks for a part of the page
    if method == "GET":
        return client.get(url, headers=headers)
    return client.post(url, data=form, headers=headers)


def answers(app: Flask, *, htmx: bool = False) -> dict[tuple[str, str], tuple[int, float, str]]:
    """Every route's status, seconds taken and body, asked all at once (one thread each)."""

    def timed(method: str, url: str, form: dict[str, str]) -> tuple[int, float, str]:
        started = time.monotonic()
        response = request(app, method, url, form, htmx)
        return response.status_code, time.monotonic() - started, response.text

    every = routes(app)
    with ThreadPoolExecutor(len(every)) as threads:
        futures = {(m, u): threads.submit(timed, m, u, f) for m, u, f in every}
    return {key: future.result() for key, future in futures.items()}


@pytest.fixture
def pg_app(pg_proxy: FaultProxy) -> Iterator[Flask]:
    app = make_app(pg_proxy.url, EMIT_STORE_TIMEOUT=TIMEOUT)
    emit = get_emit(app)
    for cart_id in [CART, *CHECKED_OUT_CARTS.values()]:
        create_history(emit, cart_id)
    for cart_id in OPEN_CARTS.values():
        emit.create(cart_id)
        emit.handle_command(cart_id, AddItem("BEAN-250"))
    get_policies(app).catch_up()
    add_operator(app)
    operator = app.test_client()
    assert sign_in(operator).status_code == 303
    cookie = operator.get_cookie("session")
    assert cookie is not None
    app.extensions[OPERATOR_SESSION] = cookie.value
    yield app
    emit.close()


def unavailable(seen: dict[tuple[str, str], tuple[int, float, str]]) -> dict[Any, int]:
    return {key: status for key, (status, _, _) in seen.items() if key not in NEEDS_NO_STORE}


@pytest.mark.postgres
@pytest.mark.parametrize("fault", ["refuse", "cut"])
def test_every_route_answers_503_while_the_database_is_gone_and_200_once_back(
    pg_app: Flask, pg_proxy: FaultProxy, fault: str, caplog: pytest.LogCaptureFixture
) -> None:
    if fault == "refuse":
        pg_proxy.refuse(cut_open=True)
    else:
        pg_proxy.cut()
    with caplog.at_level(logging.ERROR, logger=pg_app.logger.name):
        seen = answers(pg_app)
    statuses = unavailable(seen)
    assert statuses == dict.fromkeys(statuses, 503)
    assert all("cannot be reached" in text for _, _, text in seen.values() if _ == 503)
    # One line per failure, with the cause, and no traceback.
    failures = [r for r in caplog.records if r.getMessage().startswith("Event store failure")]
    assert len(failures) == len(statuses)
    assert all("(unreachable)" in r.getMessage() and r.exc_info is None for r in failures)
    assert all("\n" not in r.getMessage() for r in failures)

    pg_proxy.pass_traffic()
    back = {key: status for key, (status, _, _) in answers(pg_app).items()}
    # The same app, not restarted, answers as it would have (dead letter 1 does not exist).
    assert max(back.values()) < 500
    pages = {key: status for key, status in back.items() if key[0] == "GET"}
    assert back[("POST", f"/carts/{OPEN_CARTS['carts.check_out']}/checkout")] == 303
    # (Dead letter 1 does not exist; the sign-in page sends a signed-in operator on.)
    assert pages == dict.fromkeys(pages, 200) | {
        ("GET", "/ops/dead-letters/1"): 404,
        ("GET", "/sign-in"): 303,
    }
    assert back[("POST", f"/carts/{OPEN_CART}/items")] == 303


@pytest.mark.postgres
def test_every_route_answers_503_within_the_limit_while_the_database_hangs(
    pg_app: Flask, pg_proxy: FaultProxy
) -> None:
    pg_proxy.freeze()
    seen = answers(pg_app, htmx=True)
    statuses = unavailable(seen)
    assert statuses == dict.fromkeys(statuses, 503)
    slow = {key: round(took, 2) for key, (_, took, _) in seen.items() if took > LIMIT}
    assert not slow, f"over {LIMIT} s: {slow}"
    assert all("did not answer in time" in t for key, (_, _, t) in seen.items() if key in statuses)
    pg_proxy.pass_traffic()
    assert request(pg_app, "GET", f"/carts/{CART}", {}, htmx=False).status_code == 200


@pytest.mark.postgres
def test_commands_queued_on_one_cart_answer_503_within_the_limit_while_the_database_hangs(
    pg_app: Flask, pg_proxy: FaultProxy
) -> None:
    pg_proxy.freeze()

    def add() -> tuple[int, float]:
        started = time.monotonic()
        response = request(pg_app, "POST", f"/carts/{OPEN_CART}/items", {"sku": "BEAN-250"}, True)
        return response.status_code, time.monotonic() - started

    with ThreadPoolExecutor(6) as threads:
        seen = list(threads.map(lambda _: add(), range(6)))
    assert [status for status, _ in seen] == [503] * 6
    assert max(took for _, took in seen) < LIMIT
    pg_proxy.pass_traffic()
    assert request(pg_app, "GET", f"/carts/{OPEN_CART}", {}, htmx=False).status_code == 200


@pytest.mark.postgres
def test_a_503_for_htmx_goes_to_the_page_alert(pg_app: Flask, pg_proxy: FaultProxy) -> None:
    pg_proxy.cut()
    response = request(pg_app, "POST", f"/carts/{OPEN_CART}/items", {"sku": "BEAN-250"}, True)
    assert response.status_code == 503
    assert response.headers["HX-Retarget"] == "#page-alert"
    assert response.headers["Retry-After"] == "5"
    assert "cannot be reached" in response.text


# --- a full disk ---------------------------------------------------------------------------------


def app_on(database: Path, url: str | None = None) -> Flask:
    """An app on a SQLite file holding one open cart, made the way a new process makes it
    (at `url`, if given, rather than the file's plain URL)."""
    setup = make_app(f"sqlite:///{database}")
    get_emit(setup).create(OPEN_CART)
    get_emit(setup).close()
    return create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test",
            "EMIT_STORE_URL": url or f"sqlite:///{database}",
            "WTF_CSRF_ENABLED": False,
            "EMIT_RUN_POLICIES": False,
        }
    )


def full_app(database: Path) -> Flask:
    """`app_on` a file that each connection lets grow by one page at most: soon full."""
    app = app_on(database)

    @sa.event.listens_for(get_engine(app), "connect")
    def _limit(dbapi_connection: Any, _record: Any) -> None:
        pages = dbapi_connection.execute("PRAGMA page_count").fetchone()[0]
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages + 1}")

    return app


def change_quantities(app: Flask) -> tuple[int, TestResponse]:
    """Add a line, then set its quantity to 2, 1, 2... until an answer is not a redirect:
    how many were acknowledged, and that answer. (No rule of the cart refuses these.)"""
    client = app.test_client()
    response = client.post(f"/carts/{OPEN_CART}/items", data={"sku": "BEAN-250"})
    acknowledged = 0
    while response.status_code == 303 and acknowledged < 2000:
        acknowledged += 1
        url = f"/carts/{OPEN_CART}/lines/BEAN-250/quantity"
        response = client.post(url, data={"quantity": acknowledged % 2 + 1})
    return acknowledged, response


def test_a_full_sqlite_database_is_a_503_that_says_so_and_stores_nothing_partial(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = full_app(tmp_path / "emit.sqlite3")
    with caplog.at_level(logging.DEBUG, logger=app.logger.name):
        acknowledged, response = change_quantities(app)
    assert response.status_code == 503, response.text
    assert "full" in response.text
    assert "init-db" not in response.text
    assert acknowledged > 1

    # One line in the log, with the kind; the traceback only at debug level.
    lines = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage().split(":")[0] for r in lines] == ["Event store failure (full)"]
    assert lines[0].exc_info is None
    assert [r.exc_info is not None for r in caplog.records if r.levelno == logging.DEBUG] == [True]

    # Nothing partial: the stream holds the acknowledged commands and nothing else, and the
    # read model (written in the same transactions) agrees with it.
    emit = get_emit(app)
    assert len(emit.history(OPEN_CART)) == 1 + acknowledged
    state = emit.get_state(OPEN_CART, catch_up=True)
    with get_engine(app).connect() as connection:
        row = connection.exec_driver_sql(
            "SELECT item_count FROM read_carts WHERE cart_id = ?", (OPEN_CART,)
        ).one()
        assert row[0] == state.item_count == (acknowledged - 1) % 2 + 1
        assert connection.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"
    emit.close()


def test_a_read_only_database_is_a_503_that_says_so_while_pages_still_read(
    tmp_path: Path,
) -> None:
    database = tmp_path / "emit.sqlite3"
    app = app_on(database, f"sqlite:///file:{database}?mode=ro&uri=true")
    client = app.test_client()
    assert client.get(f"/carts/{OPEN_CART}").status_code == 200
    response = client.post(f"/carts/{OPEN_CART}/items", data={"sku": "BEAN-250"})
    assert response.status_code == 503
    assert "read-only" in response.text
    assert "init-db" not in response.text
    get_emit(app).close()
