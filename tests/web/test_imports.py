"""Opening an export in the timeline (/history/import) without storing it: a cart exported and
opened again shows the same cart at every version; the page's controls (one POST form) move it;
a malformed file, another decider's, or one too large gets a 400 saying what does not fit, and
nothing is ever stored."""

from __future__ import annotations

import io
import json
import re
from html import unescape
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from emit import Emit, InMemoryEventStore
from emit.export import export_stream
from tests.account import Deposit, account
from tests.web.conftest import HTMX, append_flips, create_history, make_app
from tests.web.html import element
from webapp.db import CartEmit, get_emit


@pytest.fixture
def exported(client: FlaskClient, emit: CartEmit) -> bytes:
    create_history(emit, "cart-i1")
    return client.get("/carts/cart-i1/events.json").data


def upload(client: FlaskClient, content: bytes, **fields: str) -> TestResponse:
    data: dict[str, Any] = {"file": (io.BytesIO(content), "cart-i1.events.json"), **fields}
    return client.post("/history/import", data=data, content_type="multipart/form-data")


def move(client: FlaskClient, page: str, **fields: str) -> TestResponse:
    """What the page's form sends next: the export it holds, and the controls' values."""
    document = unescape(re.search(r'name="document" value="([^"]*)"', page)[1])  # type: ignore[index]
    return client.post("/history/import", data={"document": document, **fields}, headers=HTMX)


def test_the_upload_form(client: FlaskClient) -> None:
    form = element(client.get("/history/import").text, "main")
    assert 'enctype="multipart/form-data"' in form
    assert 'type="file" name="file"' in form
    assert 'name="csrf_token"' in form or "csrf" in form.lower()
    assert "at most 1024 KB" in form


def test_an_export_opened_again_shows_the_same_cart(
    client: FlaskClient, emit: CartEmit, exported: bytes
) -> None:
    head = emit.store.head_position()
    response = upload(client, exported)
    assert response.status_code == 200, response.text
    page = response.text
    assert "7 events from cart-i1.events.json" in " ".join(element(page, "import-note").split())
    assert "As of version 7" in element(page, "replay")
    assert re.findall(r'id="event-(\d+)"', element(page, "events")) == [str(v) for v in range(1, 8)]
    # Every version, as the stored cart's history page shows it.
    for version in range(8):
        answer = move(client, page, version=str(version))
        assert answer.status_code == 200
        imported = element(answer.text, "replay")
        stored = element(client.get(f"/carts/cart-i1/history?version={version}").text, "replay")
        assert _cart_json(imported) == _cart_json(stored)
        assert _total(imported) == _total(stored)
    assert emit.store.head_position() == head  # nothing stored
    assert emit.count_aggregates() == 1


def _cart_json(panel: str) -> Any:
    return json.loads(
        unescape(re.findall(r'<pre class="json"><code>(.*?)</code>', panel, re.S)[-1])
    )


def _total(panel: str) -> str:
    return re.search(r'cart-total__amount">([^<]+)<', panel)[1]  # type: ignore[index]


def test_the_controls_step_and_compare(client: FlaskClient, exported: bytes) -> None:
    page = upload(client, exported).text
    assert re.search(r'name="go"\s+value="6"', element(page, "step-previous"))
    assert "disabled" in element(page, "step-next")
    answer = move(client, page, version="7", go="2").text
    assert "As of version 2" in element(answer, "replay")
    assert "Added 2 × Coffee beans, 250 g" in element(answer, "replay")
    compared = move(client, page, version="5", compare="1").text
    assert "3 lines changed since version 1" in element(compared, "replay")
    assert re.search(r'id="compare-version"[^>]*value="1"', compared)
    # No control that writes: no fork, no link to a stored cart's page.
    assert 'id="fork"' not in compared
    assert "/carts/cart-i1" not in element(compared, "imported")
    # The test of the version is there to copy.
    assert "def test_cart_i1_at_version_5()" in unescape(element(compared, "scenario-text"))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"version": "8"}, "has versions 0 to 7; there is no version 8."),
        ({"compare": "9"}, "there is no version 9 to compare with."),
        ({"version": "x"}, "“x” is not a version"),
    ],
)
def test_versions_the_export_lacks(
    client: FlaskClient, exported: bytes, fields: dict[str, str], message: str
) -> None:
    answer = move(client, upload(client, exported).text, **fields)
    assert answer.status_code == 400
    assert message in unescape(answer.text)


def _edited(exported: bytes, edit: Any) -> bytes:
    document = json.loads(exported)
    edit(document)
    return json.dumps(document).encode()


