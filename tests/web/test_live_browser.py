"""Live pages in a real browser: two pages on one cart follow each other, served by gunicorn
as docs/operations.md says, on SQLite and PostgreSQL; a growing cart's history follows it; a
quantity being typed is not disturbed by a live update.

The 2 s of the spec are the waits' timeouts: a page that hears of a change later fails.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from shop.cart import AddItem
from tests.web.conftest import make_app
from tests.web.test_browser import add, open_new_cart
from webapp.db import get_emit
from webapp.live_server import LiveServer

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SEEN_WITHIN_MS = 2000
# docs/operations.md: "Serving it"; the workers and threads of the documented command.
GUNICORN_ARGS = ("--workers=2", "--threads=256")


class Gunicorn:
    """The app under gunicorn, as documented for production, on `store_url` at a free port; a
    process this test starts and ends by its pid."""

    def __init__(self, store_url: str) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "FLASK_EMIT_STORE_URL": store_url,
            "FLASK_SECRET_KEY": "test-only-secret",
        }
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in `stop`)
        self.process = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("gunicorn")),
                *GUNICORN_ARGS,
                f"--bind=127.0.0.1:{port}",
                "--log-level=warning",
                "webapp:create_app()",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )
        self._wait_until_listening(port)

    def _wait_until_listening(self, port: int) -> None:
        for _ in range(300):  # 30 s
            if self.process.poll() is not None:
                self._log.seek(0)
                raise RuntimeError(f"gunicorn exited: {self._log.read().decode()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return
            except OSError:
                # Not listening yet: wait a tenth of a second for the process to change.
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(timeout=0.1)
        self.stop()
        raise RuntimeError("gunicorn did not listen within 30 s")

    def stop(self) -> None:
        # SIGINT: gunicorn's quick shutdown. (SIGTERM's graceful one waits for the live
        # streams still open to end, up to LIVE_STREAM_SECONDS.)
        os.kill(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self._log.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def gunicorn(request: pytest.FixtureRequest) -> Iterator[Gunicorn]:
    url = str(
        request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    )
    app = make_app(url)  # `flask init-db`: the tables and read models
    get_emit(app).close()
    server = Gunicorn(url)
    try:
        yield server
    finally:
        server.stop()


def test_two_pages_on_one_cart_see_each_others_changes(
    browser: Browser, gunicorn: Gunicorn
) -> None:
    context = browser.new_context()
    try:
        page_a = context.new_page()
        page_a.goto(f"{gunicorn.url}/")
        page_a.get_by_role("button", name="New cart").click()
        expect(page_a.locator("#cart-panel")).to_be_visible()
        page_b = context.new_page()
        page_b.goto(page_a.url)
        expect(page_b.locator("#cart-panel")).to_contain_text("Your cart is empty")

        add(page_a, "MUG-TRVL", 1)
        expect(page_a.locator("#line-MUG-TRVL")).to_be_visible()
        expect(page_b.locator("#line-MUG-TRVL")).to_be_visible(timeout=SEEN_WITHIN_MS)
        expect(page_b.locator("#live-note")).to_have_text(
            "Added elsewhere: 1 × Travel mug.", timeout=SEEN_WITHIN_MS
        )
        expect(page_b.locator("#cart-summary")).to_contain_text("€22.00")

        # And back: the other page's change shows on the first, whose own add said nothing.
        add(page_b, "TEA-CHAI", 2)
        expect(page_a.locator("#line-TEA-CHAI")).to_be_visible(timeout=SEEN_WITHIN_MS)
        expect(page_a.locator("#live-note")).to_have_text(
            "Added elsewhere: 2 × Chai tea, 20 bags.", timeout=SEEN_WITHIN_MS
        )
        expect(page_b.locator("#live-note")).to_have_text("Added elsewhere: 1 × Travel mug.")

        # A decision on what the page shows now pays for what the other page added.
        page_a.locator("#check-out").click()
        expect(page_b.locator("#cart-panel")).to_contain_text("Receipt", timeout=SEEN_WITHIN_MS)
    finally:
        context.close()


@pytest.fixture
def server(sqlite_url: str) -> Iterator[LiveServer]:
    app = make_app(sqlite_url, WTF_CSRF_ENABLED=True)
    with LiveServer(app) as served:
        yield served
    get_emit(app).close()


def test_the_history_of_a_growing_cart_follows_it_without_moving_an_older_version(
    page: Page, server: LiveServer
) -> None:
    emit = get_emit(server.app)
    emit.create("growing")
    emit.handle_command("growing", AddItem("BEAN-250"))
    page.goto(f"{server.url}/carts/growing/history")
    readout = page.locator("#scrubber-readout")
    expect(readout).to_contain_text("Version 2 of 2")

    emit.handle_command("growing", AddItem("MUG-TRVL"))  # elsewhere: not through this page
    expect(readout).to_contain_text("Version 3 of 3", timeout=SEEN_WITHIN_MS)
    expect(page.locator("#event-3")).to_contain_text("Added 1 × Travel mug")
    expect(page.locator("#version-range")).to_have_value("3")
    expect(page.locator("#events-stale")).to_be_hidden()

    # Looking at an older version: it stays there, and the page says what is new.
    page.locator("#step-previous").click()
    expect(readout).to_contain_text("Version 2 of 3")
    emit.handle_command("growing", AddItem("TEA-CHAI"))
    expect(page.locator("#history-live")).to_contain_text(
        "1 new event since this page was loaded", timeout=SEEN_WITHIN_MS
    )
    expect(readout).to_contain_text("Version 2 of 3")
    expect(page.locator("#version-range")).to_have_value("2")
    page.get_by_role("link", name="Show the latest version").click()
    expect(readout).to_contain_text("Version 4 of 4")


def test_typing_a_quantity_is_not_disturbed_by_a_live_update(
    page: Page, server: LiveServer
) -> None:
    cart_url = open_new_cart(page, server)
    cart_id = cart_url.rsplit("/", 1)[1]
    add(page, "MUG-TRVL", 1)
    quantity = page.locator("#line-quantity-MUG-TRVL")
    expect(quantity).to_have_value("1")

    quantity.click()
    quantity.fill("7")
    get_emit(server.app).handle_command(cart_id, AddItem("TEA-CHAI"))  # elsewhere

    # The update came, and waits: the field keeps what is typed, and the focus.
    expect(page.locator("#cart-panel[data-live-waiting]")).to_have_count(1, timeout=5000)
    expect(quantity).to_have_value("7")
    expect(quantity).to_be_focused()
    expect(page.locator("#line-TEA-CHAI")).to_have_count(0)

    # Once the person leaves the field, the cart catches up.
    page.locator("h1").click()
    expect(page.locator("#line-TEA-CHAI")).to_be_visible(timeout=SEEN_WITHIN_MS)
    expect(page.locator("#live-note")).to_have_text("Added elsewhere: 1 × Chai tea, 20 bags.")


def test_the_newest_page_of_the_log_follows_it_and_keeps_its_filter(
    page: Page, server: LiveServer
) -> None:
    emit = get_emit(server.app)
    emit.create("logged")
    page.goto(f"{server.url}/events?type=ItemAdded")
    expect(page.locator("#log-empty")).to_be_visible()

    emit.handle_command("logged", AddItem("MUG-TRVL"))  # elsewhere: not through this page
    row = page.locator("#log-rows li").first
    expect(row).to_contain_text("Added 1 × Travel mug", timeout=SEEN_WITHIN_MS)
    assert page.url.endswith("/events?type=ItemAdded")  # the address is the page's still
    emit.handle_command("logged", AddItem("TEA-CHAI"))
    expect(page.locator("#log-rows li")).to_have_count(2, timeout=SEEN_WITHIN_MS)
    expect(page.locator("#log-rows li").first).to_contain_text("Chai tea")
