"""/read-models through HTTP: each projection's event types, rows a page at a time (following
the links, as without JavaScript), checkpoints against the head, and the rebuild button:
refused to anyone not signed in, run in the background for an operator, refused while it runs,
and its failure said. Rows are paged on SQLite and PostgreSQL alike."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from html import unescape
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from emit import Emit, SqlEventStore
from shop.cart import AddItem, CheckOut, cart_decider
from tests.web.conftest import HTMX, AppFactory, add_operator, make_app, sign_in
from tests.web.html import element, has_element
from webapp.db import CartEmit, get_emit, get_engine, get_policies
from webapp.read_models import EXPLAINED, PROJECTIONS, carts, open_lines, product_sales
from webapp.rebuilds import Rebuild, get_rebuilds
from webapp.table_pages import read_page


def every_row(app: Flask) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every read model table, by primary key."""
    with get_engine(app).connect() as connection:
        return {
            table.name: [
                tuple(row)
                for row in connection.execute(sa.select(table).order_by(*table.primary_key.columns))
            ]
            for table in (carts, open_lines, product_sales)
        }


def shop_of(emit: CartEmit, carts_count: int) -> None:
    """`carts_count` carts, each with two lines; every third checked out."""
    for n in range(carts_count):
        cart_id = f"cart-{n:02d}"
        emit.create(cart_id)
        emit.handle_command(cart_id, AddItem("BEAN-250", 1 + n % 3))
        emit.handle_command(cart_id, AddItem("FILT-100"))
        if n % 3 == 0:
            emit.handle_command(cart_id, CheckOut())


def pager(html: str, table: str) -> dict[str, str]:
    section = element(html, f"rows-{table}")
    links = re.findall(r'<a class="button" href="([^"]+)"[^>]*>([^<]+)</a>', section)
    return {label.strip(" ←→"): unescape(href) for href, label in links}


def shown_rows(html: str, table: str) -> list[list[str]]:
    body = element(element(html, f"rows-{table}"), f"rows-{table}-body")
    return [
        [unescape(cell) for cell in re.findall(r"<td>(.*?)</td>", row)]
        for row in re.findall(r"<tr>(.*?)</tr>", body, flags=re.DOTALL)
    ]


def test_each_projection_with_the_events_it_reads_and_its_checkpoint(
    client: FlaskClient, emit: CartEmit
) -> None:
    shop_of(emit, 2)
    page = client.get("/read-models").text
    head = emit.store.head_position()
    for explained in EXPLAINED:
        name = explained.projection.name
        reads = element(page, f"reads-{name}")
        for event_type in explained.reads:
            assert f'href="/events?type={event_type.__name__}"' in reads
        checkpoint = element(page, f"checkpoint-{name}")
        assert f"position <strong>{head}</strong> of head <strong>{head}</strong>" in checkpoint
        assert "up to date" in checkpoint
        for figure in explained.figures:
            assert has_element(page, figure.anchor)
    assert {e.projection.name for e in EXPLAINED} == {p.name for p in PROJECTIONS}
    policy = element(page, "policy-receipts")
    assert f'<td class="num">{head}</td>' in policy  # the head; the checkpoint is behind it
    assert "still to handle" in policy
    get_policies(client.application).catch_up()
    assert "up to date" in element(client.get("/read-models").text, "policy-receipts")


def test_rows_come_a_page_at_a_time_following_the_links(
    client: FlaskClient, emit: CartEmit
) -> None:
    shop_of(emit, 30)  # 30 rows in read_carts; 40 open lines (20 open carts, two lines each)
    expected = every_row(client.application)
    for table, size in [("read_carts", 30), ("read_open_lines", 40)]:
        page = client.get("/read-models").text
        seen = shown_rows(page, table)
        assert len(seen) == 25
        assert "Previous rows" not in pager(page, table)
        second = client.get(pager(page, table)["Next rows"]).text
        assert "Next rows" not in pager(second, table)
        rest = shown_rows(second, table)
        assert len(seen) + len(rest) == size
        keys = [row[0] for row in expected[table]]
        assert [row[0] for row in seen + rest] == keys  # every row once, by primary key
        back = client.get(pager(second, table)["Previous rows"]).text
        assert shown_rows(back, table) == seen


