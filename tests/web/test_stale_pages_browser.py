"""Two tabs on one cart, in a real browser: a checkout from the tab that did not see the other's
change (its live updates cut off) is refused with what changed, and "+" from both tabs loses no
click."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from tests.web.test_browser import add, open_new_cart
from webapp.live_server import LiveServer

pytestmark = pytest.mark.browser

SINCE = (
    "Since you loaded this page: + 1 × Travel mug; total now €30.90. Check out again to pay that."
)


@pytest.mark.parametrize("javascript", [True, False], ids=["htmx", "no-js"])
def test_two_tabs_a_stale_checkout_is_refused_and_plus_loses_no_click(
    browser: Browser, live_server: LiveServer, javascript: bool
) -> None:
    context = browser.new_context(java_script_enabled=javascript)
    try:
        tab_a: Page = context.new_page()
        # Tab A never hears of tab B's change (a live page would show it within a second,
        # test_live_browser.py): what a page that is out of date may do is the point here.
        tab_a.route(re.compile(r"/live/"), lambda route: route.abort())
        cart_url = open_new_cart(tab_a, live_server)
        add(tab_a, "TEA-CHAI", 1)
        expect(tab_a.locator("#line-TEA-CHAI")).to_be_visible()
        tab_b = context.new_page()
        tab_b.goto(cart_url)
        add(tab_b, "MUG-TRVL", 1)
        expect(tab_b.locator("#line-MUG-TRVL")).to_be_visible()

        # Tab A still shows one chai for €8.90, and checks out: refused, with what changed.
        expect(tab_a.locator("#cart-summary")).to_contain_text("€8.90")
        tab_a.locator("#check-out").click()
        expect(tab_a.get_by_role("alert")).to_have_text(SINCE)
        expect(tab_a.locator("#line-MUG-TRVL")).to_be_visible()  # the fresh cart
        expect(tab_a.locator("#cart-summary")).to_contain_text("€30.90")
        tab_b.reload()
        expect(tab_b.locator("#check-out")).to_be_visible()  # not checked out

        # Both tabs click "+" on the chai, each from what it shows: two more, not one.
        tab_b.locator("#more-TEA-CHAI").click()
        expect(tab_b.locator("#line-quantity-TEA-CHAI")).to_have_value("2")
        tab_a.locator("#more-TEA-CHAI").click()
        expect(tab_a.locator("#line-quantity-TEA-CHAI")).to_have_value("3")

        # Now tab A's page shows the cart as it is: its checkout pays for exactly that.
        tab_a.locator("#check-out").click()
        expect(tab_a.locator("#cart-panel")).to_contain_text("Receipt")
        expect(tab_a.locator("#cart-panel")).to_contain_text(re.compile(r"€48\.70"))
    finally:
        context.close()


def test_an_add_retried_after_its_answer_was_lost_adds_once(
    page: Page, live_server: LiveServer
) -> None:
    """The server stores the add, but its answer never reaches the browser (a timeout, a
    dropped connection): the page still shows the same form, with the same key, and the
    person clicks Add again. One mug, not two.

    The page is kept from hearing of the add live: a live page would show the mug within a
    second, with new forms, and an Add on those is a second mug on purpose."""
    page.route(re.compile(r"/live/"), lambda route: route.abort())
    cart_url = open_new_cart(page, live_server)
    lost: list[str] = []

    def lose_the_answer(route: Route) -> None:
        route.fetch()  # the server gets the request and stores the add
        lost.append(route.request.url)
        route.abort("connectionreset")  # ...and the browser never hears back

    page.route(re.compile(r"/items$"), lose_the_answer)
    with page.expect_event("requestfailed", predicate=lambda r: r.url.endswith("/items")):
        add(page, "MUG-TRVL", 1)
    assert len(lost) == 1
    page.unroute(re.compile(r"/items$"))
    expect(page.locator("#line-MUG-TRVL")).to_have_count(0)  # the page never heard

    page.locator("#add-MUG-TRVL").click()  # the same form, the same key
    expect(page.locator("#line-quantity-MUG-TRVL")).to_have_value("1")
    page.goto(cart_url)
    expect(page.locator("#line-quantity-MUG-TRVL")).to_have_value("1")
    expect(page.locator("#cart-version")).to_have_text("2 events")  # opened, one mug added
