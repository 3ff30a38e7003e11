"""The timeline's tools in a real browser (Debian's Chromium through Playwright): the compare
control, Play's speed, the keys' help on "?", the filter by event type, copying a version as a
test, "Start a new cart from version N" leading to the new cart's history, and an export
opened read only (CSRF checks on, as in production)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from tests.web.conftest import create_history
from tests.web.test_history_browser import at_version, stopped_clock
from webapp.db import get_emit
from webapp.live_server import LiveServer

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def history_url(live_server: LiveServer) -> str:
    cart_id = create_history(get_emit(live_server.app), "cart-tools")
    return f"{live_server.url}/carts/{cart_id}/history"


@pytest.fixture
def problems(page: Page) -> list[str]:
    """Errors the page logs (Content-Security-Policy violations included) or throws."""
    found: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            found.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: found.append(str(error)))
    return found


def test_compare_with_a_chosen_version(page: Page, history_url: str, problems: list[str]) -> None:
    page.goto(f"{history_url}?version=5")
    page.evaluate("window.stillTheSamePage = true")
    page.locator("#compare-version").fill("1")
    page.locator("#compare").click()
    expect(page).to_have_url(f"{history_url}?version=5&compare=1")
    panel = page.locator("#replay")
    expect(panel).to_contain_text("3 lines changed since version 1")
    expect(panel.locator(".change--added")).to_have_count(3)
    expect(panel.locator(".delta")).to_have_text("+€67.20")
    expect(page.locator("#events .is-in-diff")).to_have_count(4)  # versions 2 to 5
    # Moves keep the comparison, and the page was never reloaded.
    page.locator("#step-next").click()
    expect(page).to_have_url(f"{history_url}?version=6&compare=1")
    expect(page.locator("#compare-version")).to_have_value("1")
    assert page.evaluate("window.stillTheSamePage") is True
    # Back to "the one before": an empty field.
    page.locator("#compare-version").fill("")
    page.locator("#compare").click()
    expect(page.locator("#replay")).to_contain_text("since version 5")
    assert problems == []


def test_play_at_each_speed(page: Page, history_url: str, problems: list[str]) -> None:
    stopped_clock(page)
    page.goto(f"{history_url}?version=1")
    speed = page.locator("#play-speed")
    expect(speed).to_have_value("1")
    speed.select_option("4")  # 1.2 s at 1×: 300 ms
    page.locator("#play").click()
    at_version(page, history_url, 2)
    page.clock.run_for(250)
    at_version(page, history_url, 2)
    page.clock.run_for(100)
    at_version(page, history_url, 3)
    page.locator("#play").click()  # pause
    speed.select_option("0.5")  # 2.4 s
    page.locator("#play").click()
    at_version(page, history_url, 4)
    page.clock.run_for(2300)
    at_version(page, history_url, 4)
    page.clock.run_for(200)
    at_version(page, history_url, 5)
    page.locator("#play").click()
    # The tab remembers the speed.
    page.reload()
    expect(page.locator("#play-speed")).to_have_value("0.5")
    assert problems == []


def test_the_keys_help_opens_on_a_question_mark(page: Page, history_url: str) -> None:
    page.goto(f"{history_url}?version=3")
    help_dialog = page.locator("#keys-help")
    expect(help_dialog).to_be_hidden()
    page.locator("h1").click()
    page.keyboard.press("?")
    expect(help_dialog).to_be_visible()
    expect(help_dialog).to_contain_text("Play or pause")
    page.keyboard.press("Escape")
    expect(help_dialog).to_be_hidden()
    # Not while typing in a field.
    page.locator("#compare-version").fill("")
    page.locator("#compare-version").press("?")
    expect(help_dialog).to_be_hidden()
    # The keys it lists.
    page.locator("h1").click()
    page.keyboard.press("Home")
    at_version(page, history_url, 0)
    page.keyboard.press("End")
    at_version(page, history_url, 7)
    # Its button, and its Close.
    page.locator("#keys-open").click()
    expect(help_dialog).to_be_visible()
    page.locator("#keys-close").click()
    expect(help_dialog).to_be_hidden()


def test_the_list_filtered_by_type(page: Page, history_url: str) -> None:
    page.goto(f"{history_url}?version=4")
    page.locator("#event-type").select_option("ItemAdded")
    expect(page).to_have_url(f"{history_url}?version=4&type=ItemAdded")
    expect(page.locator("#events .event")).to_have_count(3)
    page.locator("#step-next").click()
    expect(page).to_have_url(f"{history_url}?version=5&type=ItemAdded")
    expect(page.locator("#events .event")).to_have_count(3)
    page.locator("#event-type").select_option("")
    expect(page.locator("#events .event")).to_have_count(8)


def test_copy_a_version_as_a_test(page: Page, history_url: str) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto(f"{history_url}?version=4")
    page.get_by_text("Copy as a test").click()
    text = page.locator("#scenario-text")
    expect(text).to_contain_text("def test_cart_tools_at_version_4")
    expect(text).to_contain_text("scenario.when(ChangeQuantity(sku='BEAN-250', quantity=3))")
    page.locator("#copy-test").click()
    expect(page.locator("#copy-test-status")).to_have_text("Copied.")
    assert "def test_cart_tools_at_version_4" in page.evaluate("navigator.clipboard.readText()")


def test_start_a_new_cart_from_a_version(
    page: Page, history_url: str, live_server: LiveServer
) -> None:
    page.goto(f"{history_url}?version=3")
    page.locator("#fork").click()
    expect(page).to_have_url(re.compile(r"/carts/cart-[0-9a-f]{8}/history$"))
    expect(page.locator("#forked-from")).to_contain_text("Forked from cart-tools at version 3")
    expect(page.locator("#replay h2")).to_have_text("As of version 3")
    fork_id = page.url.rsplit("/", 2)[1]
    # The new cart takes commands; the origin lists it.
    page.locator("#forked-from a").click()
    expect(page.locator("#forks")).to_contain_text(fork_id)
    assert get_emit(live_server.app).store.stream_version("cart-tools") == 7


def test_an_export_opened_in_the_timeline(
    page: Page, history_url: str, live_server: LiveServer, tmp_path: Path, problems: list[str]
) -> None:
    export = page.request.get(history_url.replace("/history", "/events.json"))
    saved = tmp_path / "cart-tools.events.json"
    saved.write_bytes(export.body())
    head = get_emit(live_server.app).store.head_position()
    page.goto(history_url)
    page.locator("#import").click()
    page.set_input_files("#export-file", str(saved))
    page.locator("#open-export").click()
    expect(page.locator("#import-note")).to_contain_text("from cart-tools.events.json")
    expect(page.locator("#replay h2")).to_have_text("As of version 7")
    page.evaluate("window.stillTheSamePage = true")
    page.locator("#step-previous").click()
    expect(page.locator("#replay h2")).to_have_text("As of version 6")
    page.locator("#event-3 button").click()
    expect(page.locator("#replay h2")).to_have_text("As of version 3")
    page.locator("#compare-version").fill("1")
    page.locator("#compare-version").press("Enter")
    expect(page.locator("#replay")).to_contain_text("2 lines changed since version 1")
    page.locator("#version-range").focus()
    page.keyboard.press("ArrowRight")
    expect(page.locator("#replay h2")).to_have_text("As of version 4")
    expect(page.locator("#version-range")).to_be_focused()
    assert page.evaluate("window.stillTheSamePage") is True
    assert get_emit(live_server.app).store.head_position() == head
    assert problems == []
