"""Dependencies point one way: webapp imports emit, never the reverse, and the domain stays pure."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WEB = {"flask", "werkzeug", "jinja2", "htmx_flask", "flask_wtf", "markupsafe", "gunicorn"}


def imported(path: Path) -> set[str]:
    """Top-level package names a module imports at run time (TYPE_CHECKING blocks excluded)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            node.body = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize(
    "path", sorted((ROOT / "emit").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT))
)
def test_emit_never_imports_the_web_app_or_flask(path: Path) -> None:
    assert imported(path) & (WEB | {"webapp"}) == set()


@pytest.mark.parametrize("name", ["cart.py", "catalog.py", "timeline.py", "formatting.py"])
def test_the_cart_domain_and_its_history_are_plain_python(name: str) -> None:
    assert imported(ROOT / "webapp" / name) & (WEB | {"sqlalchemy", "psycopg"}) == set()
