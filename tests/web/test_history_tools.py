"""The timeline's tools through HTTP: the compare control, the filter by event type, starting a
new cart from a version (a fork) and the two carts' links to each other, and a version copied
as a test, which is run with pytest in a subprocess to show it passes."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import replace
from html import unescape
from pathlib import Path
from urllib.parse import urlencode

import pytest
from flask.testing import FlaskClient

from shop.cart import AddItem, ChangeQuantityBy, CheckOut
from tests.web.conftest import HTMX, create_history, make_app
from tests.web.html import element, has_element
from tests.web.test_limits import assert_refused, client_at
from webapp.db import CartEmit, get_emit
from webapp.scenarios import command_of, scenario

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cart_id(emit: CartEmit) -> str:
    return create_history(emit, "cart-t1")


def page_of(client: FlaskClient, cart_id: str, **query: object) -> str:
    response = client.get(f"/carts/{cart_id}/history?{urlencode(query)}")
    assert response.status_code == 200, response.text
    return response.text


# --- compare ------------------------------------------------------------------------------------


def test_the_compare_control_is_a_get_form_for_the_version_shown(
    client: FlaskClient, cart_id: str
) -> None:
    form = element(page_of(client, cart_id, version=5, compare=2), "compare-form")
    assert 'method="get"' in form
    assert f'action="/carts/{cart_id}/history"' in form
    assert '<input type="hidden" name="version" value="5">' in form
    assert re.search(r'name="compare"\s+min="0" max="7"', form)
    assert 'value="2"' in form
    # Without a comparison the field is empty and says what that means.
    form = element(page_of(client, cart_id, version=5), "compare-form")
    assert 'value=""' in form
    assert 'placeholder="4"' in form


def test_a_new_comparison_answers_htmx_with_the_whole_region(
    client: FlaskClient, cart_id: str
) -> None:
    headers = HTMX | {"HX-Trigger": "compare-form"}
    answer = client.get(f"/carts/{cart_id}/history?version=5&compare=1", headers=headers)
    assert answer.status_code == 200
    # The whole page, for htmx to pick #history-page from: every link keeps the comparison.
    assert has_element(answer.text, "history-page")
    assert "version=4&amp;compare=1" in element(answer.text, "step-previous")
    assert "version=3&amp;compare=1" in element(answer.text, "event-3")
    assert "3 lines changed since version 1" in element(answer.text, "replay")
    # Any other move still gets the state panel alone.
    move = client.get(f"/carts/{cart_id}/history?version=5&compare=1", headers=HTMX)
    assert not has_element(move.text, "history-page")
    assert has_element(move.text, "replay")


# --- the filter ---------------------------------------------------------------------------------


def test_the_list_filtered_by_event_type(client: FlaskClient, cart_id: str) -> None:
    page = page_of(client, cart_id, version=4, type="ItemAdded")
    events = element(page, "events")
    assert re.findall(r'id="event-(\d+)"', events) == ["2", "3", "4"]
    assert "only ItemAdded: 3" in events
    assert '<option value="ItemAdded" selected>' in element(page, "events-filter")
    # Every link of the page keeps the filter; the forms carry it as a field.
    assert "type=ItemAdded" in element(page, "step-next")
    assert "type=ItemAdded" in element(page, "event-2")
    assert '<input type="hidden" name="type" value="ItemAdded">' in element(page, "scrubber")
    # The version shown need not be listed.
    page = page_of(client, cart_id, version=7, type="CartOpened")
    assert re.findall(r'id="event-(\d+)"', element(page, "events")) == ["1"]
    page = page_of(client, cart_id, type="CartCheckedOut", version=2)
    assert "As of version 2" in element(page, "replay")


def test_a_filter_with_no_events_says_so(client: FlaskClient, emit: CartEmit) -> None:
    emit.create("cart-t2")
    page = page_of(client, "cart-t2", type="LineRemoved")
    assert "No LineRemoved events among these versions." in element(page, "events")


def test_an_unknown_event_type_is_refused(client: FlaskClient, cart_id: str) -> None:
    response = client.get(f"/carts/{cart_id}/history?type=%3Cscript%3E")
    assert response.status_code == 400
    assert "“&lt;script&gt;” is not a type of a cart&#39;s events" in response.text
    assert "CartOpened, ItemAdded, QuantityChanged, LineRemoved, CartCheckedOut" in response.text


# --- fork ---------------------------------------------------------------------------------------


def test_a_fork_button_at_each_open_version(client: FlaskClient, cart_id: str) -> None:
    form = element(page_of(client, cart_id, version=3), "replay")
    assert f'action="/carts/{cart_id}/fork"' in form
    assert "Start a new cart from version 3" in form
    assert '<input type="hidden" name="version" value="3">' in form
    # Not before the cart was opened, nor once it was checked out.
    assert not has_element(page_of(client, cart_id, version=0), "fork")
    assert not has_element(page_of(client, cart_id, version=7), "fork")


def test_a_fork_goes_to_the_new_carts_history(
    client: FlaskClient, emit: CartEmit, cart_id: str
) -> None:
    response = client.post(f"/carts/{cart_id}/fork", data={"version": "4", "key": "k" * 20})
    assert response.status_code == 303
    match = re.fullmatch(r"/carts/(cart-[0-9a-f]{8})/history", response.location)
    assert match is not None
    fork_id = match[1]
    for version in range(5):
        assert emit.state_at(fork_id, version) == emit.state_at(cart_id, version)
    page = client.get(response.location).text
    note = element(page, "forked-from")
    assert "Forked from" in note
    assert f'href="/carts/{cart_id}/history?version=4"' in note
    assert "at version 4" in note
    origin = element(page_of(client, cart_id), "forks")
    assert f'href="/carts/{fork_id}/history"' in origin
    assert "from version 4" in origin
    # The same form sent again makes no second cart.
    again = client.post(f"/carts/{cart_id}/fork", data={"version": "4", "key": "k" * 20})
    assert again.location == response.location
    assert [f.aggregate_id for f in emit.forks_of(cart_id)] == [fork_id]
    # The new cart takes commands of its own.
    client.post(f"/carts/{fork_id}/items", data={"sku": "TEA-CHAI"})
    assert emit.get_state(fork_id).line("TEA-CHAI") is not None
    assert emit.get_state(cart_id).line("TEA-CHAI") is None


@pytest.mark.parametrize(
    ("form", "status", "message"),
    [
        ({"version": "0"}, 404, "has versions 1 to 7 to start from; not 0"),
        ({"version": "8"}, 404, "has versions 1 to 7 to start from; not 8"),
        ({"version": "7"}, 409, "Version 7 of cart “cart-t1” is checked out"),
        ({"version": "x"}, 400, "“x” is not a version"),
        ({}, 400, "Say which version of the cart the new one starts from."),
    ],
)
def test_a_fork_that_cannot_be_made_changes_nothing(
    client: FlaskClient,
    emit: CartEmit,
    cart_id: str,
    form: dict[str, str],
    status: int,
    message: str,
) -> None:
    before = emit.store.head_position()
    response = client.post(f"/carts/{cart_id}/fork", data=form)
    assert response.status_code == status
    assert message in unescape(response.text)
    assert emit.store.head_position() == before
    assert emit.forks_of(cart_id) == []


def test_a_fork_copies_at_most_fork_max_events(sqlite_url: str) -> None:
    app = make_app(sqlite_url, FORK_MAX_EVENTS=3)
    emit = get_emit(app)
    create_history(emit, "cart-t1")
    client = app.test_client()
    assert has_element(page_of(client, "cart-t1", version=3), "fork")
    assert not has_element(page_of(client, "cart-t1", version=4), "fork")
    response = client.post("/carts/cart-t1/fork", data={"version": "4"})
    assert response.status_code == 400
    assert "A new cart copies at most 3 events (FORK_MAX_EVENTS)" in unescape(response.text)
    assert emit.forks_of("cart-t1") == []
    assert client.post("/carts/cart-t1/fork", data={"version": "3"}).status_code == 303
    emit.close()


def test_a_fork_of_a_missing_cart_is_404(client: FlaskClient, emit: CartEmit) -> None:
    response = client.post("/carts/cart-nowhere/fork", data={"version": "1"})
    assert response.status_code == 404
    assert emit.store.head_position() == 0


def test_a_shopper_forks_only_their_own_carts_and_sees_the_fork(sqlite_url: str) -> None:
    app = make_app(sqlite_url, CARTS_PUBLIC=False)
    emit = get_emit(app)
    shopper, stranger = app.test_client(), app.test_client()
    cart = shopper.post("/carts").location.rsplit("/", 1)[1]
    shopper.post(f"/carts/{cart}/items", data={"sku": "BEAN-250"})
    assert stranger.post(f"/carts/{cart}/fork", data={"version": "2"}).status_code == 403
    assert emit.forks_of(cart) == []
    fork = shopper.post(f"/carts/{cart}/fork", data={"version": "2"})
    assert fork.status_code == 303
    assert shopper.get(fork.location).status_code == 200
    emit.close()


def test_forks_count_as_new_carts_for_the_rate_limit(sqlite_url: str) -> None:
    app = make_app(sqlite_url, RATE_LIMIT_NEW_CARTS="2 per minute")
    create_history(get_emit(app), "cart-t1")
    shopper = client_at(app, "10.0.9.1")
    assert shopper.post("/carts").status_code == 303
    assert shopper.post("/carts/cart-t1/fork", data={"version": "2"}).status_code == 303
    refused = shopper.post("/carts/cart-t1/fork", data={"version": "2"})
    assert_refused(refused, "Too many new carts from your address: at most 2 per minute.")
    assert len(get_emit(app).forks_of("cart-t1")) == 1
    get_emit(app).close()


# --- copy as a test -----------------------------------------------------------------------------


def test_the_copy_as_a_test_control_loads_the_test_when_opened(
    client: FlaskClient, cart_id: str
) -> None:
    tools = element(page_of(client, cart_id, version=3), "scenario")
    url = f"/carts/{cart_id}/history/test.py?version=3"
    assert f'hx-get="{url}"' in tools
    assert f'href="{url}"' in tools  # without JavaScript: the text itself
    plain = client.get(url)
    assert plain.mimetype == "text/plain"
    fragment = client.get(url, headers=HTMX).text
    assert 'data-copy="#scenario-text"' in fragment
    assert unescape(element(fragment, "scenario-text")).endswith(plain.text + "</code>")


def run_as_a_test(tmp_path: Path, text: str, name: str) -> subprocess.CompletedProcess[str]:
    test_file = tmp_path / f"test_{name}.py"
    test_file.write_text(text, encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_each_version_copied_as_a_test_runs_and_passes(
    client: FlaskClient, emit: CartEmit, tmp_path: Path
) -> None:
    """Every kind of step: the genesis (version 0), adds, "+" and "−" (ChangeQuantityBy), a
    quantity set, a line removed by its quantity going to 0, a checkout, and the latest."""
    emit.create("cart-t3")
    for command in [
        AddItem("BEAN-250", 2),
        AddItem("MUG-TRVL"),
        ChangeQuantityBy("BEAN-250", 1),
        ChangeQuantityBy("MUG-TRVL", -1),
        CheckOut(),
    ]:
        emit.handle_command("cart-t3", command)
    create_history(emit, "cart-t1")  # ChangeQuantity, RemoveLine
    texts = []
    for cart, versions in [("cart-t3", range(7)), ("cart-t1", range(8))]:
        for version in versions:
            text = client.get(f"/carts/{cart}/history/test.py?version={version}").text
            assert f"def test_{cart.replace('-', '_')}_at_version_{version}()" in text
            texts.append(text.replace("def test_", f"def test_{len(texts)}_"))
    assert "scenario.when(ChangeQuantityBy(sku='MUG-TRVL', by=-1))" in "".join(texts)
    assert "scenario.when(CheckOut()).then(CartCheckedOut(" in "".join(texts)
    assert "genesis_events('cart-t3')" in texts[0]
    # One file, each test with its own imports: as many tests as versions, all passing.
    result = run_as_a_test(tmp_path, "\n\n".join(texts), "copied")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(texts)} passed" in result.stdout


def test_a_copied_test_fails_when_the_rules_differ(
    client: FlaskClient, emit: CartEmit, tmp_path: Path
) -> None:
    """The generated test checks something: with the event it expects changed, it fails."""
    emit.create("cart-t4")
    emit.handle_command("cart-t4", AddItem("BEAN-250", 2))
    text = client.get("/carts/cart-t4/history/test.py?version=1").text
    assert "quantity=2, line_quantity=2)" in text
    broken = text.replace("quantity=2, line_quantity=2)", "quantity=2, line_quantity=3)")
    result = run_as_a_test(tmp_path, broken, "broken")
    assert result.returncode == 1
    assert "1 failed" in result.stdout


def test_an_event_whose_command_cannot_be_told_gets_a_comment(
    emit: CartEmit, tmp_path: Path
) -> None:
    """An event recorded by a command the page cannot rebuild (another name than the one that
    makes such events here, say a bulk import's): the text says so instead of guessing, and
    still runs. A fork's copies keep their command's name, so their test has its `when`."""
    emit.create("cart-t5")
    emit.handle_command("cart-t5", AddItem("BEAN-250"))
    events = emit.history("cart-t5")
    imported = replace(events[1], metadata=replace(events[1].metadata, command="BulkImport"))
    assert command_of(imported) is None
    text = scenario("cart-t5", 1, events[:1], imported)
    assert "recorded by the command 'BulkImport'" in text
    assert ".when(" not in text
    result = run_as_a_test(tmp_path, text, "uncertain")
    assert result.returncode == 0, result.stdout + result.stderr

    emit.fork("cart-t5", 2, "cart-t6")
    copies = emit.history("cart-t6")
    assert command_of(copies[1]) == AddItem("BEAN-250", 1)


def test_copy_as_a_test_of_a_missing_version_is_404(client: FlaskClient, cart_id: str) -> None:
    assert client.get(f"/carts/{cart_id}/history/test.py?version=8").status_code == 404
    assert client.get(f"/carts/{cart_id}/history/test.py?version=x").status_code == 400
