"""The pages on a phone, 375 x 812 in Chromium: none scrolls sideways, every link and button of a
row is on screen (the dashboard's, the operations page's), the best sellers fit, and the cart page
puts the cart on top, while at 1280 px it keeps the catalog and the cart side by side."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from shop.cart import AddItem, CheckOut
from tests.web.conftest import OPERATOR, PASSWORD, add_operator
from tests.web.test_browser import sign_in_on
from webapp.db import get_emit, get_engine, get_policies
from webapp.demo import seed
from webapp.live_server import LiveServer
from webapp.receipts import jam_printer

pytestmark = pytest.mark.browser

PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}
# Ids are what a store was given: as long as 200 characters. This one has several lines.
LONG_ID = "cart-" + "0123456789abcdef" * 4 + "-imported-from-the-old-shop"
# Checked out while the receipt printer was jammed: a dead letter on /ops.
PARKED_ID = "cart-0ff1ce01"


@pytest.fixture(scope="module")
def shop(live_server: LiveServer) -> LiveServer:
    """The demo carts, LONG_ID open with four lines, PARKED_ID's receipt a dead letter, and an
    operator: every kind of row each page has."""
    app = live_server.app
    emit = get_emit(app)
    seed(emit)
    get_policies(app).catch_up()  # the demo's receipts
    emit.create(LONG_ID)
    for sku in ["BEAN-250", "TEA-CHAI", "MUG-TRVL", "FILT-100"]:
        emit.handle_command(LONG_ID, AddItem(sku, 2))
    jam_printer(get_engine(app), True)
    emit.create(PARKED_ID)
    emit.handle_command(PARKED_ID, AddItem("TEA-CHAI", 2))
    emit.handle_command(PARKED_ID, CheckOut())
    get_policies(app).catch_up()
    add_operator(app)
    return live_server


@pytest.fixture(scope="module")
def phone(browser: Browser, shop: LiveServer) -> Iterator[Page]:
    """One phone-sized tab for the module: its pages are loaded in turn."""
    context = browser.new_context(viewport=PHONE)
    yield context.new_page()
    context.close()


def scrolls_sideways(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth > window.innerWidth"))


def box(locator: Locator) -> dict[str, Any]:
    """Where the element is drawn, in the viewport's coordinates, and the viewport's width."""
    return locator.evaluate(
        """element => {
            const { left, right, top, bottom, width } = element.getBoundingClientRect();
            return { left, right, top, bottom, width, viewport: window.innerWidth };
        }"""
    )


def on_screen_across(locator: Locator) -> bool:
    """Drawn (not zero wide) and wholly between the left and right edges of the window."""
    where = box(locator)
    return where["width"] > 0 and where["left"] >= 0 and where["right"] <= where["viewport"]


def off_screen(locators: list[Locator]) -> list[str]:
    """The text and id of each element that is not on screen across: [] when all are."""
    return [
        f"{locator.inner_text()!r} {locator.get_attribute('id')}"
        for locator in locators
        if not on_screen_across(locator)
    ]


def test_the_sign_in_and_error_pages_fit_a_phone(phone: Page, shop: LiveServer) -> None:
    phone.goto(f"{shop.url}/sign-in")
    expect(phone.get_by_role("heading", name="Sign in")).to_be_visible()
    assert not scrolls_sideways(phone)

    response = phone.goto(f"{shop.url}/carts/{'x' * 150}")
    assert response is not None
    assert response.status == 404
    assert not scrolls_sideways(phone)


def test_the_dashboard_shows_each_carts_links_and_the_best_sellers_on_a_phone(
    phone: Page, shop: LiveServer
) -> None:
    phone.goto(f"{shop.url}/")
    assert not scrolls_sideways(phone)

    links = phone.locator("#cart-table .cart-links a")
    expect(links).to_have_count(2 * 7)  # five demo carts and two more, "View cart" and "History"
    row = phone.get_by_role("row").filter(has_text=LONG_ID)
    expect(row.get_by_role("link", name="View cart")).to_be_visible()
    expect(row.get_by_role("link", name="History")).to_be_visible()
    assert off_screen(links.all()) == []

    # The best sellers fit as they are: their table does not scroll inside its card.
    table = phone.locator("#best-sellers .table-scroll")
    assert table.evaluate("scroll => scroll.scrollWidth <= scroll.clientWidth")


def test_the_cart_is_on_top_of_the_cart_page_on_a_phone(phone: Page, shop: LiveServer) -> None:
    phone.goto(f"{shop.url}/carts/{LONG_ID}")
    assert not scrolls_sideways(phone)
    expect(phone.locator("#cart-lines > li")).to_have_count(4)

    # Within the first screen, under the header; the catalog after it. The header's badge still
    # links to it.
    panel = box(phone.locator("#cart-panel"))
    header = box(phone.locator(".site-header"))
    assert header["bottom"] <= panel["top"] < PHONE["height"] / 2
    assert box(phone.locator("#catalog"))["top"] > panel["bottom"]
    expect(phone.locator("#cart-badge")).to_have_attribute("href", "#cart-panel")

    phone.goto(f"{shop.url}/carts/{LONG_ID}/history")
    expect(phone.locator("#replay")).to_be_visible()
    assert not scrolls_sideways(phone)


def test_the_cart_page_keeps_the_catalog_and_the_cart_side_by_side_on_a_desktop(
    browser: Browser, shop: LiveServer
) -> None:
    context = browser.new_context(viewport=DESKTOP)
    try:
        page = context.new_page()
        page.goto(f"{shop.url}/carts/{LONG_ID}")
        catalog = box(page.locator("#catalog"))
        panel = box(page.locator("#cart-panel"))
        assert catalog["left"] < panel["left"]
        assert catalog["right"] <= panel["left"]
        assert abs(catalog["top"] - panel["top"]) < 16
        assert panel["right"] <= DESKTOP["width"]
        assert not scrolls_sideways(page)
    finally:
        context.close()


def test_the_operations_page_fits_a_phone_with_every_button_on_screen(
    phone: Page, shop: LiveServer
) -> None:
    phone.goto(f"{shop.url}/ops")
    sign_in_on(phone, OPERATOR, PASSWORD)
    expect(phone.get_by_role("heading", name="Operations")).to_be_visible()
    assert not scrolls_sideways(phone)

    letter = phone.locator("#ops-subscribers tr[id^='dead-letter-']")
    expect(letter).to_contain_text(PARKED_ID)
    evicts = phone.locator("#ops-live").get_by_role("button", name="Evict")
    expect(evicts.first).to_be_visible()
    buttons = [
        letter.get_by_role("button", name="Retry"),
        letter.get_by_role("button", name="Skip"),
        *evicts.all(),
        phone.locator("#printer-switch"),
        phone.locator("#sign-out").get_by_role("button", name="Sign out"),
    ]
    assert len(buttons) > 5  # the long cart and the parked one are in the pool at least
    assert off_screen(buttons) == []

    # The dead letter's own page, with its traceback.
    letter.get_by_role("link", name="Traceback").click()
    expect(phone).to_have_url(re.compile(r"/ops/dead-letters/[0-9]+$"))
    expect(phone.get_by_role("heading", name=re.compile(r"^Dead letter [0-9]+$"))).to_be_visible()
    assert not scrolls_sideways(phone)
