"""W4: htmx add-item POSTs through the real web app under gunicorn, from 8 concurrent clients.

The app runs as documented for production, `gunicorn -w 2 --threads 256 'webapp:create_app()'`,
on a fresh SQLite file and a free port on 127.0.0.1. The clients are threads of this process,
each with its own keep-alive connection and browser session: it loads its carts' pages once for
the session cookie, the CSRF token and the version each page shows, then posts the add-item
form the way htmx does (the `HX-Request` header, the form's fields and the page's version, which
it reads back from each answer) and times each answer, from the first byte sent to the last byte
read. A short warm-up is not counted.

The clients share the machine with the server, so they are kept cheap: a few lines of socket
code that write a prepared request and read the answer by its Content-Length, not
`http.client`, whose header parsing cost as much CPU per request as a tenth of the server's.

Afterwards every cart is read back from the database: it must hold exactly the items whose POST
was answered 200. The peer has no web app, so there is no peer figure for this scenario.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench.commands import in_threads
from bench.databases import Workspace
from bench.report import Row
from bench.workload import SKUS

CLIENTS = 8
WORKERS = int(os.environ.get("BENCH_W4_WORKERS", "2"))
# As docs/operations.md serves it: threads enough for the live pages' streams (webapp/live.py).
THREADS = int(os.environ.get("BENCH_W4_THREADS", "256"))
CARTS_PER_CLIENT = 4
ROOT = Path(__file__).resolve().parent.parent
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
_VERSION = re.compile(rb'name="version" value="([0-9]+)"')  # the version the page shows


def available() -> str | None:
    """None if the web app is there to measure, else what is missing."""
    try:
        import webapp

        if not hasattr(webapp, "create_app"):
            return "webapp.create_app does not exist yet (the web app has not landed on main)"
        from webapp import carts  # noqa: F401  (the POST routes)
    except ImportError as error:
        return f"the web app cannot be imported: {error}"
    return None


def run(workspace: Workspace, *, quick: bool) -> Row:
    missing = available()
    if missing is not None:
        return Row(
            "W4",
            "sqlite",
            f"htmx add-item POSTs, {CLIENTS} clients",
            "p99 ms",
            "lower",
            None,
            target="p99 < 20 ms",
            notes={"pending": missing},
        )
    per_client = 150 if quick else 1000
    warm_up = 20
    database = workspace.sqlite_path("webapp")
    url = f"sqlite:///{database}"
    cart_ids = [f"w4-{c}-{n}" for c in range(CLIENTS) for n in range(CARTS_PER_CLIENT)]
    create_carts(url, cart_ids)
    port = free_port()
    server = start_gunicorn(url, port)
    try:
        clients = open_clients(port, cart_ids, warm_up)
        cpu_before = workers_cpu(server.pid)
        latencies, elapsed = timed(clients, per_client)
        cpu = workers_cpu(server.pid) - cpu_before
    finally:
        stop(server)
    check(url, clients)
    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    row = Row(
        "W4",
        "sqlite",
        f"htmx add-item POSTs, {CLIENTS} clients",
        "p99 ms",
        "lower",
        p99,
        target="p99 < 20 ms",
        met=p99 < 20,
        notes={
            "requests per second": round(len(latencies) / elapsed),
            "p50 ms": round(p50, 2),
            "p99 ms": round(p99, 2),
            "requests": len(latencies),
            # Less disturbed by other work on the machine than the latencies are.
            "server CPU ms per request": round(cpu * 1000 / len(latencies), 2),
            "server": f"gunicorn -w {WORKERS} --threads {THREADS} (gthread)",
        },
    )
    return row


def open_clients(port: int, cart_ids: list[str], warm_up: int) -> list[Client]:
    """The clients, each with its session and carts, after `warm_up` untimed POSTs each (the
    first requests compile templates and fill pools)."""
    clients = [
        Client(port, cart_ids[c * CARTS_PER_CLIENT : (c + 1) * CARTS_PER_CLIENT])
        for c in range(CLIENTS)
    ]
    for client in clients:
        client.open_session()
        client.post_many(warm_up)
    return clients


def timed(clients: list[Client], per_client: int) -> tuple[list[float], float]:
    """`per_client` timed POSTs from each client at once, each on a fresh connection: the
    latencies in ms, sorted, and the seconds it took. Raises `AssertionError` if any failed."""
    for client in clients:
        client.connect()
        client.latencies = []
    elapsed = in_threads(CLIENTS, lambda c: clients[c].timed(per_client))
    for client in clients:
        client.close()
    errors = [e for client in clients for e in client.errors]
    if errors:
        raise AssertionError(f"W4: {len(errors)} requests failed, the first: {errors[0]}")
    return sorted(ms for client in clients for ms in client.latencies), elapsed


def percentile(ordered: list[float], fraction: float) -> float:
    """The value at `fraction` of the sorted `ordered` (0.5: the median)."""
    if fraction == 0.5:
        return statistics.median(ordered)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def create_carts(url: str, cart_ids: list[str]) -> None:
    """`flask init-db`, then the carts, through the app's own `Emit` (so its read models
    know them too)."""
    from webapp import create_app
    from webapp.db import get_emit, init_db

    app = create_app({"EMIT_STORE_URL": url, "EMIT_RUN_POLICIES": False})
    init_db(app)
    emit = get_emit(app)
    for cart_id in cart_ids:
        emit.create(cart_id)
    emit.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_gunicorn(url: str, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "FLASK_EMIT_STORE_URL": url,
        "FLASK_SECRET_KEY": "bench-only-secret",
        # The clients name the host "w4"; an app answers only the hosts it is told to.
        "FLASK_TRUSTED_HOSTS": '["w4"]',
        # W4 measures the command path at load: 8 clients from one address, a few carts, far
        # past the per-client and per-cart limits that bound abuse. Counted, but never reached.
        "FLASK_RATE_LIMIT_ACTIONS": "100000000 per minute",
        "FLASK_RATE_LIMIT_CART_COMMANDS": "100000000 per minute",
    }
    gunicorn = Path(sys.executable).with_name("gunicorn")
    # A file, not a pipe: a full pipe would stall the server. Closed with the process.
    log = tempfile.TemporaryFile()  # noqa: SIM115
    server = subprocess.Popen(
        [
            str(gunicorn),
            f"--workers={WORKERS}",
            f"--threads={THREADS}",
            f"--bind=127.0.0.1:{port}",
            "--log-level=warning",
            "webapp:create_app()",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"gunicorn exited: {log.read().decode()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return server
        except OSError:
            time.sleep(0.1)
    stop(server)
    raise RuntimeError("gunicorn did not start listening within 30 s")


def workers_cpu(master: int) -> float:
    """CPU seconds (user and system) used so far by gunicorn's workers, from /proc."""
    seconds = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    for pid in children:
        # The fields after the command's closing parenthesis; utime and stime are 14 and 15.
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        seconds += (int(fields[11]) + int(fields[12])) / tick
    return seconds


