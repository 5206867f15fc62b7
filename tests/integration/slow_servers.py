"""Servers that stall or trickle, on loopback, for the deadline tests (issue #12, item 13).

* :class:`SlowProxy`: a TCP proxy in front of a real server (sshd, wsgidav).  It can
  trickle every answer at ``rate`` bytes per second, or forward normally until a
  client has sent more than ``stall_after`` bytes on one connection and then stop
  forwarding either way (the sockets stay open: a server that hangs, not one that
  hangs up).
* :class:`Trickle`: WSGI middleware for wsgidav that reads the body of a PUT whose path
  contains ``match`` at one byte per second (the uploading client stalls once the
  socket buffers are full), and sends a GET's body at one byte per second.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any


class SlowProxy:
    """127.0.0.1:``port`` forwards to 127.0.0.1:``upstream``, slowly (see the module doc)."""

    def __init__(self, upstream: int, *, rate: float | None = None, stall_after: int | None = None) -> None:
        self.upstream = upstream
        self.rate = rate
        self.stall_after = stall_after
        self.stalled = threading.Event()  # some connection stalled
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._closing = threading.Event()
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> SlowProxy:
        threading.Thread(target=self._accept, name="slow-proxy", daemon=True).start()
        return self

    def _accept(self) -> None:
        self._listener.settimeout(0.2)
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                server = socket.create_connection(("127.0.0.1", self.upstream))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._socks += [client, server]
            stop = threading.Event()
            threading.Thread(target=self._pump, args=(client, server, stop, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, stop, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, stop: threading.Event, upload: bool) -> None:
        sent = 0
        try:
            while not self._closing.is_set():
                if stop.is_set():  # stalled: hold the connection open, forward nothing
                    time.sleep(0.1)
                    continue
                data = src.recv(1 if (self.rate and not upload) else 1 << 16)
                if not data:
                    break
                if upload and self.stall_after is not None and sent + len(data) > self.stall_after:
                    stop.set()
                    self.stalled.set()
                    continue
                sent += len(data)
                dst.sendall(data)
                if self.rate and not upload:
                    time.sleep(1 / self.rate)
        except OSError:
            pass
        finally:
            if not stop.is_set():
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

    def close(self) -> None:
        self._closing.set()
        self._listener.close()
        with self._lock:
            for s in self._socks:
                try:
                    s.close()
                except OSError:
                    pass


class _SlowInput:
    """A request body read one byte per second."""

    #: after this long the server gives up too (its thread must end for the server to stop)
    GIVE_UP = 12.0

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.until = time.monotonic() + self.GIVE_UP

    def read(self, n: int = -1) -> bytes:
        time.sleep(1.0)
        data = self.inner.read(1)
        if not data or time.monotonic() > self.until:
            raise ConnectionError("the slow server gives up")
        return data

    def readline(self, *args: Any) -> bytes:
        return self.read(1)


class Trickle:
    """WSGI middleware: PUT bodies and GET answers of paths containing ``match`` at 1 byte/s."""

    def __init__(self, app: Any, match: str) -> None:
        self.app = app
        self.match = match
        self.started = threading.Event()  # a slow request began

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        if self.match not in environ.get("PATH_INFO", ""):
            return self.app(environ, start_response)
        method = environ.get("REQUEST_METHOD")
        if method == "PUT":
            self.started.set()
            environ["wsgi.input"] = _SlowInput(environ["wsgi.input"])
            return self.app(environ, start_response)
        if method == "GET":
            self.started.set()
            body = b"".join(self.app(environ, start_response))
            until = time.monotonic() + _SlowInput.GIVE_UP
            return (body[i:i + 1] for i in range(len(body))
                    if time.sleep(1.0) is None and time.monotonic() < until)
        return self.app(environ, start_response)
