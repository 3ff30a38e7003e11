"""A cart's history in a real browser (Debian's Chromium through Playwright): stepping with the
buttons, the arrow keys, the slider and the list, the address bar following (back, forward and
reload included), "Play" on a fake clock, and the same page with JavaScript off."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from shop.cart import AddItem
from tests.web.conftest import append_flips, create_history, make_app
from webapp.db import get_emit
from webapp.live_server import LiveServer

pytestmark = pytest.mark.browser

CLOCK_START = datetime(2025, 11, 27, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def history_url(live_server: LiveServer) -> str:
    cart_id = create_history(get_emit(live_server.app), "cart-tl")
    return f"{live_server.url}/carts/{cart_id}/history"


def at_version(page: Page, history_url: str, version: int) -> None:
    """The address bar, the state panel, the list and the slider all say `version`."""
    expect(page).to_have_url(f"{history_url}?version={version}")
    expect(page.locator("#replay h2")).to_have_text(f"As of version {version}")
    expect(page.locator("#events [aria-current]")).to_have_attribute("id", f"event-{version}")
    expect(page.locator("#version-range")).to_have_value(str(version))
    expect(page.locator("#scrubber-readout")).to_contain_text(f"Version {version} of 7")


def test_stepping_through_the_history(page: Page, history_url: str) -> None:
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":  # Content-Security-Policy violations included
            problems.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(history_url)
    panel = page.locator("#replay")
    expect(panel.locator("h2")).to_have_text("As of version 7")
    expect(page.locator("#play")).to_be_visible()
    expect(page.locator("#show-version")).to_be_hidden()  # the slider fetches as it moves
    page.evaluate("window.stillTheSamePage = true")

    # The buttons.
    page.locator("#step-previous").click()
    at_version(page, history_url, 6)
    expect(panel).to_contain_text("Removed 1 × Travel mug")
    expect(panel.locator(".change--removed")).to_contain_text("Travel mug")
    expect(panel.locator(".delta")).to_have_text("−€22.00")
    expect(page.locator("#step-previous")).to_be_focused()  # the keyboard keeps its place
    page.locator("#step-first").click()
    at_version(page, history_url, 0)
    expect(panel).to_contain_text("Before the cart was opened")
    expect(page.locator("#step-previous")).to_have_attribute("aria-disabled", "true")

    # The arrow keys, from anywhere but a field.
    page.locator("h1").click()
    page.keyboard.press("ArrowRight")
    at_version(page, history_url, 1)
    page.keyboard.press("ArrowRight")
    at_version(page, history_url, 2)
    expect(panel.locator(".change--added")).to_contain_text("Coffee beans, 250 g")
    page.keyboard.press("ArrowLeft")
    at_version(page, history_url, 1)

    # The slider, with its own keys.
    page.locator("#version-range").focus()
    page.keyboard.press("End")
    at_version(page, history_url, 7)
    page.keyboard.press("ArrowLeft")
    at_version(page, history_url, 6)

    # A version in the list.
    page.locator("#event-5 .event__link").click()
    at_version(page, history_url, 5)
    expect(panel).to_contain_text("Changed Coffee beans, 250 g from 2 to 3")
    # "→" for the eye, "became" for a screen reader.
    expect(panel.locator(".change--changed")).to_contain_text(re.compile(r"× 2 →\s*became 3"))

    assert page.evaluate("window.stillTheSamePage") is True  # htmx swapped; no page loads

    # The address bar works as one: back, forward, reload.
    page.go_back()
    at_version(page, history_url, 6)
    page.go_back()
    at_version(page, history_url, 7)
    page.go_forward()
    at_version(page, history_url, 6)
    page.reload()
    at_version(page, history_url, 6)
    assert problems == []


def test_versions_recorded_after_the_page_loaded(page: Page, live_server: LiveServer) -> None:
    emit = get_emit(live_server.app)
    emit.create("cart-growing")
    emit.handle_command("cart-growing", AddItem("TEA-CHAI"))
    url = f"{live_server.url}/carts/cart-growing/history"
    # The page does not follow the cart here (test_live_browser.py has it follow): what the
    # scrubber does with versions it was not told of is the point.
    page.route(re.compile(r"/live/"), lambda route: route.abort())
    page.goto(f"{url}?version=1")
    expect(page.locator("#events-stale")).to_be_hidden()
    emit.handle_command("cart-growing", AddItem("MILK-OAT"))  # in another tab, say

    page.locator("#step-next").click()
    expect(page).to_have_url(f"{url}?version=2")
    expect(page.locator("#events-stale")).to_be_visible()
    expect(page.locator("#version-range")).to_have_attribute("max", "3")
    page.locator("#step-next").click()
    expect(page.locator("#replay h2")).to_have_text("As of version 3")
    expect(page.locator("#replay")).to_contain_text("Oat milk, 1 L")
    page.locator("#events-stale a").click()
    expect(page.locator("#event-3")).to_have_attribute("aria-current", "step")
    expect(page.locator("#events-stale")).to_be_hidden()


def stopped_clock(page: Page) -> None:
    """The page's timers on a clock that moves only when the test says (`run_for`): the play
    pace is tested without waiting, and without a slow machine's real seconds leaking in."""
    page.clock.install(time=CLOCK_START)
    page.clock.pause_at(CLOCK_START + timedelta(seconds=1))