def stop(server: subprocess.Popen[bytes]) -> None:
    """Ask gunicorn to shut down; if it has not within 30 s, end it."""
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(timeout=30)


class Client:
    """One browser: a keep-alive connection, a session cookie, a CSRF token, its own carts and
    the version of each that its page shows."""

    def __init__(self, port: int, cart_ids: list[str]) -> None:
        self.port = port
        self.cart_ids = cart_ids
        self.socket: socket.socket | None = None
        self.buffer = b""
        self.cookie = ""
        self.token = ""
        self.versions: dict[str, str] = {}
        self.sent = 0
        self.added: dict[str, dict[str, int]] = {cart_id: {} for cart_id in cart_ids}
        self.latencies: list[float] = []
        self.errors: list[str] = []

    def connect(self) -> None:
        """A fresh connection: gunicorn closes one left idle for two seconds (its keepalive), as
        the warm-up of the other clients may."""
        self.close()
        self.socket = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def open_session(self) -> None:
        self.connect()
        for cart_id in self.cart_ids:
            headers = f"Cookie: {self.cookie}\r\n" if self.cookie else ""
            self._send(f"GET /carts/{cart_id} HTTP/1.1\r\nHost: w4\r\n{headers}\r\n".encode())
            status, head, body = self._receive()
            page = body.decode()
            if not self.cookie:
                cookie = re.search(r"^set-cookie: ([^;\r]+)", head, re.I | re.M)
                self.cookie = cookie.group(1) if cookie else ""
            token, version = _TOKEN.search(page), _VERSION.search(body)
            if status != 200 or token is None or version is None:
                raise RuntimeError(f"W4: the cart page answered {status} without its forms")
            self.token = token.group(1)
            self.versions[cart_id] = version.group(1).decode()

    def post(self) -> float:
        cart_id = self.cart_ids[self.sent % len(self.cart_ids)]
        sku = SKUS[(self.sent // len(self.cart_ids)) % len(SKUS)]
        self.sent += 1
        # Each form a page draws carries a key of its own (emit looks it up: the real path).
        form = {"csrf_token": self.token, "sku": sku, "quantity": "1", "key": secrets.token_hex(8)}
        body = urlencode({**form, "version": self.versions[cart_id]}).encode()
        request = (
            f"POST /carts/{cart_id}/items HTTP/1.1\r\n"
            "Host: w4\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\n"
            f"Cookie: {self.cookie}\r\n"
            "HX-Request: true\r\n"
            "HX-Target: cart-panel\r\n"
            f"HX-Current-URL: http://127.0.0.1:{self.port}/carts/{cart_id}\r\n"
            "\r\n"
        ).encode() + body
        started = time.perf_counter()
        self._send(request)
        status, _, content = self._receive()
        elapsed = (time.perf_counter() - started) * 1000
        version = _VERSION.search(content)
        if status != 200 or f'id="line-{sku}"'.encode() not in content or version is None:
            self.errors.append(f"POST /carts/{cart_id}/items: {status} {content[:200]!r}")
        else:
            counts = self.added[cart_id]
            counts[sku] = counts.get(sku, 0) + 1
            self.versions[cart_id] = version.group(1).decode()
        return elapsed

    def post_many(self, count: int) -> None:
        for _ in range(count):
            self.post()

    def timed(self, count: int) -> None:
        try:
            for _ in range(count):
                self.latencies.append(self.post())
        except Exception as error:
            self.errors.append(repr(error))

    def close(self) -> None:
        if self.socket is not None:
            self.socket.close()
            self.socket = None

    def _send(self, data: bytes) -> None:
        assert self.socket is not None, "connect() first"
        self.socket.sendall(data)

    def _receive(self) -> tuple[int, str, bytes]:
        """One answer: its status, its head (status line and headers) and its body."""
        while b"\r\n\r\n" not in self.buffer:
            self._read()
        head_bytes, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        head = head_bytes.decode("latin-1")
        length = re.search(r"^content-length: *([0-9]+)", head, re.I | re.M)
        if length is None:
            raise RuntimeError(f"W4: an answer without a Content-Length: {head[:200]!r}")
        size = int(length.group(1))
        while len(self.buffer) < size:
            self._read()
        body, self.buffer = self.buffer[:size], self.buffer[size:]
        return int(head.split(" ", 2)[1]), head, body

    def _read(self) -> None:
        assert self.socket is not None, "connect() first"
        chunk = self.socket.recv(65536)
        if not chunk:
            raise ConnectionError("W4: the server closed the connection")
        self.buffer += chunk


def check(url: str, clients: list[Client]) -> None:
    from emit import Emit, SqlEventStore
    from shop.cart import cart_decider

    emit: Any = Emit(cart_decider, store=SqlEventStore(url))
    try:
        for client in clients:
            for cart_id, counts in client.added.items():
                state = emit.get_state(cart_id)
                held = {line.sku: line.quantity for line in state.lines}
                if held != counts:
                    raise AssertionError(f"W4: {cart_id} holds {held}, the clients added {counts}")
    finally:
        emit.close()
