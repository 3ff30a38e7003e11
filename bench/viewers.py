"""W4v: W4 with 200 live pages open, and how soon each of them sees a new event.

One gunicorn, served as documented (bench/http.py), runs W4 in turns: without viewers, then
with 200 viewers connected, then without, ... (the order alternates each turn, so that drift of
a shared machine falls on both). The viewers are what a browser's live.js does
(webapp/live.py): each follows one of 20 carts W4 does not touch (open tabs of other shoppers),
through its own connection, and when it hears the cart changed it fetches the cart panel again,
as htmx does. Mode `sse` (the default): server-sent events; a stream refused with 503 falls back
to polling, as live.js does. Mode `poll` (`BENCH_W4V_MODE=poll`): conditional GETs every half
second (`If-None-Match`; 304 while nothing changed), the alternative measured against it.

While the viewers are connected, a prober adds an item to one of their carts every second;
each viewer's delay is from the prober's answer (the event is committed) to the viewer hearing
the new version. The viewers are threads of this process: one selector thread for every socket,
and two threads for the panel fetches.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import selectors
import socket
import statistics
import threading
import time
from dataclasses import dataclass, field

from bench.databases import Workspace
from bench.http import (
    CARTS_PER_CLIENT,
    CLIENTS,
    THREADS,
    WORKERS,
    Client,
    available,
    check,
    create_carts,
    free_port,
    open_clients,
    percentile,
    start_gunicorn,
    stop,
    timed,
)
from bench.report import Row

VIEWERS = 200
WATCHED_CARTS = 20
MODE = os.environ.get("BENCH_W4V_MODE", "sse")
POLL_SECONDS = 0.5  # the poll mode's period: what "seen within 1 s" needs of polling
FALLBACK_POLL_SECONDS = 1.0  # live.js's, for a page whose stream was refused
PROBE_SECONDS = 1.0
RECONNECT_SECONDS = 0.5  # the stream's `retry:`
_DATA = re.compile(rb"^data: ([0-9]+)$", re.M)
_LENGTH = re.compile(rb"^content-length: *([0-9]+)", re.I | re.M)


def run(workspace: Workspace, *, quick: bool) -> Row:
    description = f"W4 p99 with {VIEWERS} live viewers ({MODE}) against without"
    missing = available()
    if missing is not None:
        return Row("W4v", "sqlite", description, "x", "lower", None, notes={"pending": missing})
    per_client = 150 if quick else 1000
    turns = 1 if quick else 3
    database = workspace.sqlite_path("webapp-viewers")
    url = f"sqlite:///{database}"
    # Fresh carts for each measurement: a line holds at most 99 of a product.
    carts = [
        [f"w4-{m}-{c}-{n}" for c in range(CLIENTS) for n in range(CARTS_PER_CLIENT)]
        for m in range(2 * turns)
    ]
    watched = [f"w4v-watched-{n}" for n in range(WATCHED_CARTS)]
    create_carts(url, [cart_id for ids in carts for cart_id in ids] + watched)
    port = free_port()
    server = start_gunicorn(url, port)
    p99s: dict[bool, list[float]] = {False: [], True: []}
    p50s: dict[bool, list[float]] = {False: [], True: []}
    delays: list[float] = []
    missed = refused = refreshes = 0
    checked: list[Client] = []
    try:
        prober = Client(port, watched)
        prober.open_session()
        checked.append(prober)
        for turn in range(turns):
            for with_viewers in (False, True) if turn % 2 == 0 else (True, False):
                clients = open_clients(port, carts[(len(checked) - 1) // CLIENTS], warm_up=20)
                checked.extend(clients)
                if not with_viewers:
                    latencies, _ = timed(clients, per_client)
                else:
                    viewers = Viewers(port, watched, MODE)
                    viewers.start()
                    probes = Prober(prober)
                    probes.start()
                    try:
                        latencies, _ = timed(clients, per_client)
                    finally:
                        probes.stop()
                        time.sleep(1.5)  # the last probe's news on its way
                        viewers.stop()
                    found, lost = viewers.delays(probes.done)
                    delays.extend(found)
                    missed += lost
                    refused += viewers.refused
                    refreshes += viewers.refreshes
                p99s[with_viewers].append(percentile(latencies, 0.99))
                p50s[with_viewers].append(percentile(latencies, 0.5))
    finally:
        stop(server)
    check(url, checked)
    ratio = statistics.median(p99s[True]) / statistics.median(p99s[False])
    worst = max(delays) if delays else float("inf")
    return Row(
        "W4v",
        "sqlite",
        description,
        "x",
        "lower",
        ratio,
        target="<= 1.25x, every viewer within 1 s",
        met=ratio <= 1.25 and not missed and worst <= 1.0,
        notes={
            "p99 ms without viewers, by turn": [round(x, 2) for x in p99s[False]],
            "p99 ms with viewers, by turn": [round(x, 2) for x in p99s[True]],
            "p50 ms without / with (medians)": [
                round(statistics.median(p50s[False]), 2),
                round(statistics.median(p50s[True]), 2),
            ],
            "viewer delays": len(delays),
            "delay p50 / p99 / max s": [
                round(percentile(sorted(delays), 0.5), 3) if delays else None,
                round(percentile(sorted(delays), 0.99), 3) if delays else None,
                round(worst, 3),
            ],
            "missed": missed,
            "streams refused (polled instead)": refused,
            "panel fetches": refreshes,
            "server": f"gunicorn -w {WORKERS} --threads {THREADS} (gthread)",
        },
    )


class Prober(threading.Thread):
    """Adds an item to one watched cart after another, every `PROBE_SECONDS`; `done` is
    (cart, its version after the add, when the answer came)."""

    def __init__(self, client: Client) -> None:
        super().__init__(name="w4v-prober", daemon=True)
        self.client = client
        self.done: list[tuple[str, int, float]] = []
        self._stopping = threading.Event()

    def run(self) -> None:
        self.client.connect()
        while not self._stopping.wait(PROBE_SECONDS):
            cart_id = self.client.cart_ids[self.client.sent % len(self.client.cart_ids)]
            self.client.post()
            self.done.append((cart_id, int(self.client.versions[cart_id]), time.monotonic()))

    def stop(self) -> None:
        self._stopping.set()
        self.join()
        self.client.close()
        if self.client.errors:
            raise AssertionError(f"W4v: a probe failed: {self.client.errors[0]}")


@dataclass
class _Viewer:
    cart_id: str
    polling: bool
    period: float = POLL_SECONDS
    sock: socket.socket | None = None
    buffer: bytes = b""
    headers_read: bool = False
    etag: str = ""
    mark: int = -1
    heard: list[tuple[float, int]] = field(default_factory=list)  # when each new mark came
    next_at: float = 0.0  # polling: the next GET; streaming: the next reconnect


class Viewers:
    """`VIEWERS` pages following the watched carts, `len(carts)` pages to a cart."""

    def __init__(self, port: int, carts: list[str], mode: str) -> None:
        self.port = port
        self.viewers = [_Viewer(carts[n % len(carts)], mode == "poll") for n in range(VIEWERS)]
        self.refused = 0
        self.refreshes = 0
        self._selector = selectors.DefaultSelector()
        self._stopping = threading.Event()
        self._fetches: queue.Queue[tuple[str, int] | None] = queue.Queue()
        self._threads = [threading.Thread(target=self._loop, name="w4v-viewers", daemon=True)]
        self._threads += [
            threading.Thread(target=self._fetch, name="w4v-fetch", daemon=True) for _ in range(2)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()
        # Connected, each heard its cart's version once (a stream says it at once).
        deadline = time.monotonic() + 60
        while any(v.mark < 0 for v in self.viewers):
            if time.monotonic() > deadline:
                raise RuntimeError("W4v: the viewers did not all connect within 60 s")
            time.sleep(0.05)

    def stop(self) -> None:
        self._stopping.set()
        for _ in range(2):
            self._fetches.put(None)
        for thread in self._threads:
            thread.join(30)
        for viewer in self.viewers:
            self._close(viewer)

    def delays(self, probes: list[tuple[str, int, float]]) -> tuple[list[float], int]:
        """Each viewer's delay for each probe of its cart, and how many it never heard."""
        found, missed = [], 0
        for cart_id, version, answered in probes:
            for viewer in self.viewers:
                if viewer.cart_id != cart_id:
                    continue
                heard = [t for t, mark in viewer.heard if mark >= version]
                if heard:
                    found.append(max(0.0, heard[0] - answered))
                else:
                    missed += 1
        return found, missed

    # --- the selector thread -------------------------------------------------------------------

    def _loop(self) -> None:
        for n, viewer in enumerate(self.viewers):
            # Spread over a second, as pages opened one after another would be.
            viewer.next_at = time.monotonic() + n / VIEWERS
        while not self._stopping.is_set():
            now = time.monotonic()
            for viewer in self.viewers:
                if viewer.sock is None and now >= viewer.next_at:
                    self._connect(viewer)
                elif (
                    viewer.polling
                    and not viewer.headers_read  # no answer awaited
                    and now >= viewer.next_at
                    and viewer.sock is not None
                    and not viewer.buffer
                ):
                    self._send_poll(viewer)
            for key, _ in self._selector.select(timeout=0.02):
                self._read(key.data)

    def _connect(self, viewer: _Viewer) -> None:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        sock.setblocking(False)
        viewer.sock, viewer.buffer, viewer.headers_read = sock, b"", False
        self._selector.register(sock, selectors.EVENT_READ, viewer)
        if viewer.polling:
            self._send_poll(viewer)
        else:
            sock.sendall(
                f"GET /live/carts/{viewer.cart_id} HTTP/1.0\r\nHost: w4\r\n"
                "Accept: text/event-stream\r\n\r\n".encode()
            )

    def _send_poll(self, viewer: _Viewer) -> None:
        assert viewer.sock is not None
        match = f"If-None-Match: {viewer.etag}\r\n" if viewer.etag else ""
        viewer.sock.sendall(
            f"GET /live/carts/{viewer.cart_id} HTTP/1.1\r\nHost: w4\r\n{match}\r\n".encode()
        )
        viewer.headers_read = True  # an answer is awaited
        viewer.next_at = time.monotonic() + viewer.period

    def _read(self, viewer: _Viewer) -> None:
        assert viewer.sock is not None
        try:
            chunk = viewer.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._close(viewer)
            viewer.next_at = time.monotonic() + RECONNECT_SECONDS
            return
        viewer.buffer += chunk
        if viewer.polling:
            self._read_poll(viewer)
        else:
            self._read_stream(viewer)

    def _read_stream(self, viewer: _Viewer) -> None:
        if not viewer.headers_read:
            if b"\r\n\r\n" not in viewer.buffer:
                return
            head, _, viewer.buffer = viewer.buffer.partition(b"\r\n\r\n")
            if b" 503 " in head.split(b"\r\n", 1)[0]:
                self.refused += 1
                self._close(viewer)
                viewer.polling, viewer.next_at = True, time.monotonic()
                viewer.period = FALLBACK_POLL_SECONDS
                return
            viewer.headers_read = True
        while b"\n\n" in viewer.buffer:
            message, _, viewer.buffer = viewer.buffer.partition(b"\n\n")
            found = _DATA.search(message)
            if found:
                self._heard(viewer, int(found.group(1)))

    def _read_poll(self, viewer: _Viewer) -> None:
        if b"\r\n\r\n" not in viewer.buffer:
            return
        head, _, rest = viewer.buffer.partition(b"\r\n\r\n")
        length = _LENGTH.search(head)
        size = int(length.group(1)) if length else 0
        if len(rest) < size:
            return
        body, viewer.buffer = rest[:size], rest[size:]
        viewer.headers_read = False  # ready for the next poll
        if b" 200 " in head.split(b"\r\n", 1)[0]:
            etag = re.search(rb"^etag: *(\S+)", head, re.I | re.M)
            viewer.etag = etag.group(1).decode() if etag else ""
            self._heard(viewer, int(body))

    def _heard(self, viewer: _Viewer, mark: int) -> None:
        if mark <= viewer.mark:
            return
        if viewer.mark >= 0:
            self._fetches.put((viewer.cart_id, viewer.mark))  # htmx fetches the panel
        viewer.mark = mark
        viewer.heard.append((time.monotonic(), mark))

    def _close(self, viewer: _Viewer) -> None:
        if viewer.sock is not None:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(viewer.sock)
            viewer.sock.close()
            viewer.sock = None

    # --- the panel fetches -------------------------------------------------------------------

    def _fetch(self) -> None:
        """What htmx does on a live page that heard its cart changed: GET the cart's regions,
        with the version its forms show."""
        while (job := self._fetches.get()) is not None:
            cart_id, shown = job
            with socket.create_connection(("127.0.0.1", self.port), timeout=30) as sock:
                sock.sendall(
                    f"GET /carts/{cart_id}?version={shown} HTTP/1.0\r\nHost: w4\r\n"
                    "HX-Request: true\r\nHX-Target: cart-panel\r\n\r\n".encode()
                )
                answer = b""
                while chunk := sock.recv(65536):
                    answer += chunk
            if not answer.startswith(b"HTTP/1.1 200") and not answer.startswith(b"HTTP/1.0 200"):
                raise RuntimeError(f"W4v: a panel fetch answered {answer[:100]!r}")
            self.refreshes += 1
