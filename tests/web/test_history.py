"""A cart's history page and its export through HTTP: the event list, the cart at any version
with what changed, `compare=`, `at=`, the scrubber as a whole page and as an htmx fragment, the
export as a test fixture, every error, and replays that leave the live cart alone."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, timedelta
from html import unescape
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emit.export import export_stream, read_export
from emit.testing import given as given_events
from shop.cart import AddItem, CheckOut, RemoveLine, cart_decider
from tests.web.conftest import HTMX, append_flips, create_history, make_app
from tests.web.html import element, has_element, tags
from webapp.db import CartEmit, get_emit
from webapp.history import EXPORT_WINDOW

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def cart_id(emit: CartEmit) -> str:
    return create_history(emit, "cart-h1")


def history(client: FlaskClient, cart_id: str, htmx: bool = False, **query: object) -> str:
    response = client.get(
        f"/carts/{cart_id}/history?{urlencode(query)}", headers=HTMX if htmx else {}
    )
    assert response.status_code == 200, response.text
    return response.text


def start_tag(html: str, element_id: str) -> str:
    return element(html, element_id).split(">", 1)[0]


def current_rows(page: str) -> list[str]:
    return [attributes["id"] or "" for _, attributes in tags(page) if "aria-current" in attributes]


def diff_rows(page: str) -> list[str]:
    return re.findall(r'class="event [^"]*is-in-diff[^"]*"\s+id="(event-\d+)"', page)


# --- the page ----------------------------------------------------------------------------------


def test_the_history_lists_every_event_and_shows_the_latest_version(
    client: FlaskClient, cart_id: str
) -> None:
    response = client.get(f"/carts/{cart_id}/history")
    assert response.status_code == 200
    assert "HX-Request" in response.vary
    page = response.text
    assert page.startswith("<!doctype html>")
    events = element(page, "events")
    assert re.findall(r'data-version="(\d+)"', events) == [str(v) for v in range(8)]
    row = element(page, "event-2")
    assert "Added 2 × Coffee beans, 250 g" in row
    assert "<code>ItemAdded</code>" in row
    assert "position 2" in row
    assert re.search(r'<time datetime="[^"]+Z" title="\d\d \w+ \d{4}, \d\d:\d\d:\d\d UTC">', row)
    assert "€25.80" in row  # the cart's total after it
    # The payload and metadata, as JSON, to expand.
    assert "<summary>Payload and metadata</summary>" in row
    assert "&#34;sku&#34;: &#34;BEAN-250&#34;" in row
    assert "&#34;command&#34;: &#34;AddItem&#34;" in row
    assert "Changed Coffee beans, 250 g from 2 to 3" in element(page, "event-5")
    assert "Removed 1 × Travel mug" in element(page, "event-6")
    assert "Checked out 4 items for €45.20" in element(page, "event-7")
    # The latest version is the one shown, and marked in the list.
    assert current_rows(page) == ["event-7"]
    panel = element(page, "replay")
    assert "As of version 7" in panel
    assert 'data-version="7"' in start_tag(page, "replay")
    assert "Version <strong>7</strong> of 7" in element(page, "scrubber-readout")


def test_each_version_shows_the_cart_as_it_was_with_what_changed(
    client: FlaskClient, cart_id: str, emit: CartEmit
) -> None:
    times = [recorded.recorded_at for recorded in emit.history(cart_id)]

    page = history(client, cart_id, version=2)
    assert current_rows(page) == ["event-2"]
    panel = element(page, "replay")
    assert "As of version 2" in panel
    assert f'<time datetime="{times[1].astimezone(UTC):%Y-%m-%dT%H:%M:%S}Z">' in panel
    assert "Added 2 × Coffee beans, 250 g" in panel
    assert "1 line changed since version 1" in panel
    assert re.search(r"Coffee beans, 250 g\s*<span class=\"change-tag change-tag--added\">", panel)
    assert '<span class="delta delta--up">+€25.80</span>' in panel
    assert "€25.80</strong>" in panel

    panel = element(history(client, cart_id, version=5), "replay")
    assert "change--changed" in panel
    assert re.search(r"× 2 <span aria-hidden=\"true\">→</span>.*became</span> 3", panel)
    assert '<span class="change-tag change-tag--changed">+1</span>' in panel
    assert "+€12.90" in panel
    assert panel.count("change--unchanged") == 2  # the filters and the mug

    panel = element(history(client, cart_id, version=6), "replay")
    assert re.search(r"Travel mug\s*<span class=\"change-tag change-tag--removed\">Removed", panel)
    assert '<span class="delta delta--down">−€22.00</span>' in panel
    assert "€45.20</strong>" in panel

    panel = element(history(client, cart_id, version=7), "replay")
    assert "Checked out 4 items for €45.20" in panel
    assert re.search(r"status--open\">Open</span>.*became.*status--checked_out", panel, re.S)
    assert "Only the status changed since version 6" in panel
    assert "delta" not in panel  # the total did not change

    panel = element(history(client, cart_id, version=1), "replay")
    assert "Opened the cart" in panel
    assert "The cart is empty." in panel
    assert re.search(r"status--new\">New</span>.*became.*status--open", panel, re.S)

    page = history(client, cart_id, version=0)
    panel = element(page, "replay")
    assert "As of version 0" in panel
    assert "Before the cart was opened" in panel
    assert "Nothing yet: the cart had not been opened." in panel
    assert "replay__event" not in panel
    assert current_rows(page) == ["event-0"]


def test_the_step_links_move_one_version_and_stop_at_the_ends(
    client: FlaskClient, cart_id: str
) -> None:
    steps = element(history(client, cart_id, version=3), "steps")
    hrefs = dict(re.findall(r'id="step-(\w+)" href="([^"]+)" hx-get="\2"', steps))
    base = f"/carts/{cart_id}/history?version="
    assert hrefs == {
        "first": base + "0",
        "previous": base + "2",
        "next": base + "4",
        "last": base + "7",
    }

    first = element(history(client, cart_id, version=0), "steps")
    assert re.findall(r'id="step-(\w+)" aria-disabled="true"', first) == ["first", "previous"]
    last = element(history(client, cart_id), "steps")
    assert re.findall(r'id="step-(\w+)" aria-disabled="true"', last) == ["next", "last"]


def test_without_javascript_the_scrubber_is_a_get_form_and_links(
    client: FlaskClient, cart_id: str
) -> None:
    page = history(client, cart_id, version=4)
    scrubber = element(page, "scrubber")
    form = re.search(r"<form class=\"scrubber__form\"[^>]*>", scrubber)
    assert form is not None
    assert f'method="get" action="/carts/{cart_id}/history"' in form[0]
    assert (
        '<input class="scrubber__range" id="version-range" type="range" name="version"\n'
        '           min="0" max="7" step="1" value="4" autocomplete="off">'
    ) in scrubber
    assert 'type="submit"' in element(page, "show-version")
    assert "hidden" in start_tag(page, "play")  # playing needs JavaScript
    at_form = element(page, "scrubber").split('class="at-form"', 1)[1]
    assert 'type="datetime-local" name="at" step="1"' in at_form
    # Every version in the list is a plain link too.
    assert f'href="/carts/{cart_id}/history?version=2"' in element(page, "event-2")


def test_with_htmx_the_scrubber_fetches_the_state_panel_alone(
    client: FlaskClient, cart_id: str
) -> None:
    page = history(client, cart_id)
    layout = start_tag(page, "history-page")
    assert 'hx-target="#replay"' in layout
    assert 'hx-swap="outerHTML"' in layout
    assert 'hx-push-url="true"' in layout  # the address bar follows: ?version=N
    assert '<script src="/static/js/timeline.js" defer></script>' in page

    response = client.get(f"/carts/{cart_id}/history?version=3", headers=HTMX)
    assert response.status_code == 200
    assert "HX-Request" in response.vary
    body = response.text
    assert body.startswith('<section id="replay"')
    assert "<html" not in body
    assert not has_element(body, "events")
    assert "As of version 3" in element(body, "replay")
    # Out of band: the readout (its content only: it is a live region) and the step links.
    readout = element(body, "scrubber-readout")
    assert 'hx-swap-oob="innerHTML"' in readout.split(">", 1)[0]
    assert "Version <strong>3</strong> of 7" in readout
    assert "Added 1 × Paper filters, 100" in readout
    assert 'hx-swap-oob="true"' in start_tag(body, "steps")
    assert "?version=4" in element(body, "step-next")


def test_a_boosted_or_restoring_request_gets_the_whole_page(
    client: FlaskClient, cart_id: str
) -> None:
    for extra in ({"HX-Boosted": "true"}, {"HX-History-Restore-Request": "true"}):
        response = client.get(f"/carts/{cart_id}/history?version=3", headers={**HTMX, **extra})
        assert "<html" in response.text


# --- compare and at ----------------------------------------------------------------------------


def test_compare_diffs_any_two_versions(client: FlaskClient, cart_id: str) -> None:
    page = history(client, cart_id, version=5, compare=2)
    panel = element(page, "replay")
    assert "3 lines changed since version 2" in panel
    assert panel.count("change-tag--added") == 2  # the filters and the mug
    assert "+1" in panel  # the beans
    assert "+€41.40" in panel
    assert f'href="/carts/{cart_id}/history?version=5">compare with the one before' in panel
    assert diff_rows(page) == ["event-3", "event-4", "event-5"]
    assert current_rows(page) == ["event-5"]
    # Every move keeps the comparison.
    assert "version=4&amp;compare=2" in element(page, "step-previous")
    assert "version=3&amp;compare=2" in element(page, "event-3")
    # The slider, at= and the list's filter.
    assert page.count('<input type="hidden" name="compare" value="2">') == 3

    backwards = element(history(client, cart_id, version=2, compare=7), "replay")
    assert "since version 7" in backwards
    assert re.search(r"status--checked_out.*became.*status--open", backwards, re.S)
    assert "change-tag--removed" in backwards  # the filters were not there yet
    assert "−€19.40" in backwards

    same = element(history(client, cart_id, version=4, compare=4), "replay")
    assert "No change since version 4" in same
    assert "change-tag" not in same


def test_at_selects_the_last_version_at_or_before_a_moment(
    client: FlaskClient, cart_id: str, emit: CartEmit
) -> None:
    times = [recorded.recorded_at.astimezone(UTC) for recorded in emit.history(cart_id)]
    moments = [
        times[0] - timedelta(days=1),
        times[0],
        times[3],
        times[3] - timedelta(microseconds=1),
        times[-1] + timedelta(days=1),
    ]
    for moment in moments:
        expected = sum(time <= moment for time in times)
        page = history(client, cart_id, at=moment.isoformat())
        assert f"As of version {expected}" in element(page, "replay"), moment
        assert current_rows(page) == [f"event-{expected}"]

    before = element(history(client, cart_id, at=moments[0].isoformat()), "replay")
    assert "the cart was not opened yet" in before
    after = element(history(client, cart_id, at="2999-01-01T00:00:00Z"), "replay")
    assert "The last version at or before 01 Jan 2999, 00:00:00 UTC." in after


def test_at_takes_the_usual_ways_of_writing_a_time(client: FlaskClient, cart_id: str) -> None:
    for at in [
        "2999-01-01",
        "2999-01-01T00:00",  # no offset: UTC, as datetime-local sends it
        "2999-01-01T00:00:00+01:00",
        "2999-01-01 00:00:00",
        "29990101T000000Z",
    ]:
        assert "As of version 7" in history(client, cart_id, at=at), at
    # An unencoded "+" in a query string arrives as a space.
    page = client.get(f"/carts/{cart_id}/history?at=2000-01-01T00:00:00+01:00").text
    assert "As of version 0" in page


def test_at_works_with_htmx_and_compare(client: FlaskClient, cart_id: str) -> None:
    body = history(client, cart_id, htmx=True, at="2999-01-01T00:00:00Z", compare=3)
    assert body.startswith('<section id="replay"')
    assert "As of version 7" in body
    assert "since version 3" in body


# --- export ------------------------------------------------------------------------------------


def test_the_export_is_the_stream_with_its_metadata(
    client: FlaskClient, cart_id: str, emit: CartEmit
) -> None:
    response = client.get(f"/carts/{cart_id}/events.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Content-Disposition"] == "attachment; filename=cart-h1.events.json"
    document = response.get_json()
    assert document["format"] == "emit.stream/1"
    assert (document["decider"], document["aggregate_id"], document["version"]) == (
        "cart",
        "cart-h1",
        7,
    )
    assert [event["type"] for event in document["events"]][:3] == [
        "CartOpened",
        "ItemAdded",
        "ItemAdded",
    ]
    assert document["events"][1]["metadata"]["command"] == "AddItem"
    assert read_export(cart_decider, document) == emit.history(cart_id)
    assert f'href="/carts/{cart_id}/events.json"' in history(client, cart_id)


def test_an_export_is_a_test_fixture(client: FlaskClient, cart_id: str) -> None:
    document = client.get(f"/carts/{cart_id}/events.json").get_json()
    events = [recorded.event for recorded in read_export(cart_decider, document)]
    given_events(cart_decider, *events).when(AddItem("MUG-TRVL")).then_rejected("checked out")


def test_a_saved_export_loads_back() -> None:
    """tests/web/fixtures/ holds the demo's checked-out cart, saved with
    `flask --app webapp emit export cart-5eed0001`: a test can start from a real stream."""
    document = json.loads((FIXTURES / "cart-5eed0001.events.json").read_text())
    recorded = read_export(cart_decider, document)
    assert [r.type for r in recorded][-1] == "CartCheckedOut"
    events = [r.event for r in recorded]
    cart = given_events(cart_decider, *events[:-1]).when(CheckOut()).then(events[-1])
    assert cart.status == "checked_out"
    given_events(cart_decider, *events).when(RemoveLine("BEAN-250")).then_rejected("checked out")


def test_the_export_file_name_is_safe_for_any_cart_id(client: FlaskClient, emit: CartEmit) -> None:
    cart_id = '.secret <b>"mine"<b> é'
    emit.create(cart_id)
    response = client.get(f"/carts/{quote(cart_id, safe='')}/events.json")
    assert response.status_code == 200
    assert (
        response.headers["Content-Disposition"]
        == "attachment; filename=secret__b__mine__b___.events.json"
    )


# --- errors ------------------------------------------------------------------------------------


BAD_QUERIES = [
    ("version=abc", 400, "“abc” is not a version: versions are whole numbers counted from 0"),
    ("version=-1", 400, "is not a version"),
    ("version=1.5", 400, "is not a version"),
    ("version=%D9%A3", 400, "is not a version"),  # an Arabic-Indic 3
    ("version=" + "9" * 30, 400, "is far too large to be a version"),
    ("version=8", 404, "Cart “cart-h1” has versions 0 to 7; there is no version 8."),
    ("version=123456789", 404, "there is no version 123456789."),
    ("compare=x", 400, "“x” is not a version to compare with"),
    ("compare=99", 404, "there is no version 99 to compare with."),
    ("at=yesterday", 400, "“yesterday” is not a time: write it in ISO 8601"),
    ("at=2025-13-01", 400, "is not a time"),
    ("at=" + "2" * 500, 400, "is not a time"),
    ("at=0001-01-01T00:00:00%2B14:00", 400, "falls outside the years 1 to 9999"),
    ("version=1&at=2025-01-01", 400, "Ask for a version or a time (at), not both."),
]


@pytest.mark.parametrize(("query", "status", "message"), BAD_QUERIES)
def test_a_bad_version_compare_or_time_says_what_is_wrong(
    client: FlaskClient, cart_id: str, query: str, status: int, message: str
) -> None:
    page = client.get(f"/carts/{cart_id}/history?{query}")
    assert page.status_code == status
    assert message in page.text
    assert "<html" in page.text
    assert "2" * 100 not in page.text  # a long value is cut short when quoted

    fragment = client.get(f"/carts/{cart_id}/history?{query}", headers=HTMX)
    assert fragment.status_code == status
    assert message in fragment.text
    assert fragment.headers["HX-Retarget"] == "#page-alert"
    assert fragment.headers["HX-Push-Url"] == "false"  # the address bar stays where it was


def test_an_empty_parameter_is_as_if_absent(client: FlaskClient, cart_id: str) -> None:
    assert "As of version 7" in history(client, cart_id, version="", at="", compare="")


def test_an_unknown_or_malformed_cart_is_a_404_or_400(client: FlaskClient) -> None:
    for url in ("/carts/cart-nope/history", "/carts/cart-nope/events.json"):
        response = client.get(url)
        assert response.status_code == 404
        assert "There is no cart “cart-nope”." in response.text
    response = client.get("/carts/cart-nope/history", headers=HTMX)
    assert response.headers["HX-Retarget"] == "#page-alert"
    for url in ("/carts/%20x/history", "/carts/%00/events.json"):
        response = client.get(url)
        assert response.status_code == 400
        assert "is not a cart id" in response.text


ANY_TEXT = st.text(max_size=60) | st.sampled_from(["", "0", "7", "8", "-1", "2025-01-01"])


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(version=ANY_TEXT, compare=ANY_TEXT, at=ANY_TEXT, page=ANY_TEXT, htmx=st.booleans())
def test_no_query_produces_a_500(
    client: FlaskClient, cart_id: str, version: str, compare: str, at: str, page: str, htmx: bool
) -> None:
    query = urlencode({"version": version, "compare": compare, "at": at, "page": page})
    response = client.get(f"/carts/{cart_id}/history?{query}", headers=HTMX if htmx else {})
    assert response.status_code in {200, 400, 404}, query


def test_the_history_escapes_what_users_typed(client: FlaskClient, emit: CartEmit) -> None:
    nasty = '<img src=x onerror="alert(1)">'
    emit.create(nasty)
    emit.handle_command(nasty, AddItem("BEAN-250"))
    url = f"/carts/{quote(nasty, safe='')}/history"
    for response in (client.get(url), client.get(url, headers=HTMX)):
        assert response.status_code == 200
        assert nasty not in response.text
        assert "<img" not in response.text
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in client.get(url).text


# --- links and the live cart -------------------------------------------------------------------


def test_every_cart_links_to_its_history(client: FlaskClient, emit: CartEmit, cart_id: str) -> None:
    history_link = f'href="/carts/{cart_id}/history">History'
    row = element(client.get("/").text, "cart-table").split(f"{cart_id}</a>", 1)[1]
    assert history_link in row.split("</tr>", 1)[0]
    cart_page = client.get(f"/carts/{cart_id}").text
    assert history_link in cart_page
    page = history(client, cart_id)
    assert f'href="/carts/{cart_id}">View cart' in page
    assert history_link not in page


def test_replays_never_change_the_live_cart(
    app: Flask, client: FlaskClient, emit: CartEmit
) -> None:
    emit.create("cart-live")
    emit.handle_command("cart-live", AddItem("TEA-CHAI", 2))
    emit.handle_command("cart-live", AddItem("MILK-OAT", 1))
    live = emit.aggregate("cart-live")
    for version in range(4):
        history(client, "cart-live", version=version)
        history(client, "cart-live", htmx=True, version=version, compare=3 - version)
    history(client, "cart-live", at="2000-01-01")
    client.get("/carts/cart-live/events.json")
    runner = app.test_cli_runner()
    assert runner.invoke(args=["emit", "replay", "cart-live", "--version", "1"]).exit_code == 0
    assert runner.invoke(args=["emit", "history", "cart-live"]).exit_code == 0

    assert emit.aggregate("cart-live") is live  # not even replaced by an equal copy
    result = emit.handle_command("cart-live", AddItem("TEA-CHAI", 1))
    assert result.version == 4
    assert [(line.sku, line.quantity) for line in result.state.lines] == [
        ("TEA-CHAI", 3),
        ("MILK-OAT", 1),
    ]


def test_the_history_of_a_cart_outside_the_pool_leaves_it_outside(
    client: FlaskClient, cart_id: str, emit: CartEmit
) -> None:
    emit.pool.discard(cart_id)
    history(client, cart_id, version=3)
    client.get(f"/carts/{cart_id}/events.json")
    assert cart_id not in emit.pool


def test_a_page_reads_the_stream_once_whatever_it_shows(
    client: FlaskClient, cart_id: str, emit: CartEmit, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every version on the page (a total per event, the one shown, the one compared with) comes
    from one read of the events it lists and a replay (without metadata) up to them, not a
    replay per version."""
    reads: list[str] = []
    read_stream = emit.store.read_stream

    def counted(stream_id: str, **options: object) -> object:
        reads.append(stream_id)
        return read_stream(stream_id, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(emit.store, "read_stream", counted)
    for htmx in (False, True):
        history(client, cart_id, htmx=htmx, version=5, compare=1)
        assert reads == [cart_id]
        reads.clear()


# --- a long stream: paged history, streamed export -----------------------------------------------

LONG = 20_000


@pytest.fixture(scope="module")
def long_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    app = make_app(f"sqlite:///{tmp_path_factory.mktemp('long') / 'emit.sqlite3'}")
    append_flips(get_emit(app), "cart-long", LONG)
    yield app
    get_emit(app).close()


def pager_links(page: str) -> dict[str, str]:
    """The pager's links ("first", "earlier", "later", "last") as plain hrefs."""
    return {
        name: unescape(href)
        for name, href in re.findall(r'id="events-(\w+)-top" href="([^"]+)"', page)
    }


def listed_versions(page: str) -> list[int]:
    return [int(v) for v in re.findall(r'data-version="(\d+)"', element(page, "events"))]


def test_the_history_of_20000_events_is_one_small_page(long_app: Flask) -> None:
    response = long_app.test_client().get("/carts/cart-long/history")
    assert response.status_code == 200
    assert len(response.data) < 300_000  # it was 28.8 MB, every event with its JSON
    page = response.text
    assert listed_versions(page) == list(range(LONG - 99, LONG + 1))  # the page of the latest
    assert "Page 200 of 200: versions 19901 to 20000 of 20000" in page
    assert current_rows(page) == [f"event-{LONG}"]
    assert "As of version 20000" in element(page, "replay")
    assert f'min="0" max="{LONG}"' in element(page, "scrubber")  # the scrubber spans them all
    assert set(pager_links(page)) == {"first", "earlier"}  # no later page
    assert pager_links(page)["earlier"] == f"/carts/cart-long/history?version={LONG}&page=199"
    # The totals of the listed events come from the replay up to the page.
    assert "€12.90" in element(page, f"event-{LONG}")  # 1 bag at an even version
    assert "€25.80" in element(page, f"event-{LONG - 1}")  # 2 at an odd one


def test_any_version_of_a_long_cart_shows_with_its_page(long_app: Flask) -> None:
    client = long_app.test_client()
    page = history(client, "cart-long", version=10_050, compare=3)
    assert listed_versions(page) == list(range(10_001, 10_101))
    assert current_rows(page) == ["event-10050"]
    assert "As of version 10050" in element(page, "replay")
    assert "since version 3" in element(page, "replay")
    first = history(client, "cart-long", page=1)
    assert listed_versions(first) == list(range(101))  # with version 0, before the first event
    assert "As of version 20000" in element(first, "replay")  # the version shown stays
    assert history(client, "cart-long", at="2999-01-01").count("As of version 20000") == 1


def test_without_javascript_the_pager_reaches_every_event(sqlite_url: str) -> None:
    """From the last page, "Earlier events" leads through every page to version 0, with the
    version shown left as it was; and back again with "Later events"."""
    app = make_app(sqlite_url, HISTORY_EVENTS_PER_PAGE=10)
    append_flips(get_emit(app), "cart-walk", 95)
    client = app.test_client()
    url: str | None = "/carts/cart-walk/history?version=42&page=10"
    seen: list[int] = []
    while url:
        page = client.get(url).text
        assert "As of version 42" in element(page, "replay")
        seen = listed_versions(page) + seen
        url = pager_links(page).get("earlier")
    assert seen == list(range(96))
    url, seen = "/carts/cart-walk/history?version=42&page=1", []
    while url:
        page = client.get(url).text
        seen += listed_versions(page)
        url = pager_links(page).get("later")
    assert seen == list(range(96))
    for bad, status in (("11", 404), ("0", 400), ("x", 400), ("-1", 400), ("9" * 30, 400)):
        response = client.get(f"/carts/cart-walk/history?page={bad}")
        assert response.status_code == status
    assert (
        "fill pages 1 to 10; there is no page 11."
        in client.get("/carts/cart-walk/history?page=11").text
    )
    get_emit(app).close()


def test_with_htmx_the_list_follows_the_scrubber_to_another_page(long_app: Flask) -> None:
    client = long_app.test_client()
    # The scrubber sends the page its list shows: on the same page, only the state panel.
    same = client.get("/carts/cart-long/history?version=19950&page=200", headers=HTMX)
    assert same.status_code == 200
    assert not has_element(same.text, "events")
    assert same.headers["HX-Push-Url"] == "/carts/cart-long/history?version=19950"
    # On another page, that page comes along out of band.
    other = client.get("/carts/cart-long/history?version=150&page=200", headers=HTMX)
    assert other.text.startswith('<section id="replay"')
    events = element(other.text, "events")
    assert 'hx-swap-oob="true"' in events.split(">", 1)[0]
    assert listed_versions(other.text) == list(range(101, 201))
    assert current_rows(other.text) == ["event-150"]
    assert 'id="events-page" name="page" value="2"' in events
    assert other.headers["HX-Push-Url"] == "/carts/cart-long/history?version=150"
    assert len(other.data) < 300_000
    # Without `page` (a link in the list, an older page) nothing is pushed in its place.
    plain = client.get("/carts/cart-long/history?version=150", headers=HTMX)
    assert "HX-Push-Url" not in plain.headers
    assert not has_element(plain.text, "events")


def test_with_htmx_the_pager_fetches_the_list_alone(long_app: Flask) -> None:
    page = history(long_app.test_client(), "cart-long")
    assert 'hx-include="#events-page"' in start_tag(page, "scrubber")
    earlier = element(page, "events-earlier-top")
    assert 'hx-target="#events" hx-swap="outerHTML"' in earlier
    response = long_app.test_client().get(
        "/carts/cart-long/history?version=20000&page=199",
        headers={**HTMX, "HX-Target": "events"},
    )
    assert response.text.startswith('<section id="events"')
    assert not has_element(response.text, "replay")
    assert listed_versions(response.text) == list(range(19_801, 19_901))
    assert current_rows(response.text) == []  # the version shown is on another page


def test_the_export_of_a_long_cart_is_streamed_in_windows(
    long_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    emit = get_emit(long_app)
    windows: list[int] = []
    read_stream = emit.store.read_stream

    def counted(stream_id: str, *, after: int = 0, up_to: int | None = None) -> object:
        windows.append((up_to or LONG) - after)
        return read_stream(stream_id, after=after, up_to=up_to)

    monkeypatch.setattr(emit.store, "read_stream", counted)
    response = long_app.test_client().get("/carts/cart-long/events.json", buffered=False)
    assert response.status_code == 200
    assert response.is_streamed
    assert "Content-Length" not in response.headers
    text = response.get_data(as_text=True)
    assert max(windows) == EXPORT_WINDOW  # never the whole stream at once
    assert sum(windows) == LONG
    monkeypatch.undo()
    events = emit.history("cart-long")
    # The same text the whole document would be, and it imports back.
    whole = json.dumps(export_stream(cart_decider, events), indent=2, ensure_ascii=False)
    assert text == whole + "\n"
    assert read_export(cart_decider, json.loads(text)) == events
