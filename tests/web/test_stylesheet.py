"""The stylesheet is whole: every rule it opens, it closes (a rule left open swallows every rule
after it, and the browser says nothing)."""

from __future__ import annotations

import re
from pathlib import Path

STYLESHEET = Path(__file__).resolve().parents[2] / "static" / "css" / "app.css"


def test_every_rule_of_the_stylesheet_is_closed() -> None:
    text = re.sub(r"/\*.*?\*/", "", STYLESHEET.read_text(), flags=re.S)  # comments aside
    depth = 0
    for number, line in enumerate(text.splitlines(), 1):
        for char in line:
            depth += {"{": 1, "}": -1}.get(char, 0)
            assert depth >= 0, f"line {number} closes a rule that was never opened"
        if re.match(r"^[.#a-z:\[*][^{}]*\{\s*$", line):  # a top-level rule's first line
            assert depth == 1, f"line {number} opens a rule inside another: one above is open"
    assert depth == 0, "a rule is left open at the end"
