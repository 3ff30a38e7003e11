"""The "what am I looking at" notes: on every page, each term's sentence from the one glossary,
each link leading to an element of that page; and the README's "Event sourcing in one screen"
saying the same sentences."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from tests.web.conftest import create_history
from tests.web.html import element, has_element
from webapp.db import CartEmit
from webapp.glossary import TERMS

README = Path(__file__).resolve().parents[2] / "README.md"
NOTE = re.compile(r'<details class="explain" id="explain-([\w-]+)"')
TERM = re.compile(r"<dt>(?:<a href=\"#([^\"]+)\">)?([^<]+)(?:</a>)?</dt>\s*<dd>([^<]+)</dd>")


def notes(html: str) -> dict[str, list[tuple[str, str, str]]]:
    """Each note on the page by its id: its terms as (anchor, word, sentence)."""
    found = {}
    for note in NOTE.findall(html):
        body = element(html, f"explain-{note}")
        found[note] = [(a, unescape(w), unescape(s)) for a, w, s in TERM.findall(body)]
    return found


@pytest.mark.parametrize(
    ("path", "note", "terms"),
    [
        ("/", "dashboard", {"Event", "Command", "Projection", "Position"}),
        ("/carts/cart-x", "cart", {"Command", "Event", "Version"}),
        (
            "/carts/cart-x/history",
            "history",
            {"Event", "Command", "Version", "Position", "Correlation and causation"},
        ),
        ("/ops", "ops", {"Projection", "Policy", "Dead letter", "Position", "Event", "Command"}),
        (
            "/read-models",
            "read-models",
            {"Event", "Projection", "Position", "Policy", "Dead letter"},
        ),
        (
            "/events",
            "events",
            {"Event", "Position", "Version", "Command", "Correlation and causation"},
        ),
        (
            "/events/1",
            "event",
            {
                "Event",
                "Position",
                "Version",
                "Command",
                "Policy",
                "Dead letter",
                "Correlation and causation",
            },
        ),
    ],
)
def test_each_page_explains_what_it_shows(
    operator_client: FlaskClient, emit: CartEmit, path: str, note: str, terms: set[str]
) -> None:
    create_history(emit, "cart-x")
    page = operator_client.get(path).text
    shown = notes(page)
    assert list(shown) == [note]
    sentences = dict(TERMS.values())
    assert {word for _, word, _ in shown[note]} == terms
    for anchor, word, sentence in shown[note]:
        assert sentence == sentences[word]  # the one glossary's words
        if anchor:
            assert has_element(page, anchor), f"{path}: the note's {word} leads to #{anchor}"
    assert '<details class="explain" id="explain-' + note + '" data-remember' in page
    assert " open" not in element(page, f"explain-{note}").split(">", 1)[0]  # closed at first


def test_the_readme_says_what_the_notes_say() -> None:
    text = README.read_text()
    section = text.split("## Event sourcing in one screen", 1)[1].split("\n## ", 1)[0]
    said = dict(re.findall(r"^- \*\*(.+?)\*\*: (.+)$", section, flags=re.MULTILINE))
    assert said == dict(TERMS.values())