def test_play_steps_to_the_last_version_and_stops(page: Page, history_url: str) -> None:
    stopped_clock(page)
    page.goto(f"{history_url}?version=4")
    play = page.locator("#play")
    play.click()
    expect(play).to_have_text("Pause")
    at_version(page, history_url, 5)  # the first step at once
    page.clock.run_for(1000)
    at_version(page, history_url, 5)  # then at a readable pace
    page.clock.run_for(300)
    at_version(page, history_url, 6)
    page.clock.run_for(1300)
    at_version(page, history_url, 7)
    expect(play).to_have_text("Play")  # the end
    page.clock.run_for(5000)
    at_version(page, history_url, 7)

    # From the end it plays from the start; it pauses; an arrow key pauses it too.
    play.click()
    at_version(page, history_url, 0)
    play.click()
    expect(play).to_have_text("Play")
    page.clock.run_for(5000)
    at_version(page, history_url, 0)
    play.click()
    at_version(page, history_url, 1)
    page.keyboard.press("ArrowLeft")
    at_version(page, history_url, 0)
    expect(play).to_have_text("Play")
    page.clock.run_for(5000)
    at_version(page, history_url, 0)


def test_play_is_calmer_for_reduced_motion(page: Page, history_url: str) -> None:
    page.emulate_media(reduced_motion="reduce")
    stopped_clock(page)
    page.goto(f"{history_url}?version=5")
    page.locator("#play").click()
    at_version(page, history_url, 6)
    page.clock.run_for(1300)
    at_version(page, history_url, 6)
    page.clock.run_for(1200)
    at_version(page, history_url, 7)


def test_the_history_without_javascript(browser: Browser, history_url: str) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(history_url)
        expect(page.locator("#play")).to_be_hidden()
        page.locator("#step-previous").click()
        expect(page).to_have_url(f"{history_url}?version=6")
        expect(page.locator("#replay h2")).to_have_text("As of version 6")
        expect(page.locator("#event-6")).to_have_attribute("aria-current", "step")

        page.locator("#version-range").fill("2")
        page.locator("#show-version").click()
        expect(page).to_have_url(f"{history_url}?version=2")
        expect(page.locator("#replay")).to_contain_text("Added 2 × Coffee beans, 250 g")

        page.get_by_text("Go to a moment").click()
        page.locator("#at").fill("2000-01-01T00:00:00")
        page.get_by_role("button", name="Go", exact=True).click()
        expect(page).to_have_url(re.compile(r"\?at=2000-01-01T00%3A00"))
        expect(page.locator("#replay")).to_contain_text("the cart was not opened yet")
    finally:
        context.close()


def test_the_list_follows_the_scrubber_across_its_pages(
    page: Page, tmp_path_factory: pytest.TempPathFactory
) -> None:
    app = make_app(
        f"sqlite:///{tmp_path_factory.mktemp('paged') / 'emit.sqlite3'}",
        WTF_CSRF_ENABLED=True,
        HISTORY_EVENTS_PER_PAGE=10,
    )
    append_flips(get_emit(app), "cart-paged", 35)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    with LiveServer(app) as server:
        url = f"{server.url}/carts/cart-paged/history"
        page.goto(url)
        listed = page.locator("#events-range")
        expect(listed).to_have_text("Page 4 of 4: versions 31 to 35 of 35")
        page.evaluate("window.stillTheSamePage = true")

        page.locator("#step-first").click()  # to version 0, on the first page
        expect(page).to_have_url(f"{url}?version=0")
        expect(listed).to_have_text("Page 1 of 4: versions 1 to 10 of 35")
        expect(page.locator("#events [aria-current]")).to_have_attribute("id", "event-0")

        page.locator("#events-later-top").click()  # the pager: the list alone moves
        expect(page).to_have_url(f"{url}?version=0&page=2")
        expect(listed).to_have_text("Page 2 of 4: versions 11 to 20 of 35")
        expect(page.locator("#replay h2")).to_have_text("As of version 0")

        page.locator("h1").click()
        page.keyboard.press("ArrowRight")  # version 1 is on page 1 again: the list follows
        expect(page).to_have_url(f"{url}?version=1")
        expect(listed).to_have_text("Page 1 of 4: versions 1 to 10 of 35")
        expect(page.locator("#events [aria-current]")).to_have_attribute("id", "event-1")
        assert page.evaluate("window.stillTheSamePage") is True  # htmx did it all

        page.reload()  # the pushed URL shows the same again
        expect(listed).to_have_text("Page 1 of 4: versions 1 to 10 of 35")
        expect(page.locator("#replay h2")).to_have_text("As of version 1")
    get_emit(app).close()
    assert problems == []
