"""The large-scale layout holds: dependencies point one way (webapp -> shop -> emit's decider API),
the domain loads no database or web code, no two modules import each other, and no module grows
past about 400 lines without saying why at its top."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("emit", "shop", "webapp")
WEB = {"flask", "werkzeug", "jinja2", "htmx_flask", "flask_wtf", "flask_login", "flask_limiter"}
WEB |= {"markupsafe", "gunicorn"}
DATABASE = {"sqlalchemy", "psycopg", "sqlite3"}
LONGEST = 400


def modules() -> Iterator[tuple[str, Path]]:
    """Every module of the project's packages, by dotted name."""
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            yield ".".join(parts), path


MODULES = dict(modules())


def _runtime_imports(path: Path) -> Iterator[tuple[str, list[str]]]:
    """`(module, names)` for each import a module runs (TYPE_CHECKING blocks excluded),
    relative imports resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            node.body = []
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{module}" if module else base
            yield module, [alias.name for alias in node.names]


def top_level_imports(path: Path) -> set[str]:
    """Top-level package names a module imports at run time."""
    return {module.split(".")[0] for module, _ in _runtime_imports(path)}


def project_imports(path: Path) -> set[str]:
    """The project's modules that a module imports at run time (`from emit.sql import store`
    counts as emit.sql.store, `from emit.sql import SqlEventStore` as emit.sql)."""
    found: set[str] = set()
    for module, names in _runtime_imports(path):
        if module.split(".")[0] not in PACKAGES:
            continue
        submodules = {f"{module}.{name}" for name in names} & MODULES.keys()
        found |= submodules or {module}
    return found


@pytest.mark.parametrize("path", sorted((ROOT / "emit").rglob("*.py")), ids=str)
def test_emit_never_imports_the_web_app_the_shop_or_flask(path: Path) -> None:
    assert top_level_imports(path) & (WEB | {"webapp", "shop"}) == set()


@pytest.mark.parametrize("path", sorted((ROOT / "shop").rglob("*.py")), ids=str)
def test_the_shop_is_plain_python_on_emits_decider_api(path: Path) -> None:
    assert top_level_imports(path) & (WEB | DATABASE | {"webapp"}) == set()
    for module, _ in _runtime_imports(path):
        assert module.split(".")[0] != "emit" or module == "emit", (
            f"{path.name} imports {module}: the shop uses the public API, `from emit import ...`"
        )


@pytest.mark.parametrize(
    "name", ["timeline.py", "formatting.py"], ids=lambda name: f"webapp/{name}"
)
def test_the_history_view_helpers_are_plain_python(name: str) -> None:
    assert top_level_imports(ROOT / "webapp" / name) & (WEB | DATABASE) == set()


def test_the_domain_and_the_decider_api_load_no_database_or_web_code() -> None:
    """In a fresh interpreter, as a student's script would: the cart, its catalog and what they
    use of emit, and then a decider run in memory."""
    script = (
        "import sys\n"
        "from emit import CommandRejected, Decider, Emit, InMemoryEventStore\n"
        "from shop.cart import AddItem, cart_decider\n"
        "from shop.catalog import CATALOG\n"
        "emit = Emit(cart_decider, store=InMemoryEventStore(), observers=[])\n"
        "emit.create('c-1')\n"
        "emit.handle_command('c-1', AddItem(CATALOG[0].sku))\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    loaded = set(done.stdout.split())
    assert "emit" in loaded
    assert "shop" in loaded
    assert loaded & (WEB | DATABASE | {"webapp"}) == set()


def test_the_sql_store_is_loaded_when_first_named() -> None:
    script = (
        "import sys, emit\n"
        "assert 'sqlalchemy' not in sys.modules\n"
        "store = emit.SqlEventStore\n"
        "assert 'sqlalchemy' in sys.modules and store.__module__.startswith('emit.sql')\n"
    )
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True)


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules it imports at run time. A package's `__init__` re-exporting its
    own modules is left out: they never import it back (checked below)."""
    return {
        name: {
            target
            for target in project_imports(path)
            if target in MODULES and not (path.name == "__init__.py" and target.startswith(name))
        }
        for name, path in MODULES.items()
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle in `graph`, if there is one, as the path that closes it."""
    state: dict[str, int] = {}  # 1: on the path being walked, 2: done
    path: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (found := walk(target)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := walk(node)):
            return found
    return None


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_modules_import_each_other_in_a_cycle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize("name", sorted(MODULES), ids=str)
def test_a_module_never_imports_its_own_package(name: str) -> None:
    path = MODULES[name]
    if path.name == "__init__.py":
        return
    packages = {name.rsplit(".", depth)[0] for depth in range(1, name.count(".") + 1)}
    assert project_imports(path) & packages == set(), (
        f"{name} imports its package's __init__; import the module that defines the name"
    )


@pytest.mark.parametrize("name", sorted(MODULES), ids=str)
def test_a_module_of_over_400_lines_says_why_at_its_top(name: str) -> None:
    path = MODULES[name]
    lines = path.read_text().count("\n")
    if lines <= LONGEST:
        return
    docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
    assert f"over {LONGEST} lines" in docstring, (
        f"{name} has {lines} lines: split it, or say at its top why it is "
        f'over {LONGEST} lines ("... is over 400 lines because ...")'
    )