def _set(path: list[Any], value: Any) -> Any:
    def edit(document: Any) -> None:
        for key in path[:-1]:
            document = document[key]
        if value is _DROP:
            del document[path[-1]]
        else:
            document[path[-1]] = value

    return edit


_DROP = object()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda e: b'{"format": "emit.stream/1",\n  "events": [}', "This file is not JSON: "),
        (lambda e: b"\xff\xfe{}", "This file is not text in UTF-8 (byte 1 is not)"),
        (lambda e: b"[1, 2]", "A stream export is a JSON object, not list."),
        # Python's parser gives up on nesting this deep with a RecursionError, which was a 500.
        (lambda e: b"[" * 100_000, "it nests arrays or objects too deeply"),
        (
            lambda e: _edited(e, _set(["format"], "emit.stream/9")),
            "its format is 'emit.stream/9'",
        ),
        (
            lambda e: _edited(e, _set(["events", 2, "type"], _DROP)),
            "In event 3, 'type' must be a string.",
        ),
        (
            lambda e: _edited(e, _set(["events", 3, "version"], 5)),
            "event 4 has version 5",
        ),
        (
            lambda e: _edited(e, _set(["events", 1, "data", "quantity"], "two")),
            "Event 2 (ItemAdded) does not fit",
        ),
        (
            lambda e: _edited(e, _set(["events", 1, "type"], "Deposited")),
            "decider 'cart' has no event type 'Deposited'",
        ),
        (lambda e: _edited(e, _set(["events"], [])), "The export has no events."),
        (
            lambda e: _edited(e, _set(["aggregate_id"], "cart-i1\nimport os")),
            "Its aggregate_id cannot name an aggregate",
        ),
        (
            lambda e: _edited(e, _set(["version"], 9)),
            "The export says version 9, but its events end at version 7.",
        ),
    ],
)
def test_a_malformed_export_is_refused_with_what_does_not_fit(
    client: FlaskClient, emit: CartEmit, exported: bytes, make: Any, message: str
) -> None:
    head = emit.store.head_position()
    response = upload(client, make(exported))
    assert response.status_code == 400
    assert message in unescape(response.text), unescape(response.text)
    assert emit.store.head_position() == head


def test_the_not_json_message_says_where(client: FlaskClient) -> None:
    response = upload(client, b'{"format": "emit.stream/1",\n  "events": [}')
    assert "at line 2, column 14" in unescape(response.text)


def test_another_deciders_export_is_refused(client: FlaskClient, emit: CartEmit) -> None:
    bank: Emit[Any, Any, Any] = Emit(account, store=InMemoryEventStore())
    bank.create("acct-1")
    bank.handle_command("acct-1", Deposit(10))
    document = export_stream(account, bank.history("acct-1"))
    response = upload(client, json.dumps(document).encode())
    assert response.status_code == 400
    assert "This stream was written by decider 'account', not 'cart'." in unescape(response.text)
    # The same events relabelled as a cart's: their types do not fit.
    document["decider"] = "cart"
    response = upload(client, json.dumps(document).encode())
    assert response.status_code == 400
    assert "Event 1 (Opened) does not fit: decider 'cart' has no event type 'Opened'" in unescape(
        response.text
    )
    assert emit.count_aggregates() == 0


def test_an_export_over_the_limit_is_refused_unread(sqlite_url: str) -> None:
    app = make_app(sqlite_url, IMPORT_MAX_BYTES=8 * 1024)
    client = app.test_client()
    append_flips(get_emit(app), "cart-i2", 60)
    exported = client.get("/carts/cart-i2/events.json").data
    assert len(exported) > 16 * 1024  # more than any other form may send (MAX_CONTENT_LENGTH)
    response = upload(client, exported)
    assert response.status_code == 400
    assert re.search(r"This export to open is \d+ KB; at most 8 KB is taken\.", response.text)
    app.config["IMPORT_MAX_BYTES"] = 1024 * 1024
    opened = upload(client, exported)
    assert opened.status_code == 200
    assert "As of version 60" in element(opened.text, "replay")
    # The page's own moves send the export back: the same limit lets them through.
    assert move(client, opened.text, version="59").status_code == 200
    get_emit(app).close()


def test_no_file_is_refused(client: FlaskClient) -> None:
    response = client.post("/history/import", data={}, content_type="multipart/form-data")
    assert response.status_code == 400
    assert "Choose an export file to open" in unescape(response.text)


def test_user_input_in_an_export_is_escaped(client: FlaskClient, exported: bytes) -> None:
    evil = "<script>alert(1)</script>"
    response = upload(client, exported.replace(b"cart-i1", evil.encode().replace(b'"', b"")))
    assert response.status_code == 200
    assert evil not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
