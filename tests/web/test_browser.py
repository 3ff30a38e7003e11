"""A shopper's visit in a real browser (Debian's Chromium through Playwright), once with htmx
and once with JavaScript off: add, change a quantity, remove, see a rejection, check out, and
reload to find the same cart."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from tests.web.conftest import OPERATOR, PASSWORD
from webapp.live_server import LiveServer

pytestmark = pytest.mark.browser


def open_new_cart(page: Page, server: LiveServer) -> str:
    page.goto(f"{server.url}/")
    page.get_by_role("button", name="New cart").click()
    expect(page).to_have_url(re.compile(r"/carts/cart-[0-9a-f]{8}$"))
    return page.url


def add(page: Page, sku: str, quantity: int) -> None:
    page.locator(f"#quantity-{sku}").fill(str(quantity))
    page.locator(f"#add-{sku}").click()


def test_a_visit_with_htmx(page: Page, live_server: LiveServer) -> None:
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        # Errors include Content-Security-Policy violations. Chrome also logs every 4xx
        # answer; a rejected command's 422 is an expected outcome.
        if message.type == "error" and "status of 422" not in message.text:
            problems.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(str(error)))
    cart_url = open_new_cart(page, live_server)
    # Set on this document: it survives only if nothing below navigates away from it.
    page.evaluate("window.stillTheSamePage = true")
    panel = page.locator("#cart-panel")

    # A rejection, next to the button; nothing changes.
    page.locator("#check-out").click()
    alert = panel.get_by_role("alert")
    expect(alert).to_have_text("An empty cart cannot be checked out.")
    expect(panel).to_contain_text("1 event")

    # Add two products: the panel and the header badge follow.
    with page.expect_response(re.compile(r"/items$")) as answer:
        add(page, "BEAN-250", 2)
    assert answer.value.request.headers["hx-request"] == "true"
    expect(page.locator("#line-quantity-BEAN-250")).to_have_value("2")
    expect(alert).to_have_count(0)  # the old rejection is gone
    add(page, "FILT-100", 1)
    expect(page.locator("#line-FILT-100")).to_be_visible()
    expect(page.locator("#cart-badge")).to_contain_text("3 items")
    expect(page.locator("#product-BEAN-250")).to_contain_text("2 in cart")

    # The stepper: one more, then a typed quantity.
    page.locator("#more-BEAN-250").click()
    expect(page.locator("#line-quantity-BEAN-250")).to_have_value("3")
    expect(page.locator("#more-BEAN-250")).to_be_focused()  # the keyboard keeps its place
    page.locator("#line-quantity-BEAN-250").fill("5")
    page.locator("#line-quantity-BEAN-250").press("Enter")
    expect(page.locator("#product-BEAN-250")).to_contain_text("5 in cart")
    expect(panel).to_contain_text("€71.00")

    # Remove a line.
    page.locator("#remove-FILT-100").click()
    expect(page.locator("#line-FILT-100")).to_have_count(0)
    expect(page.locator("#cart-badge")).to_contain_text("5 items")

    # Too many of one product: rejected on its card, the cart unchanged.
    add(page, "BEAN-250", 99)
    card_alert = page.locator("#product-BEAN-250").get_by_role("alert")
    expect(card_alert).to_have_text(
        "A cart holds at most 99 of one product; this one already has 5."
    )
    expect(page.locator("#line-quantity-BEAN-250")).to_have_value("5")

    # Check out: the receipt replaces the cart, the catalog closes.
    page.locator("#check-out").click()
    expect(panel.get_by_role("heading", name="Receipt")).to_be_visible()
    expect(card_alert).to_have_count(0)
    expect(page.locator("#catalog form")).to_have_count(0)
    expect(page.locator("#cart-badge")).to_contain_text("Checked out")

    assert page.evaluate("window.stillTheSamePage") is True  # htmx swapped; no page loads
    assert page.url == cart_url
    assert problems == []

    page.reload()
    expect(panel).to_contain_text("Paid €64.50 for 5 items")
    expect(page.locator("#catalog form")).to_have_count(0)


def test_answers_with_only_the_line_leave_the_page_as_a_reload_shows_it(
    page: Page, live_server: LiveServer
) -> None:
    """Adding and changing quantities answer with the line alone (and out of band what else
    changed); the page must then read exactly as the cart page does when loaded afresh. A page
    that another tab changed meanwhile gets the whole panel."""
    # This page does not hear of the other tab's change (a live page would catch up within a
    # second, test_live_browser.py): its next change is made on the cart as it was.
    page.route(re.compile(r"/live/"), lambda route: route.abort())
    cart_url = open_new_cart(page, live_server)
    panel = page.locator("#cart-panel")
    add(page, "BEAN-250", 1)  # the first line: the whole panel
    expect(page.locator("#line-BEAN-250")).to_be_visible()
    for step in [
        lambda: add(page, "FILT-100", 2),  # a new line, appended to the list
        lambda: page.locator("#more-BEAN-250").click(),  # a line changed in place
    ]:
        with page.expect_response(re.compile(r"/(items|step)$")) as answer:
            step()
        assert answer.value.headers.get("hx-retarget") in ("#cart-lines", "#line-BEAN-250")
    expect(page.locator("#cart-badge")).to_contain_text("4 items")
    expect(page.locator("#check-out")).to_be_visible()
    swapped = panel.inner_text()
    page.reload()
    expect(page.locator("#cart-badge")).to_contain_text("4 items")
    assert panel.inner_text() == swapped

    # Another tab adds a mug: this page's next change brings the whole panel, mug included.
    other = page.context.new_page()
    other.goto(cart_url)
    add(other, "MUG-TRVL", 1)
    expect(other.locator("#line-MUG-TRVL")).to_be_visible()
    with page.expect_response(re.compile(r"/step$")) as answer:
        page.locator("#more-FILT-100").click()
    assert answer.value.headers.get("hx-retarget") is None
    expect(page.locator("#line-MUG-TRVL")).to_be_visible()
    expect(page.locator("#cart-badge")).to_contain_text("6 items")
    swapped = panel.inner_text()
    page.reload()
    assert panel.inner_text() == swapped


def test_the_same_visit_without_javascript(browser: Browser, live_server: LiveServer) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        cart_url = open_new_cart(page, live_server)
        panel = page.locator("#cart-panel")

        page.locator("#check-out").click()
        expect(panel.get_by_role("alert")).to_have_text("An empty cart cannot be checked out.")
        expect(panel.get_by_role("alert")).to_be_focused()  # the page scrolls to it

        add(page, "BEAN-250", 2)
        expect(page).to_have_url(f"{cart_url}#product-BEAN-250")  # a 303 back to the product
        expect(page.locator("#line-quantity-BEAN-250")).to_have_value("2")
        add(page, "FILT-100", 1)
        expect(page.locator("#cart-badge")).to_contain_text("3 items")

        page.locator("#more-BEAN-250").click()
        expect(page).to_have_url(f"{cart_url}#line-BEAN-250")
        expect(page.locator("#line-quantity-BEAN-250")).to_have_value("3")
        page.locator("#line-quantity-BEAN-250").fill("5")
        page.locator("#set-BEAN-250").click()
        expect(page.locator("#line-quantity-BEAN-250")).to_have_value("5")

        page.locator("#remove-FILT-100").click()
        expect(page.locator("#line-FILT-100")).to_have_count(0)

        add(page, "BEAN-250", 99)
        expect(page.locator("#product-BEAN-250").get_by_role("alert")).to_contain_text(
            "at most 99 of one product"
        )
        page.goto(cart_url)  # the rejection changed nothing
        expect(page.locator("#line-quantity-BEAN-250")).to_have_value("5")
        expect(page.get_by_role("alert")).to_have_count(0)

        page.locator("#check-out").click()
        expect(panel.get_by_role("heading", name="Receipt")).to_be_visible()
        page.reload()
        expect(panel).to_contain_text("Paid €64.50 for 5 items")
        expect(page.locator("#catalog form")).to_have_count(0)
    finally:
        context.close()


def test_the_dashboard_lists_the_visits(page: Page, live_server: LiveServer) -> None:
    cart_url = open_new_cart(page, live_server)
    add(page, "MUG-TRVL", 1)
    expect(page.locator("#cart-badge")).to_contain_text("1 item")
    page.get_by_role("link", name="All carts").click()
    cart_id = cart_url.rsplit("/", 1)[1]
    row = page.get_by_role("row").filter(has_text=cart_id)
    expect(row).to_contain_text("€22.00")
    expect(row.get_by_text("Open")).to_be_visible()


def test_an_expired_session_is_explained_at_the_top(page: Page, live_server: LiveServer) -> None:
    open_new_cart(page, live_server)
    page.context.clear_cookies()  # the session, and with it the CSRF secret, is gone
    add(page, "MUG-TRVL", 1)
    expect(page.locator("#page-alert").get_by_role("alert")).to_contain_text(
        "Reload the page and try again."
    )
    expect(page.locator("#cart-panel")).to_contain_text("Your cart is empty")
    page.reload()
    add(page, "MUG-TRVL", 1)  # a fresh page has a fresh token
    expect(page.locator("#cart-badge")).to_contain_text("1 item")
    expect(page.locator("#page-alert")).to_be_empty()


@pytest.fixture
def ops_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The app with its policies running in the background, fast retries and a fast refresh."""
    from tests.web.conftest import add_operator, make_app
    from webapp.db import get_emit, get_policies

    store = tmp_path_factory.mktemp("ops") / "emit.sqlite3"
    app = make_app(
        f"sqlite:///{store}",
        EMIT_RUN_POLICIES=True,
        EMIT_POLICIES_POLL_INTERVAL=0.1,
        RECEIPTS_FIRST_RETRY_WAIT=0.05,
        OPS_REFRESH_SECONDS=1,
    )
    add_operator(app)
    with LiveServer(app) as server:
        yield server
    get_policies(app).stop()
    get_emit(app).close()


