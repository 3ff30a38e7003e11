"""The "what am I looking at" note in a real browser: closed at first, opened on click, and
left as it was across a reload (static/js/explain.js keeps it in localStorage), per note."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from webapp.live_server import LiveServer

pytestmark = pytest.mark.browser


def test_a_note_stays_as_it_was_left(page: Page, live_server: LiveServer) -> None:
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.goto(f"{live_server.url}/")
    note = page.locator("#explain-dashboard")
    expect(note).not_to_have_attribute("open", "")
    expect(note.locator("dd").first).to_be_hidden()

    note.locator("summary").click()
    expect(note).to_have_attribute("open", "")
    expect(note.locator("dd").first).to_be_visible()
    # The browser fires "toggle" a moment after the note opens: reload once it is remembered.
    page.wait_for_function("localStorage.getItem('explain-dashboard') === 'open'")
    page.reload()
    expect(page.locator("#explain-dashboard")).to_have_attribute("open", "")

    # Another page's note is its own: still closed.
    page.goto(f"{live_server.url}/read-models")
    expect(page.locator("#explain-read-models")).not_to_have_attribute("open", "")

    page.goto(f"{live_server.url}/")
    page.locator("#explain-dashboard summary").click()
    expect(page.locator("#explain-dashboard")).not_to_have_attribute("open", "")
    page.wait_for_function("localStorage.getItem('explain-dashboard') === 'closed'")
    page.reload()
    expect(page.locator("#explain-dashboard")).not_to_have_attribute("open", "")
    assert problems == []
