"""Alerts in sight, in a real browser at 1280 × 900: with htmx, an alert a swap brings (a
rejection next to its action, an error at the top of the page) is scrolled into view and takes
the focus, without moving a page that already shows it; without JavaScript, a refused action
answers with the cart's own address, the reason focused, and a reload that posts nothing."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, Request, expect

from tests.web.test_browser import add, open_new_cart
from webapp.live_server import LiveServer

pytestmark = pytest.mark.browser

VIEWPORT = {"width": 1280, "height": 900}
TOO_MANY = "A cart holds at most 99 of one product; this one already has 60."


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport=VIEWPORT)
    yield context
    context.close()


@pytest.fixture
def no_js(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport=VIEWPORT, java_script_enabled=False)
    yield context
    context.close()


def in_viewport(page: Page, alert: Locator) -> bool:
    box = alert.bounding_box()  # relative to the viewport
    assert box is not None
    return box["y"] >= 0 and box["y"] + box["height"] <= VIEWPORT["height"]


def wait_until_in_sight(page: Page, alert: Locator) -> None:
    """Until the alert is wholly inside the viewport (a smooth scroll takes a moment)."""
    alert.element_handle().wait_for_element_state("stable")
    page.wait_for_function(
        "el => { const b = el.getBoundingClientRect(); return b.top >= 0 && "
        "b.bottom <= window.innerHeight; }",
        arg=alert.element_handle(),
        timeout=5_000,
    )


def is_focused(alert: Locator) -> bool:
    return bool(alert.evaluate("el => document.activeElement === el"))


def assert_brought_into_sight(page: Page, alert: Locator) -> None:
    """The alert a swap brought is scrolled wholly into the viewport and holds the focus."""
    wait_until_in_sight(page, alert)
    assert in_viewport(page, alert)
    expect(alert).to_be_focused()  # a screen reader reads it out


def cart_with_60_oat_milk(context: BrowserContext, live_server: LiveServer) -> Page:
    """A new cart holding 60 oat milk: adding 60 more is refused (at most 99 of one product)."""
    page = context.new_page()
    open_new_cart(page, live_server)
    add(page, "MILK-OAT", 60)
    expect(page.locator("#product-MILK-OAT")).to_contain_text("60 in cart")
    return page


def scroll(page: Page, selector: str, script: str) -> float:
    """Scroll the page by running `script` on the element; return where the page now is."""
    page.locator(selector).evaluate(script)
    return float(page.evaluate("window.scrollY"))


def cart_in_two_tabs(
    context: BrowserContext, live_server: LiveServer, skus: list[str]
) -> tuple[Page, Page, str]:
    """A new cart holding one of each product, open in a first tab, then in a second; and its
    address."""
    first = context.new_page()
    # The first tab never hears of the second's changes (a live page would show them within a
    # second, test_live_browser.py): what a page that is out of date gets is the point here.
    first.route(re.compile(r"/live/"), lambda route: route.abort())
    cart_url = open_new_cart(first, live_server)
    for sku in skus:
        add(first, sku, 1)
        expect(first.locator(f"#line-{sku}")).to_be_visible()
    second = context.new_page()
    second.goto(cart_url)
    return first, second, cart_url


def status_of_click(page: Page, button: str, path: str) -> int:
    """Click the button; return the status of the answer to the request whose path ends so."""
    with page.expect_response(re.compile(path + "$")) as answer:
        page.locator(button).click()
    return answer.value.status


def alert_in(page: Page, region: str, text: str) -> Locator:
    """The alert inside the region, once it says the text."""
    alert = page.locator(region).get_by_role("alert")
    expect(alert).to_contain_text(text)
    return alert


def refuse_60_more(page: Page) -> Locator:
    """Add 60 more oat milk; return the refusal, shown next to the product's card."""
    add(page, "MILK-OAT", 60)
    alert = page.locator("#product-MILK-OAT").get_by_role("alert")
    expect(alert).to_have_text(TOO_MANY)
    return alert


def test_a_rejection_below_the_fold_is_scrolled_to_and_focused(
    context: BrowserContext, live_server: LiveServer
) -> None:
    page = cart_with_60_oat_milk(context, live_server)
    # The card's form at the foot of the window, as in the issue: the alert under it would land
    # off screen.
    scrolled = scroll(page, "#product-MILK-OAT form", "form => form.scrollIntoView(false)")

    alert = refuse_60_more(page)
    assert_brought_into_sight(page, alert)
    assert page.evaluate("window.scrollY") > scrolled
    assert is_focused(alert)


def test_an_error_at_the_top_of_the_page_is_scrolled_to_and_focused(
    context: BrowserContext, live_server: LiveServer
) -> None:
    page = context.new_page()
    open_new_cart(page, live_server)
    # Browser validation bypassed: the server answers 400, shown in #page-alert at the top.
    page.locator("#product-MILK-OAT form").evaluate("form => { form.noValidate = true; }")
    page.locator("#quantity-MILK-OAT").fill("99999")
    assert status_of_click(page, "#add-MILK-OAT", "/items") == 400
    assert page.evaluate("window.scrollY") > 0  # the Add button is down the page
    alert = alert_in(page, "#page-alert", "That request did not make sense")
    assert_brought_into_sight(page, alert)


def test_an_alert_already_in_sight_does_not_move_the_page(
    context: BrowserContext, live_server: LiveServer
) -> None:
    page = cart_with_60_oat_milk(context, live_server)
    scrolled = scroll(page, "#product-MILK-OAT", "card => card.scrollIntoView({block: 'center'})")
    assert scrolled > 0

    alert = refuse_60_more(page)
    expect(alert).to_be_focused()
    page.wait_for_timeout(500)  # time for any scroll, smooth or not, to have moved the page
    assert page.evaluate("window.scrollY") == scrolled
    assert in_viewport(page, alert)


