"""The README's Python examples run as written."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_readme_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    assert blocks, "the README has Python examples"
    monkeypatch.chdir(tmp_path)  # the example writes instance/emit.sqlite3
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    assert (tmp_path / "instance" / "emit.sqlite3").exists()
    result: object = namespace["result"]
    assert (result.state.balance, result.version) == (10, 2)  # type: ignore[attr-defined]
    emit: object = namespace["emit"]
    assert emit.state_at("acc-1", 1).balance == 0  # type: ignore[attr-defined]


def test_the_readme_subscriber_examples_do_what_their_comments_say(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    with namespace["bank"].store.engine.connect() as connection:
        assert connection.execute(sa.select(namespace["totals"])).all() == [("acc-1", 15)]
        large = connection.execute(sa.select(namespace["large"])).all()
    assert large == [(2, "acc-1"), (3, "acc-1")]
    assert [(s.name, s.lag, s.state) for s in namespace["policies"].status()] == [
        ("account_totals", 0, "up to date"),
        ("large_deposits", 0, "stopped"),
    ]