def sign_in_on(page: Page, name: str, password: str) -> None:
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_an_operator_signs_in_to_reach_the_operations_page(
    page: Page, ops_server: LiveServer
) -> None:
    page.goto(f"{ops_server.url}/ops")
    expect(page).to_have_url(re.compile(r"/sign-in\?next=(%2F|/)ops$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

    sign_in_on(page, OPERATOR, "not the password")
    expect(page.get_by_role("alert")).to_contain_text("name and password do not match")
    expect(page.get_by_label("Name")).to_have_value(OPERATOR)

    sign_in_on(page, OPERATOR, PASSWORD)
    expect(page).to_have_url(f"{ops_server.url}/ops")
    expect(page.get_by_role("heading", name="Operations")).to_be_visible()
    expect(page.locator("#sign-out")).to_contain_text(f"Operator {OPERATOR}")
    expect(page.locator("#printer-switch")).to_be_visible()

    page.locator("#sign-out").get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_contain_text("You have signed out.")
    page.goto(f"{ops_server.url}/ops")
    expect(page).to_have_url(re.compile(r"/sign-in\?next=(%2F|/)ops$"))


def test_watching_a_receipt_fail_park_and_be_retried(page: Page, ops_server: LiveServer) -> None:
    ops = f"{ops_server.url}/ops"
    page.goto(ops)
    sign_in_on(page, OPERATOR, PASSWORD)
    expect(page).to_have_url(ops)
    page.locator("#printer-switch").click()
    expect(page.locator("#printer-switch")).to_have_text("Fix the printer")

    shopper = page.context.new_page()
    open_new_cart(shopper, ops_server)
    add(shopper, "TEA-CHAI", 1)
    # As a shopper would, see the tea in the cart first: the page drops a click made while
    # another request is on its way (hx-sync), so an immediate "Check out" may do nothing.
    expect(shopper.locator("#cart-badge")).to_contain_text("1 item")
    shopper.locator("#check-out").click()
    expect(shopper.locator("#receipt-number")).to_contain_text("being issued")

    # The page refreshes itself: the checkout's receipt fails, is retried, then parked.
    letter = page.locator("#ops-subscribers tr[id^='dead-letter-']")
    expect(letter).to_contain_text("PrinterJammed", timeout=10_000)
    expect(page.locator("#subscriber-receipts")).to_contain_text("1")
    # The shopper's page learns that its receipt was parked, and stops asking.
    expect(shopper.locator("#receipt-number")).to_contain_text(
        "could not be issued yet", timeout=10_000
    )

    page.locator("#printer-switch").click()
    expect(page.get_by_role("status")).to_contain_text("The receipt printer works again")
    letter.get_by_role("button", name="Retry").click()
    expect(page.get_by_role("status")).to_contain_text("was handled, and is gone")
    expect(letter).to_have_count(0)

    # Issued by the retry: a reload of the shopper's page shows the receipt's number.
    shopper.reload()
    expect(shopper.locator("#receipt-number")).to_contain_text("Receipt R-", timeout=10_000)
