"""Just enough HTML reading for the web tests: find an element by id, list attributes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


class _Finder(HTMLParser):
    def __init__(self, element_id: str) -> None:
        super().__init__(convert_charrefs=False)
        self.element_id = element_id
        self.start: tuple[int, int] | None = None
        self.end: tuple[int, int] | None = None
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.start is None and dict(attrs).get("id") == self.element_id:
            self.start = self.getpos()
            if tag in VOID:
                self.end = self.getpos()
            else:
                self._depth = 1
        elif self.start is not None and self.end is None and tag not in VOID:
            self._depth += 1

    def handle_endtag(self, tag: str) -> None:
        if self.start is not None and self.end is None and tag not in VOID:
            self._depth -= 1
            if self._depth == 0:
                self.end = self.getpos()


def element(html: str, element_id: str) -> str:
    """The HTML of the element with this id, from its start tag to its end tag's start.
    AssertionError if there is none."""
    finder = _Finder(element_id)
    finder.feed(html)
    finder.close()
    assert finder.start is not None, f"no element with id {element_id!r}"
    assert finder.end is not None, f"element {element_id!r} is not closed"
    return html[_offset(html, finder.start) : _offset(html, finder.end)]


def has_element(html: str, element_id: str) -> bool:
    finder = _Finder(element_id)
    finder.feed(html)
    return finder.start is not None


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    """Every start tag, with its attributes, in document order."""
    parser = _Tags()
    parser.feed(html)
    return parser.tags


def _offset(html: str, position: tuple[int, int]) -> int:
    line, column = position
    lines = html.split("\n")
    return sum(len(text) + 1 for text in lines[: line - 1]) + column


def form_fields(html: str, action: str, **having: str) -> dict[str, str]:
    """The inputs of the first form posting to `action` (whose fields include `having`), as a
    browser would send them, the submit button aside: what "send this form again" sends."""
    forms: list[dict[str, str]] = []
    for tag, attrs in tags(html):
        if tag == "form":
            forms.append({} if attrs.get("action") == action else {"": "other"})
        elif forms and tag == "input" and attrs.get("name"):
            forms[-1][str(attrs["name"])] = str(attrs.get("value") or "")
    for fields in forms:
        if "" not in fields and having.items() <= fields.items():
            return fields
    raise AssertionError(f"no form posting to {action!r} with {having}")


def assert_elements_contain(html: str, expected: Mapping[str, str | Sequence[str]]) -> None:
    """Each element, named by its id, contains each of its texts (one, or a sequence of them)."""
    for element_id, texts in expected.items():
        found = element(html, element_id)
        for text in [texts] if isinstance(texts, str) else texts:
            assert text in found, f"{text!r} is not in #{element_id}: {found}"
