"""A TCP proxy that stands between a client and PostgreSQL and fails on command.

Real faults, not mocks: the client's driver meets a refused connection, a connection reset
under it, a server that accepts and then says nothing, or a COMMIT whose answer never comes.

    with FaultProxy.in_front_of("postgresql+psycopg://postgres@127.0.0.1:5432/test") as proxy:
        engine = sqlalchemy.create_engine(proxy.url)  # the same URL, through the proxy
        ...                      # traffic passes
        proxy.refuse()           # new connections are refused (ECONNREFUSED); open ones go on
        proxy.refuse(cut_open=True)  # ... and open ones are reset: a stopped server
        proxy.cut()              # open connections are reset, and so is every new one
        proxy.freeze()           # connections are accepted, but nothing is forwarded either way
        proxy.pass_traffic()     # back to normal: held bytes flow again, new connections pass
        proxy.drop_commit_answer()  # the next COMMIT reaches the server, its answer is dropped
        ...                      # and that connection is reset: did the commit happen?
        assert proxy.commits_dropped == 1
        proxy.forget_idle()      # open connections look fine until they next send: then reset
        proxy.round_trips        # requests clients sent that wait for the server's answer
        proxy.hold_server_close()  # a server's last words pass, its close is held back
        proxy.closes_held        # how many it held so far

The pytest fixture `pg_proxy` (tests/conftest.py) gives a started proxy in front of the test
server, with `pg_proxy.url` pointing at it and the test's private schema kept
(`options=-csearch_path=...`).

Only what psycopg does is understood: after the start-up, the client's bytes are PostgreSQL
protocol messages (a type byte and a 4-byte length), and a COMMIT is psycopg's simple-query
message ('Q') whose text is COMMIT.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
from types import TracebackType

import sqlalchemy as sa

PASS = "pass"
REFUSE = "refuse"
CUT = "cut"
FREEZE = "freeze"

_CHUNK = 65536
_TICK = 0.02  # how often idle pumps look at the mode


class FaultProxy:
    """Listens on a free port of `listen_host` and forwards to `target_host:target_port`.

    The mode applies to every connection at once: `pass_traffic`, `refuse`, `cut`, `freeze`.
    `drop_commit_answer` arms a one-shot fault on top of passing traffic. Thread safe; `close`
    (or leaving the `with` block) resets every connection and stops listening.
    """

    def __init__(self, target_host: str, target_port: int, listen_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self._listen_host = listen_host
        self._mode = PASS
        self._changed = threading.Condition()
        self._connections: set[_Link] = set()
        self._drop_next_commit = False
        self.commits_dropped = 0
        self.accepted = 0
        self.round_trips = 0
        self.closes_held = 0  # see `hold_server_close`
        self._closed = False
        self._generation = 0
        self._listener: socket.socket | None = None
        self.port = 0
        self.url = ""  # set by `in_front_of`
        self._listen()
        self._acceptor = threading.Thread(target=self._accept, name="faultproxy", daemon=True)
        self._acceptor.start()

    @classmethod
    def in_front_of(cls, url: str | sa.URL) -> FaultProxy:
        """A proxy to the server of database `url`; its `url` is the same one through it."""
        parsed = sa.make_url(url)
        proxy = cls(parsed.host or "127.0.0.1", parsed.port or 5432)
        proxy.url = proxy.url_for(parsed)
        return proxy

    # --- the faults ------------------------------------------------------------------------

    @property
    def mode(self) -> str:
        return self._mode

    def pass_traffic(self) -> None:
        """Forward everything, including what a freeze held back; accept new connections."""
        self._set_mode(PASS)

    def refuse(self, *, cut_open: bool = False) -> None:
        """Stop listening: new connections are refused. Open connections carry on, unless
        `cut_open`: then they are reset, as by a server that was stopped."""
        self._set_mode(REFUSE, cut_open=cut_open)

    def cut(self) -> None:
        """Reset every open connection now, and every new one as soon as it is accepted."""
        self._set_mode(CUT, cut_open=True)

    def freeze(self) -> None:
        """Accept connections but forward nothing, in either direction, until
        `pass_traffic`: a server that hangs with its connections open."""
        self._set_mode(FREEZE)

    def drop_commit_answer(self) -> None:
        """Once: pass the next COMMIT to the server, drop the server's answer to it, and reset
        that connection; the client cannot know whether its transaction committed."""
        with self._changed:
            self._drop_next_commit = True

    def forget_idle(self) -> None:
        """Once, for the connections open now: say nothing to their clients, but reset each
        as soon as its client next sends, without passing that on: as a firewall or NAT that
        forgot an idle connection answers its next packet. Unlike `cut`, a client that looks
        at its idle connection sees nothing wrong; it finds out only by using it."""
        with self._changed:
            for link in self._connections:
                link.forgotten = True

    def hold_server_close(self) -> None:
        """Once, for the connections open now: when the server ends one, pass on what it said
        last (a session ended by an operator or a restart says why, then closes), but keep the
        client's side open until its client next sends, then reset it without passing that on.
        The moment between a server's last word and its close, held open: a client that looks
        sees the words, not yet the close. `closes_held` counts the closes held."""
        with self._changed:
            for link in self._connections:
                link.hold_close = True

    def wait_for_held_closes(self, count: int, timeout: float = 10.0) -> bool:
        """Wait until `closes_held` reaches `count` (or `timeout` seconds); whether it did."""
        with self._changed:
            return self._changed.wait_for(lambda: self.closes_held >= count, timeout)

    @property
    def open_connections(self) -> int:
        """Client connections the proxy holds now."""
        with self._changed:
            return len(self._connections)

    # --- addresses -------------------------------------------------------------------------

    @property
    def address(self) -> tuple[str, int]:
        return (self._listen_host, self.port)

    def url_for(self, url: str | sa.URL) -> str:
        """`url` with its host and port replaced by the proxy's; the rest (user, database,
        `options`) is kept."""
        proxied = sa.make_url(url).set(host=self._listen_host, port=self.port)
        return proxied.render_as_string(hide_password=False)

    # --- life ------------------------------------------------------------------------------

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        self._stop_listening()
        self._acceptor.join(2)

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # --- inside ----------------------------------------------------------------------------

    def _set_mode(self, mode: str, *, cut_open: bool = False) -> None:
        with self._changed:
            self._mode = mode
            if cut_open:
                self._generation += 1  # the links made before now end
            self._changed.notify_all()
            # Return once they have: their clients' sockets have the reset by then.
            for _ in range(100):
                if not cut_open or all(
                    link.generation == self._generation for link in self._connections
                ):
                    break
                self._changed.wait(_TICK)
        if mode == REFUSE:
            self._stop_listening()
        elif self._listener is None:
            self._listen()

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self._listen_host, self.port))  # port 0 the first time: any free one
        listener.listen(64)
        listener.settimeout(_TICK * 5)
        self.port = listener.getsockname()[1]
        self._listener = listener

    def _stop_listening(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            # Shut down first: a close alone would leave the socket listening until the
            # acceptor's pending accept() returns.
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()

    def _accept(self) -> None:
        while not self._closed:
            listener = self._listener
            if listener is None:
                with self._changed:
                    self._changed.wait(_TICK)
                continue
            try:
                client, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted += 1
            if self._mode == CUT:
                _reset(client)
                continue
            link = _Link(self, client, self._generation)
            with self._changed:
                self._connections.add(link)
            threading.Thread(target=link.run, name="faultproxy-link", daemon=True).start()

    def _flowing(self, link: _Link) -> bool:
        """Wait while frozen; False once `link` must end instead."""
        with self._changed:
            while self._mode == FREEZE and not self._closed:
                self._changed.wait(_TICK * 5)
            return not self._closed and link.generation == self._generation

    def _forget(self, link: _Link) -> None:
        with self._changed:
            self._connections.discard(link)
            self._changed.notify_all()

    def _take_commit_fault(self) -> bool:
        with self._changed:
            armed, self._drop_next_commit = self._drop_next_commit, False
            return armed


class _Link:
    """One client connection and its connection to the server, pumped by one thread, which
    alone closes them (with a reset) when the proxy cuts or closes."""

    def __init__(self, proxy: FaultProxy, client: socket.socket, generation: int) -> None:
        self.proxy = proxy
        self.generation = generation  # the proxy's count of cuts when it was accepted
        self.client = client
        self.server: socket.socket | None = None
        self._startup_done = False
        self._from_client = b""  # client bytes not yet parsed into whole messages
        self._awaiting_commit_answer = False
        self.forgotten = False  # see `FaultProxy.forget_idle`
        self.hold_close = False  # see `FaultProxy.hold_server_close`
        self._server_gone = False  # the server closed, and the close is held

    def run(self) -> None:
        try:
            if not self.proxy._flowing(self):
                return
            self.client.settimeout(None)
            self.server = socket.create_connection(self.proxy.target, timeout=5)
            self.server.settimeout(None)
            self._pump()
        except OSError:
            pass
        finally:
            for side in (self.client, self.server):
                if side is not None:
                    _reset(side)
            self.proxy._forget(self)

    def _pump(self) -> None:
        assert self.server is not None
        server = self.server
        while True:
            sources = [self.client] if self._server_gone else [self.client, server]
            readable, _, _ = select.select(sources, [], [], _TICK)
            if not self.proxy._flowing(self):
                return
            for source in readable:
                data = source.recv(_CHUNK)
                if not data:
                    if source is server and self.hold_close:
                        self._server_gone = True
                        with self.proxy._changed:
                            self.proxy.closes_held += 1
                            self.proxy._changed.notify_all()
                        continue
                    return
                if source is self.client:
                    if self._server_gone or not self._to_server(data):
                        return
                elif self._awaiting_commit_answer:
                    self.proxy.commits_dropped += 1
                    return  # the answer is dropped, and the connection reset in `run`
                else:
                    self.client.sendall(data)

    def _to_server(self, data: bytes) -> bool:
        """Pass the client's `data` on; False if the connection must end instead."""
        assert self.server is not None
        if self.forgotten:
            return False
        self.server.sendall(data)
        self._from_client += data
        for kind, body in self._messages():
            # A simple query, or the Sync that ends an extended query: the client now waits.
            if kind in (b"Q", b"S"):
                with self.proxy._changed:
                    self.proxy.round_trips += 1
            is_commit = kind == b"Q" and body.rstrip(b"\x00; \n").upper() == b"COMMIT"
            if is_commit and self.proxy._take_commit_fault():
                self._awaiting_commit_answer = True
        return True

    def _messages(self) -> list[tuple[bytes, bytes]]:
        """The whole messages received so far (the start-up packet has no type byte)."""
        messages = []
        buffer = self._from_client
        while True:
            if not self._startup_done:
                if len(buffer) < 4:
                    break
                (length,) = struct.unpack("!I", buffer[:4])
                if len(buffer) < length:
                    break
                code = struct.unpack("!I", buffer[4:8])[0] if length >= 8 else 0
                buffer = buffer[length:]
                # An SSL or GSS request (answered by one byte) comes before the real start-up.
                if code not in (80877103, 80877104):
                    self._startup_done = True
                continue
            if len(buffer) < 5:
                break
            (length,) = struct.unpack("!I", buffer[1:5])
            if len(buffer) < 1 + length:
                break
            messages.append((buffer[:1], buffer[5 : 1 + length]))
            buffer = buffer[1 + length :]
        self._from_client = buffer
        return messages


def _reset(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        # Linger 0: close sends RST, as a crashed host or a cut cable (then a timeout) would.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()
