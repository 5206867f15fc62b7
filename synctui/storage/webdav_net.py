"""The sockets under the WebDAV store's httpx client, with deadlines (``deadline``).

httpx's timeouts are per socket operation, so a server that sends one byte a
second never trips them.  This network backend for httpcore paces every exchange
instead (first byte, then a minimum rate), and polls the store's interrupt while
it waits, so a cancelled sync breaks off a request at once.
"""

from __future__ import annotations

import socket
import typing

import httpcore

from synctui.storage.deadline import Interrupt, Interrupted, Pace, Stalled, monotonic, wait_slice


class PacedStream(httpcore.NetworkStream):
    """A connection whose reads and writes keep to a Pace per direction of each exchange."""

    def __init__(self, inner: httpcore.NetworkStream, timeout: float, interrupt: Interrupt) -> None:
        self._inner = inner
        self._sock: socket.socket = inner.get_extra_info("socket")
        self._timeout = timeout
        self._interrupt = interrupt
        self._direction = ""
        self._pace = Pace(timeout)

    def _paced(self, direction: str) -> Pace:
        """The pace of this direction; a change of direction is a new exchange."""
        if direction != self._direction:
            self._direction, self._pace = direction, Pace(self._timeout)
        return self._pace

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        pace = self._paced("read")
        while True:
            data = self._step(pace, self._sock.recv, max_bytes, httpcore.ReadError, httpcore.ReadTimeout)
            if data is not None:
                return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        pace = self._paced("write")
        view = memoryview(buffer)
        while view:
            n = self._step(pace, self._sock.send, view, httpcore.WriteError, httpcore.WriteTimeout)
            if n is not None:
                view = view[n:]

    def _step(self, pace: Pace, call: typing.Any, arg: typing.Any, error: type[Exception],
              timeout_error: type[Exception]) -> typing.Any:
        """One blocked wait of at most a slice: ``call(arg)``'s result (bytes read or a
        count sent), or None when the slice ran out; the pace judges every wait."""
        self._interrupted(error)
        t0 = monotonic()
        try:
            self._sock.settimeout(wait_slice(pace))
            result = call(arg)
        except TimeoutError:
            self._account(pace, monotonic() - t0, 0, timeout_error)
            return None
        except OSError as exc:
            raise error(str(exc)) from exc
        self._account(pace, monotonic() - t0, len(result) if isinstance(result, bytes) else result,
                      timeout_error)
        return result

    def _interrupted(self, error: type[Exception]) -> None:
        try:
            self._interrupt.check()
        except Interrupted as exc:
            raise error("cancelled") from exc

    @staticmethod
    def _account(pace: Pace, waited: float, n: int, error: type[Exception]) -> None:
        try:
            pace.account(waited, n)
        except Stalled as exc:
            raise error(str(exc)) from exc

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: typing.Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return PacedStream(self._inner.start_tls(ssl_context, server_hostname, timeout),
                           self._timeout, self._interrupt)

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class PacedBackend(httpcore.NetworkBackend):
    """httpcore's own sockets (connect bounded by the connect timeout), paced."""

    def __init__(self, timeout: float, interrupt: Interrupt) -> None:
        self._inner = httpcore.SyncBackend()
        self._timeout = timeout
        self._interrupt = interrupt

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: typing.Iterable[typing.Any] | None = None) -> httpcore.NetworkStream:
        try:
            self._interrupt.check()
        except Interrupted as exc:
            raise httpcore.ConnectError("cancelled") from exc
        stream = self._inner.connect_tcp(host, port, timeout=timeout, local_address=local_address,
                                         socket_options=socket_options)
        return PacedStream(stream, self._timeout, self._interrupt)

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: typing.Iterable[typing.Any] | None = None) -> httpcore.NetworkStream:
        stream = self._inner.connect_unix_socket(path, timeout=timeout, socket_options=socket_options)
        return PacedStream(stream, self._timeout, self._interrupt)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)
