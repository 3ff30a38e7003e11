"""The log (`/events`) in a real browser: the filter form and the pager swap the list with htmx
and push a URL that loads the same list again."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from emit import LogFilter
from shop.cart import AddItem
from webapp.db import get_emit
from webapp.live_server import LiveServer

pytestmark = pytest.mark.browser


def test_filtering_and_paging_swap_the_list_and_push_the_url(
    page: Page, live_server: LiveServer
) -> None:
    emit = get_emit(live_server.app)
    for n in range(26):  # 52 ItemAdded events among 78: a filtered log of two pages
        emit.create(f"cart-log-{n}")
        emit.handle_command(f"cart-log-{n}", AddItem("BEAN-250"))
        emit.handle_command(f"cart-log-{n}", AddItem("MUG-TRVL"))
    head = emit.store.head_position()
    added = [e.position for e in emit.log(LogFilter("ItemAdded"), limit=100)]
    page.goto(f"{live_server.url}/events")
    page.evaluate("window.stillTheSamePage = true")
    expect(page.locator("#log-rows li").first).to_have_attribute("id", f"log-{head}")

    page.locator("#filter-type").select_option("ItemAdded")
    page.locator("#filter-submit").click()
    expect(page).to_have_url(f"{live_server.url}/events?type=ItemAdded")
    expect(page.locator("#log-rows li")).to_have_count(50)
    expect(page.locator("#log-rows .log__cart + code").first).to_have_text("ItemAdded")

    page.locator("#log-older-top").click()
    expect(page).to_have_url(f"{live_server.url}/events?type=ItemAdded&before={added[49]}")
    expect(page.locator("#log-rows li")).to_have_count(2)
    assert page.evaluate("window.stillTheSamePage") is True  # swapped, not loaded

    page.reload()  # the URL pushed is the page: shareable
    expect(page.locator("#log-rows li")).to_have_count(2)
    expect(page.locator("#filter-type")).to_have_value("ItemAdded")
