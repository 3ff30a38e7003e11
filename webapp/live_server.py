"""The app served from a background thread, for a real browser to drive: the browser tests and
`make screenshots` both use it, with Debian's Chromium (Playwright cannot fetch its own here).
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any

from flask import Flask
from werkzeug.serving import WSGIRequestHandler, make_server

from webapp.db import get_watcher

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
)


def chromium_launch_options() -> dict[str, Any]:
    """Keyword arguments for Playwright's `chromium.launch()`."""
    return {"executable_path": CHROMIUM, "args": list(CHROMIUM_ARGS)}


class _QuietHandler(WSGIRequestHandler):
    """No line per request on the console: tests and screenshots print what matters."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class LiveServer:
    """`app` on 127.0.0.1 at a free port, one thread per request, while the `with` block runs.

    `url` is the server's base URL, without a trailing slash; `app` the app it serves.
    """

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._server = make_server(
            "127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler
        )
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="live-server", daemon=True
        )

    def __enter__(self) -> LiveServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _error: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        # Live pages' streams end when the watcher they follow stops (webapp/live.py).
        get_watcher(self.app).stop()
        self._server.shutdown()
        self._thread.join()
        self._server.server_close()