def test_the_pager_swaps_one_table_with_htmx(client: FlaskClient, emit: CartEmit) -> None:
    shop_of(emit, 26)
    page = client.get("/read-models").text
    link = re.search(r'hx-get="([^"]+)" hx-target="#rows-read_carts"', page)
    assert link is not None
    assert 'hx-push-url="true"' in element(page, "rows-read_carts")
    response = client.get(unescape(link[1]), headers=HTMX)
    assert response.text.lstrip().startswith('<section id="rows-read_carts"')
    assert "<html" not in response.text
    assert [row[0] for row in shown_rows(response.text, "read_carts")] == ["cart-25"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("table=read_nothing", "There is no read model table"),
        ("table=read_open_lines&after=cart-01", "A key of read_open_lines is 2 value(s)"),
        ("table=read_carts&after=a&before=b", "either after a key or before one"),
    ],
)
def test_a_malformed_page_of_rows_is_a_400(client: FlaskClient, query: str, message: str) -> None:
    response = client.get(f"/read-models?{query}")
    assert response.status_code == 400
    assert message in unescape(response.text)


@pytest.mark.parametrize(
    "query",
    [
        "table=read_carts&after=a%00b",
        "table=read_product_sales&before=%00",
        "table=read_open_lines&after=cart-1&after=%00",
    ],
)
def test_a_key_with_a_nul_is_a_400_on_every_database(database_url: str, query: str) -> None:
    # PostgreSQL's text cannot hold a NUL: the query failed there, a 503 for a bad URL.
    app = make_app(database_url)
    try:
        response = app.test_client().get(f"/read-models?{query}")
        assert response.status_code == 400
        assert "A key holds no NUL character" in unescape(response.text)
    finally:
        get_emit(app).close()


def test_pages_of_a_composite_key_see_every_row_once(database_url: str) -> None:
    with Emit(cart_decider, store=SqlEventStore(database_url), projections=PROJECTIONS) as emit:
        for n in range(7):
            emit.create(f"c{n}")
            for sku in ["BEAN-250", "FILT-100", "MUG-TRVL"]:
                emit.handle_command(f"c{n}", AddItem(sku))
        assert isinstance(emit.store, SqlEventStore)
        engine = emit.store.engine
        keys: list[tuple[Any, ...]] = []
        page = read_page(engine, open_lines, limit=4)
        while True:
            keys.extend(row[:2] for row in page.rows)
            if page.next_after is None:
                break
            page = read_page(engine, open_lines, after=page.next_after, limit=4)
        assert keys == sorted(
            (f"c{n}", sku) for n in range(7) for sku in ["BEAN-250", "FILT-100", "MUG-TRVL"]
        )
        back = read_page(engine, open_lines, before=page.rows[0][:2], limit=4)
        assert [row[:2] for row in back.rows] == keys[-len(page.rows) - 4 : -len(page.rows)]


# --- rebuilding ----------------------------------------------------------------------------------


def test_only_an_operator_may_rebuild(client: FlaskClient) -> None:
    page = client.get("/read-models").text
    assert "rebuild-carts-button" not in page
    assert "sign in" in element(page, "rebuild-carts")
    response = client.post("/read-models/carts/rebuild")
    assert response.status_code == 401
    assert "Only a signed-in operator" in response.text
    with client.application.app_context():
        assert get_rebuilds().latest("carts") is None


def test_an_operator_rebuilds_and_the_rows_come_back_equal(
    operator_client: FlaskClient, emit: CartEmit
) -> None:
    app = operator_client.application
    shop_of(emit, 12)
    before = every_row(app)
    page = operator_client.get("/read-models").text
    assert 'action="/read-models/best_sellers/rebuild"' in page
    for name in ["carts", "best_sellers"]:
        response = operator_client.post(f"/read-models/{name}/rebuild")
        assert response.status_code == 303
        assert response.headers["Location"] == f"/read-models#rebuild-{name}"
        done = ended(app, name)
        assert done.state == "done", done
        assert done.total == emit.store.head_position()
    assert every_row(app) == before
    page = operator_client.get("/read-models").text
    assert "Rebuilt from the log" in element(page, "rebuild-carts")
    assert "100%" not in page  # no bar once it is done


