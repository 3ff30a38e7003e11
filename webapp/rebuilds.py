"""Rebuilding a projection from the web page: in a background thread, one at a time per
projection in this process, with its progress for the page to show.

`Projections.rebuild` does the work in one transaction that no append can overtake: readers see
the old rows until the new ones commit, and appends (from every process) wait meanwhile, so a
rebuild is safe while carts change, and pauses their changes while it runs. Two processes
pressing at once rebuild one after the other (the second waits for the first's transaction);
within one process a second press while one runs is refused (`RebuildRunning`, a 409).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import datetime
from typing import cast

from flask import Flask, current_app

from emit.clock import now
from webapp.db import get_emit

EXTENSION = "rebuilds"


class RebuildRunning(Exception):
    """A rebuild of this projection is already running in this process."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"Projection {name} is already being rebuilt: wait for that rebuild to finish "
            "(its progress is on this page). Nothing else was started."
        )


@dataclass(frozen=True, slots=True)
class Rebuild:
    """A rebuild as it stands: `state` is "running", "done" or "failed" (then `error` says
    why; the read model is as it was before). `done` of `total` events replayed so far (`total`
    is None until the rebuild has read the head)."""

    projection: str
    state: str
    started_at: datetime
    done: int = 0
    total: int | None = None
    finished_at: datetime | None = None
    error: str | None = None

    @property
    def percent(self) -> int:
        if self.state == "done":
            return 100
        if not self.total:
            return 0
        return min(100, self.done * 100 // self.total)


class Rebuilds:
    """The rebuilds this process started, the latest per projection."""

    def __init__(self, app: Flask) -> None:
        self._app = app
        self._lock = threading.Lock()
        self._latest: dict[str, Rebuild] = {}
        self._threads: dict[str, threading.Thread] = {}

    def start(self, name: str) -> Rebuild:
        """Start rebuilding projection `name` (one the app has: the caller checks) in a thread;
        raises `RebuildRunning` if one is running."""
        with self._lock:
            latest = self._latest.get(name)
            if latest is not None and latest.state == "running":
                raise RebuildRunning(name)
            started = Rebuild(name, "running", now())
            self._latest[name] = started
            thread = threading.Thread(
                target=self._run, args=(name,), name=f"rebuild-{name}", daemon=True
            )
            self._threads[name] = thread
            thread.start()  # under the lock: `wait` never finds a thread not yet started
        return started

    def latest(self, name: str) -> Rebuild | None:
        """The latest rebuild of `name` this process started, None if none."""
        with self._lock:
            return self._latest.get(name)

    def wait(self, name: str, timeout: float | None = None) -> Rebuild | None:
        """Wait for the running rebuild of `name` to end (or `timeout` seconds); its state."""
        with self._lock:
            thread = self._threads.get(name)
        if thread is not None:
            thread.join(timeout)
        return self.latest(name)

    def _update(self, name: str, **changes: object) -> None:
        with self._lock:
            self._latest[name] = replace(self._latest[name], **changes)  # type: ignore[arg-type]

    def _run(self, name: str) -> None:
        def progress(done: int, total: int) -> None:
            self._update(name, done=done, total=total)

        try:
            get_emit(self._app).projections.rebuild(name, progress=progress)
        except Exception as error:  # said on the page: the operator decides what to do next
            self._app.logger.exception("Rebuilding projection %s failed", name)
            self._update(name, state="failed", finished_at=now(), error=str(error))
        else:
            self._update(name, state="done", finished_at=now())


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION] = Rebuilds(app)


def get_rebuilds() -> Rebuilds:
    return cast(Rebuilds, current_app.extensions[EXTENSION])
