"""The rate limits' counts in memory (webapp/limit_counts.py): the same answers as limits' own
`MemoryStorage`, old counts forgotten, and no thread started to forget them."""

from __future__ import annotations

import pytest
from flask import Flask
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from tests.web.conftest import make_app
from webapp import limit_counts
from webapp.db import get_emit
from webapp.limit_counts import MemoryCounts
from webapp.limits import EXTENSION


def test_memory_uri_counts_in_memory_counts(sqlite_url: str) -> None:
    app = make_app(sqlite_url, RATELIMIT_STORAGE_URI="memory://")
    try:
        assert isinstance(app.extensions[EXTENSION].storage, MemoryCounts)
    finally:
        get_emit(app).close()


def test_counting_starts_no_thread() -> None:
    counts = MemoryCounts()
    counts.timer.join()  # cancelled at once: it never runs
    timer = counts.timer
    limiter = MovingWindowRateLimiter(counts)
    for _ in range(5):
        assert limiter.hit(parse("100 per minute"), "client")
    assert counts.timer is timer
    assert not timer.is_alive()


def test_the_same_answers_as_limits_memory_storage() -> None:
    limit = parse("3 per minute")
    ours = MovingWindowRateLimiter(MemoryCounts())
    theirs = MovingWindowRateLimiter(MemoryStorage())
    keys = ["a", "b", "a", "a", "a", "b", "c", "b", "b", "a"]
    answers = [(ours.hit(limit, key), theirs.hit(limit, key)) for key in keys]
    assert [mine for mine, _ in answers] == [their for _, their in answers]
    assert [mine for mine, _ in answers] == [True] * 4 + [False, True, True, True, False, False]
    assert ours.get_window_stats(limit, "b") == pytest.approx(
        theirs.get_window_stats(limit, "b"), abs=1
    )


def test_expired_counts_are_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limit_counts, "FORGET_EVERY", 0.0)  # a pass on every count
    counts = MemoryCounts()
    assert counts.acquire_entry("gone", limit=5, expiry=0)
    assert counts.acquire_entry("kept", limit=5, expiry=60)
    assert counts.events["gone"] == []
    assert len(counts.events["kept"]) == 1


def test_a_limit_still_refuses_through_the_app(sqlite_url: str) -> None:
    app: Flask = make_app(sqlite_url, RATE_LIMIT_NEW_CARTS="2 per minute")
    try:
        client = app.test_client()
        assert [client.post("/carts").status_code for _ in range(3)] == [303, 303, 429]
    finally:
        get_emit(app).close()