@contextmanager
def write_lock(app: Flask) -> Iterator[None]:
    """SQLite's write lock, held by another connection (another process, as far as the app can
    tell) while the block runs: the app's appends and rebuilds wait for it."""
    path = sa.make_url(app.config["EMIT_STORE_URL"]).database
    assert path is not None
    with closing(sqlite3.connect(path, isolation_level=None)) as connection:
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            connection.execute("ROLLBACK")


def operator_on_a_shop(app: Flask) -> FlaskClient:
    """A signed-in operator's client on `app`, with three carts in its shop."""
    add_operator(app)
    client = app.test_client()
    sign_in(client)
    shop_of(get_emit(app), 3)
    return client


def ended(app: Flask, name: str) -> Rebuild:
    """The rebuild of `name`, once it has ended."""
    with app.app_context():
        rebuild = get_rebuilds().wait(name, timeout=60)
    assert rebuild is not None
    return rebuild


def test_a_second_press_while_it_runs_is_a_409(app_with: AppFactory) -> None:
    client = operator_on_a_shop(app_with(EMIT_STORE_TIMEOUT=60.0))
    app = client.application
    with write_lock(app):  # the rebuild waits for it: still running at the second press
        assert client.post("/read-models/carts/rebuild").status_code == 303
        progress = client.get("/read-models/carts/rebuild", headers=HTMX)
        assert 'hx-trigger="every 1s"' in progress.text
        assert "waiting for appends to pause" in progress.text
        page = client.get("/read-models").text
        assert '<noscript><meta http-equiv="refresh"' in page  # no JavaScript: it reloads
        assert "waiting for appends" in element(
            client.get("/read-models/carts/rebuild").text, "rebuild-carts"
        )
        assert "rebuild-carts-button" not in page
        again = client.post("/read-models/carts/rebuild")
        assert again.status_code == 409
        assert "already being rebuilt" in element(again.text, "rebuild-carts")
        with_htmx = client.post("/read-models/carts/rebuild", headers=HTMX)
        assert with_htmx.status_code == 409
        assert with_htmx.text.lstrip().startswith('<div id="rebuild-carts"')
        # Another projection's rebuild is not refused: it starts, and waits its turn.
        assert client.post("/read-models/best_sellers/rebuild").status_code == 303
    assert ended(app, "carts").state == "done"
    assert ended(app, "best_sellers").state == "done"
    finished = client.get("/read-models/carts/rebuild", headers=HTMX).text
    assert "every 1s" not in finished
    assert "<noscript><meta" not in client.get("/read-models").text


def test_a_failed_rebuild_says_why_and_changes_nothing(app_with: AppFactory) -> None:
    client = operator_on_a_shop(app_with(EMIT_STORE_TIMEOUT=0.2))
    app = client.application
    before = every_row(app)
    with write_lock(app):  # held past the store's timeout: the rebuild gives up
        assert client.post("/read-models/carts/rebuild").status_code == 303
        failed = ended(app, "carts")
    assert failed.state == "failed"
    part = element(client.get("/read-models").text, "rebuild-carts")
    assert "The rebuild of carts failed, and its read model is as it was" in part
    assert failed.error is not None
    assert unescape(part).count(failed.error) == 1
    assert "rebuild-carts-button" in part  # it can be pressed again
    assert every_row(app) == before


def test_rebuilding_a_projection_the_app_does_not_have_is_a_404(
    operator_client: FlaskClient,
) -> None:
    response = operator_client.post("/read-models/nothing/rebuild")
    assert response.status_code == 404
    assert "the projections are carts, best_sellers" in response.text
