"""`create_app`: where settings come from, and what the app is made of."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from webapp import ROOT, create_app
from webapp.db import get_emit, init_db
from webapp.formatting import ago, count, money, utc
from webapp.queries import ProjectedCartQueries, get_queries


def test_defaults_put_the_store_in_the_instance_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLASK_EMIT_STORE_URL", raising=False)
    app = create_app()
    if (Path(app.instance_path) / "config.py").exists():
        pytest.skip("this checkout's instance/config.py overrides the defaults")
    assert app.config["EMIT_STORE_URL"] == f"sqlite:///{Path(app.instance_path) / 'emit.sqlite3'}"
    assert Path(app.template_folder or "") == ROOT / "templates"
    assert Path(app.static_folder or "") == ROOT / "static"


def test_environment_variables_override_defaults_and_test_config_wins(
    monkeypatch: pytest.MonkeyPatch, sqlite_url: str
) -> None:
    monkeypatch.setenv("FLASK_CARTS_PER_PAGE", "7")
    monkeypatch.setenv("FLASK_EMIT_STORE_URL", sqlite_url)
    app = create_app()
    assert app.config["CARTS_PER_PAGE"] == 7
    assert app.config["EMIT_STORE_URL"] == sqlite_url
    assert create_app({"CARTS_PER_PAGE": 3}).config["CARTS_PER_PAGE"] == 3


def test_the_development_secret_key_is_warned_about_once_when_serving(
    monkeypatch: pytest.MonkeyPatch, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Not when the app is built (`make run` builds it for each CLI chore, which said the same
    thing three times), but at its first request, once, with what to do."""
    monkeypatch.delenv("FLASK_SECRET_KEY", raising=False)
    app = create_app({"EMIT_STORE_URL": sqlite_url, "SECRET_KEY": "dev"})
    assert "SECRET_KEY" not in caplog.text
    init_db(app)
    client = app.test_client()
    for _ in range(3):
        client.get("/")
    assert caplog.text.count("SECRET_KEY is the development default") == 1
    assert "instance/config.py" in caplog.text
    assert "secrets.token_hex()" in caplog.text
    get_emit(app).close()
    caplog.clear()
    for config in ({"SECRET_KEY": "a real secret"}, {"SECRET_KEY": "dev", "TESTING": True}):
        quiet = create_app({"EMIT_STORE_URL": sqlite_url, **config})
        quiet.test_client().get("/")
        get_emit(quiet).close()
    assert "SECRET_KEY" not in caplog.text


def test_each_app_has_its_own_store_and_queries(sqlite_url: str, tmp_path: Path) -> None:
    one = create_app({"EMIT_STORE_URL": sqlite_url})
    two = create_app({"EMIT_STORE_URL": f"sqlite:///{tmp_path / 'other.sqlite3'}"})
    assert get_emit(one) is not get_emit(two)
    with one.app_context():
        assert isinstance(get_queries(), ProjectedCartQueries)


def test_building_the_app_touches_no_database(tmp_path: Path) -> None:
    create_app({"EMIT_STORE_URL": f"sqlite:///{tmp_path / 'emit.sqlite3'}"})
    assert not (tmp_path / "emit.sqlite3").exists()


@pytest.mark.parametrize(
    ("cents", "text"),
    [(0, "€0.00"), (5, "€0.05"), (1290, "€12.90"), (123456789, "€1,234,567.89"), (-250, "-€2.50")],
)
def test_money_is_formatted_from_integer_cents(cents: int, text: str) -> None:
    assert money(cents) == text


def test_times_read_as_a_person_would_say_them() -> None:
    now = datetime(2025, 11, 27, 9, 45, tzinfo=UTC)
    assert ago(now - timedelta(seconds=10), now) == "just now"
    assert ago(now - timedelta(minutes=5), now) == "5 min ago"
    assert ago(now - timedelta(hours=3, minutes=10), now) == "3 h ago"
    assert ago(now - timedelta(days=3), now) == "24 Nov 2025"
    # A moment to come (a retry's): how soon, never "just now".
    assert ago(now + timedelta(seconds=2), now) == "in 2 s"
    assert ago(now + timedelta(seconds=4.4), now) == "in 4 s"
    assert ago(now + timedelta(minutes=3), now) == "in 3 min"

    assert utc(now) == "27 Nov 2025, 09:45 UTC"


def test_renamed_settings_are_read_under_their_old_names_with_a_warning(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    old = {"EMIT_RUN_SUBSCRIBERS": False, "EMIT_SUBSCRIBERS_POLL_INTERVAL": 0.5}
    app = create_app({"EMIT_STORE_URL": sqlite_url, **old})
    assert (app.config["EMIT_RUN_POLICIES"], app.config["EMIT_POLICIES_POLL_INTERVAL"]) == (
        False,
        0.5,
    )
    warned = [r.getMessage() for r in caplog.records if "deprecated" in r.getMessage()]
    assert warned == [
        "Setting EMIT_RUN_SUBSCRIBERS is deprecated: call it EMIT_RUN_POLICIES.",
        "Setting EMIT_SUBSCRIBERS_POLL_INTERVAL is deprecated: call it "
        "EMIT_POLICIES_POLL_INTERVAL.",
    ]
    get_emit(app).close()
    caplog.clear()

    both = create_app({"EMIT_STORE_URL": sqlite_url, "EMIT_RUN_POLICIES": True, **old})
    assert both.config["EMIT_RUN_POLICIES"] is True  # the new name wins
    assert "(ignored: EMIT_RUN_POLICIES is set)" in caplog.text
    get_emit(both).close()
    caplog.clear()

    plain = create_app({"EMIT_STORE_URL": sqlite_url})
    assert (plain.config["EMIT_RUN_POLICIES"], plain.config["EMIT_POLICIES_POLL_INTERVAL"]) == (
        True,
        1.0,
    )
    assert "deprecated" not in caplog.text
    get_emit(plain).close()


def test_the_example_config_documents_real_settings() -> None:
    example = (ROOT / "instance" / "config.example.py").read_text()
    names = set(re.findall(r"^#?\s*([A-Z][A-Z_]+) = ", example, flags=re.MULTILINE))
    assert {"SECRET_KEY", "EMIT_STORE_URL", "CARTS_PER_PAGE"} <= names
    assert names <= set(create_app().config)


def test_counts_say_one_or_many() -> None:
    assert [count(n, "cart") for n in (0, 1, 2)] == ["0 carts", "1 cart", "2 carts"]
    assert count(3, "try", "tries") == "3 tries"
