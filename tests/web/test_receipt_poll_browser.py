"""A checked-out cart's page asks for its receipt's number until it is there: quietly, with no
console warning on each poll (it used to include a version field a checked-out cart has not)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from tests.web.test_browser import add, open_new_cart
from webapp.live_server import LiveServer

pytestmark = pytest.mark.browser


def test_the_receipt_poll_logs_nothing(page: Page, live_server: LiveServer) -> None:
    said: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type in ("warning", "error"):
            said.append(f"{message.type}: {message.text}")

    page.on("console", on_console)
    open_new_cart(page, live_server)
    add(page, "TEA-CHAI", 1)
    expect(page.locator("#line-TEA-CHAI")).to_be_visible()
    page.locator("#check-out").click()
    expect(page.locator("#receipt-number")).to_contain_text("being issued")
    # The live server runs no policies: the page keeps asking. Two polls, then look.
    for _ in range(2):
        with page.expect_response(re.compile(r"/receipt$"), timeout=5000):
            pass
    assert said == []
