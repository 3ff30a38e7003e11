"""A click, or "Back", that comes before htmx has taken the page over (static/js/early_actions.js).

htmx loads after the page and starts at DOMContentLoaded; until then its forms are plain forms
and nothing restores the addresses it pushed. Here the server holds htmx back until the test
lets it go, so "before htmx" is a state the test is in for certain, not a race it may win: the
page is parsed and can be used, htmx is not there.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from flask import abort, request
from playwright.sync_api import Page, Request, expect

from tests.web.conftest import create_history, make_app
from webapp.db import get_emit
from webapp.live_server import LiveServer

pytestmark = pytest.mark.browser

HTMX_PATH = "/static/vendor/htmx.min.js"


class HtmxGate:
    """Holds every request for htmx until `let_through()`; `fail=True` answers them with a 503,
    as a network that lost the script would."""

    def __init__(self) -> None:
        self._open = threading.Event()
        self.fail = False

    def close(self) -> None:
        self._open.clear()
        self.fail = False

    def let_through(self, *, fail: bool = False) -> None:
        self.fail = fail
        self._open.set()

    def wait(self) -> None:
        self._open.wait(timeout=30)  # a test that never opens the gate fails, it does not hang


@pytest.fixture(scope="module")
def gated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, HtmxGate]]:
    store = tmp_path_factory.mktemp("early") / "emit.sqlite3"
    app = make_app(f"sqlite:///{store}", WTF_CSRF_ENABLED=True)
    gate = HtmxGate()

    @app.before_request
    def hold_htmx() -> None:
        if request.path == HTMX_PATH:
            gate.wait()
            if gate.fail:
                abort(503)

    with LiveServer(app) as server:
        yield server, gate
    gate.let_through()
    get_emit(app).close()


def cart_page_before_htmx(page: Page, gated: tuple[LiveServer, HtmxGate], cart_id: str) -> None:
    server, gate = gated
    gate.close()
    get_emit(server.app).create(cart_id)
    page.goto(f"{server.url}/carts/{cart_id}", wait_until="commit")
    page.evaluate("window.stillTheSamePage = true")


def posts(page: Page) -> list[Request]:
    sent: list[Request] = []
    page.on("request", lambda r: sent.append(r) if r.method == "POST" else None)
    return sent


def test_a_double_click_before_htmx_is_one_htmx_request(
    page: Page, gated: tuple[LiveServer, HtmxGate]
) -> None:
    _server, gate = gated
    cart_page_before_htmx(page, gated, "cart-early1")
    sent = posts(page)

    page.locator("#check-out").dblclick()
    gate.let_through()

    # Answered in place, as every click after htmx is: the reason next to the button.
    alert = page.locator("#cart-panel").get_by_role("alert")
    expect(alert).to_have_text("An empty cart cannot be checked out.")
    assert page.evaluate("window.stillTheSamePage") is True
    assert page.url.endswith("/carts/cart-early1")
    assert [(r.url.rsplit("/", 1)[1], r.headers.get("hx-request")) for r in sent] == [
        ("checkout", "true")
    ]


def test_without_htmx_a_held_click_goes_the_plain_way(
    page: Page, gated: tuple[LiveServer, HtmxGate]
) -> None:
    server, gate = gated
    cart_page_before_htmx(page, gated, "cart-early2")

    page.locator("#add-MUG-TRVL").click()
    gate.let_through(fail=True)  # htmx never arrives: the page works as without JavaScript

    expect(page).to_have_url(f"{server.url}/carts/cart-early2#product-MUG-TRVL")
    expect(page.locator("#product-MUG-TRVL")).to_contain_text("1 in cart")
    assert get_emit(server.app).aggregate("cart-early2").version == 2


def test_back_before_htmx_shows_the_version_in_the_address_bar(
    page: Page, gated: tuple[LiveServer, HtmxGate]
) -> None:
    server, gate = gated
    gate.let_through()
    url = f"{server.url}/carts/{create_history(get_emit(server.app), 'cart-early3')}/history"
    page.goto(url)
    for version in (6, 5):
        page.locator("#step-previous").click()
        expect(page).to_have_url(f"{url}?version={version}")

    gate.close()
    # htmx keeps no copies of pages: "Back" reloads the page, which now waits for htmx.
    page.go_back(wait_until="commit")
    expect(page.locator("#replay h2")).to_have_text("As of version 6")
    page.go_back(wait_until="commit")  # to an entry htmx made, in the page before the reload
    expect(page).to_have_url(url)
    expect(page.locator("#replay h2")).to_have_text("As of version 7")
    gate.let_through()