def test_without_javascript_a_refused_add_answers_at_the_carts_address(
    no_js: BrowserContext, live_server: LiveServer
) -> None:
    page = no_js.new_page()
    cart_url = open_new_cart(page, live_server)
    add(page, "MILK-OAT", 60)
    expect(page).to_have_url(f"{cart_url}#product-MILK-OAT")

    posts: list[Request] = []
    page.on("request", lambda request: posts.append(request) if request.method == "POST" else None)
    with page.expect_navigation() as navigation:
        add(page, "MILK-OAT", 60)
    assert navigation.value is not None
    assert navigation.value.status == 200  # the cart page's GET after the 303: see carts.py
    expect(page).to_have_url(cart_url)  # not /items: a 303 brought it to the cart
    alert = page.locator("#product-MILK-OAT").get_by_role("alert")
    expect(alert).to_have_text(TOO_MANY)
    expect(alert).to_be_focused()  # autofocus: the browser scrolled to it
    assert in_viewport(page, alert)
    expect(page.locator("#line-quantity-MILK-OAT")).to_have_value("60")
    assert len(posts) == 1

    # Reload is a GET of the cart, no "Confirm Form Resubmission": the message was shown once.
    response = page.reload()
    assert response is not None
    assert response.request.method == "GET"
    assert len(posts) == 1
    expect(page).to_have_url(cart_url)
    expect(page.get_by_role("alert")).to_have_count(0)
    expect(page.locator("#line-quantity-MILK-OAT")).to_have_value("60")

    # Back is the page before, got again: no "Confirm Form Resubmission", nothing posted.
    page.go_back()
    expect(page).to_have_url(f"{cart_url}#product-MILK-OAT")
    page.go_forward()
    expect(page).to_have_url(cart_url)
    assert len(posts) == 1

    # The page drawn after the refusal works: its forms carry fresh keys and the version.
    add(page, "MILK-OAT", 2)
    expect(page.locator("#line-quantity-MILK-OAT")).to_have_value("62")


def test_without_javascript_a_stale_checkout_answers_at_the_carts_address(
    no_js: BrowserContext, live_server: LiveServer
) -> None:
    tab_a, tab_b, cart_url = cart_in_two_tabs(no_js, live_server, ["TEA-CHAI"])
    add(tab_b, "MUG-TRVL", 1)

    tab_a.locator("#check-out").click()
    expect(tab_a).to_have_url(cart_url)
    alert = alert_in(tab_a, "#cart-summary", "Since you loaded this page: + 1 × Travel mug")
    expect(alert).to_be_focused()
    expect(tab_a.locator("#line-MUG-TRVL")).to_be_visible()
    tab_a.reload()
    expect(tab_a.get_by_role("alert")).to_have_count(0)
    tab_a.locator("#check-out").click()  # the page as it is now: pays for what it shows
    expect(tab_a.locator("#cart-panel")).to_contain_text("Receipt")


def test_a_stale_page_answer_below_the_fold_is_scrolled_to_and_focused(
    context: BrowserContext, live_server: LiveServer
) -> None:
    """The 409 of a quantity set on a page another tab has moved past, next to its line."""
    skus = ["BEAN-250", "FILT-100", "MUG-TRVL", "TEA-CHAI", "MILK-OAT"]
    page, other, _ = cart_in_two_tabs(context, live_server, skus)
    other.locator("#more-MILK-OAT").click()
    expect(other.locator("#line-quantity-MILK-OAT")).to_have_value("2")

    # The line's Update button at the foot of the window; its alert would land below it.
    page.locator("#set-MILK-OAT").evaluate("button => button.scrollIntoView(false)")
    page.locator("#line-quantity-MILK-OAT").fill("5")
    assert status_of_click(page, "#set-MILK-OAT", "/quantity") == 409
    alert = alert_in(page, "#line-MILK-OAT", "Since you loaded this page: + 1 × Oat milk")
    assert_brought_into_sight(page, alert)


def test_an_error_answering_the_pages_own_polling_takes_no_focus(
    context: BrowserContext, live_server: LiveServer
) -> None:
    """The receipt's number is asked for every two seconds until it is there (no policies run
    here, so it never is). An outage answers each ask with a 503 in #page-alert: shown, but
    the page stays where the person has it, and so does their focus."""
    page = context.new_page()
    open_new_cart(page, live_server)
    add(page, "MUG-TRVL", 1)
    expect(page.locator("#line-MUG-TRVL")).to_be_visible()
    page.route(
        re.compile(r"/receipt$"),
        lambda route: route.fulfill(
            status=503,
            headers={"HX-Retarget": "#page-alert", "HX-Reswap": "innerHTML"},
            body='<div class="alert alert--page" role="alert" tabindex="-1">Unavailable.</div>',
        ),
    )
    page.locator("#check-out").click()
    expect(page.locator("#receipt-number")).to_be_visible()
    page.evaluate("window.scrollTo(0, 400)")  # #page-alert out of sight
    link = page.locator("#cart-panel").get_by_role("link", name="Reload")
    link.focus()
    assert page.evaluate("window.scrollY") > 0
    before = link.bounding_box()

    with page.expect_response(re.compile(r"/receipt$")):
        pass  # the poll, two seconds after the checkout
    alert = page.locator("#page-alert").get_by_role("alert")
    expect(alert).to_have_text("Unavailable.")
    page.wait_for_timeout(500)
    expect(link).to_be_focused()
    # What the person looks at stays put (the browser's scroll anchoring makes up for the alert
    # growing above it).
    assert link.bounding_box() == before
