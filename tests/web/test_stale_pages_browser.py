"""Two tabs on one cart, in a real browser: a checkout from the tab that did not see the other's
change is refused with what changed, and "+" from both tabs loses no click."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

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
