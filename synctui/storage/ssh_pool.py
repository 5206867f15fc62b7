"""Connections for the SFTP store: a pool of transports and pipelined SFTP requests.

Each engine worker checks a connection out of the pool (its own SSH transport,
SFTP channel and crypto), so parallel transfers never queue behind one another.
A dead connection is dropped; the next checkout dials again.

:class:`Pipe` sends raw SFTP requests without waiting for each reply (paramiko's
own client waits for every ``open``/``close``/``stat``): a small file costs two or
three round trips instead of five or six, and a batch of files costs the same.
It uses paramiko's ``SFTPClient._async_request``/``_read_response``, stable since
paramiko 1.x; ``tests/integration`` exercises it against OpenSSH.
"""

from __future__ import annotations

import errno
import logging
import shlex
import struct
import threading
import time
from typing import Any

from synctui.errors import ConnectionFailed, StoreError
from synctui.storage.ssh_connect import Connector, NetworkFailure

log = logging.getLogger("synctui.ssh")

# SFTP v3 numbers (draft-ietf-secsh-filexfer-02), as paramiko.sftp names them
CMD_OPEN, CMD_CLOSE, CMD_READ, CMD_WRITE = 3, 4, 5, 6
CMD_LSTAT, CMD_FSTAT, CMD_SETSTAT, CMD_FSETSTAT = 7, 8, 9, 10
CMD_OPENDIR, CMD_READDIR, CMD_REMOVE, CMD_MKDIR, CMD_RMDIR = 11, 12, 13, 14, 15
CMD_STAT, CMD_RENAME = 17, 18
CMD_STATUS, CMD_HANDLE, CMD_DATA, CMD_NAME, CMD_ATTRS = 101, 102, 103, 104, 105
CMD_EXTENDED, CMD_EXTENDED_REPLY = 200, 201
FX_OK, FX_EOF, FX_NO_SUCH_FILE, FX_PERMISSION_DENIED, FX_FAILURE = 0, 1, 2, 3, 4
FX_OP_UNSUPPORTED = 8
FLAG_READ, FLAG_WRITE, FLAG_APPEND, FLAG_CREATE, FLAG_TRUNC, FLAG_EXCL = 1, 2, 4, 8, 16, 32

DEFAULT_IO = 32 * 1024  # what every SFTP server must accept
MAX_IO = 255 * 1024  # OpenSSH's limit (limits@openssh.com says so)
SFTP_START_TIMEOUT = 30.0  # login shells on clusters can be slow to start sftp-server


_HEADER = struct.Struct(">IB")


def send_all(chan: Any, data: bytes | bytearray, idle: float | None = None) -> None:
    """``chan.sendall`` without paramiko's copy of the rest after every packet.  A channel
    whose timeout is shorter than ``idle`` (exec channels poll every second) may wait
    that long in all for the server to take more."""
    view = memoryview(data)
    waited = 0.0
    while view:
        try:
            n = chan.send(view[:1 << 18])
        except TimeoutError:
            waited += chan.gettimeout() or 0.0
            if idle is None or waited >= idle:
                raise
            continue
        if n <= 0:
            raise EOFError("channel closed")
        waited = 0.0
        view = view[n:]


class ConnectionLost(StoreError):
    """The SSH connection broke during an operation: retry (a new one is dialled)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, transient=True)


class ConnectionStalled(StoreError):
    """The server stopped answering (a deadline passed): not retried, a server this slow
    stays slow; the connection is dropped."""


class Quiet:
    """How long a polled exec channel has been silent; past the connection's idle
    timeout the server has stalled."""

    __slots__ = ("conn", "since")

    def __init__(self, conn: Conn) -> None:
        self.conn = conn
        self.since = time.monotonic()

    def heard(self) -> None:
        self.since = time.monotonic()

    def check(self, what: str) -> None:
        idle = self.conn.idle_timeout
        if time.monotonic() - self.since >= idle:
            self.conn.close()
            raise ConnectionStalled(f"the server did not answer for {idle:g} s while {what} "
                                    "(fs_args timeout)")


class SFTPStatus(Exception):
    """A non-OK SSH_FXP_STATUS reply (or an unexpected reply type)."""

    def __init__(self, code: int, text: str = "") -> None:
        super().__init__(text or f"SFTP status {code}")
        self.code = code
        self.text = text

    @property
    def errno(self) -> int | None:
        return {FX_NO_SUCH_FILE: errno.ENOENT, FX_PERMISSION_DENIED: errno.EACCES}.get(self.code)

    @property
    def reason(self) -> str:
        if self.code == FX_NO_SUCH_FILE:
            return "no such file or folder"
        if self.code == FX_PERMISSION_DENIED:
            return "permission denied"
        if self.code == FX_OP_UNSUPPORTED:
            return "not supported by the server"
        text = " ".join(self.text.split())
        return text if text and text.lower() != "failure" else "the server refused (failure)"


class Pipe:
    """Pipelined requests on one SFTPClient; one thread at a time (the conn's owner)."""

    __slots__ = ("sftp", "replies", "__weakref__")

    def __init__(self, sftp: Any) -> None:
        self.sftp = sftp
        self.replies: dict[int, tuple[int, Any]] = {}

    # paramiko calls this for replies to our requests that arrive while anyone waits
    def _async_response(self, t: int, msg: Any, num: int) -> None:
        self.replies[num] = (t, msg)

    def send(self, t: int, *args: Any) -> int:
        return self.sftp._async_request(self, t, *args)

    def send_many(self, requests: list[tuple[Any, ...]]) -> list[int]:
        """Send ``(type, *args)`` requests in one write: one SSH packet per ~32 KiB
        instead of one packet (and one system call) per request."""
        from paramiko.message import Message
        from paramiko.sftp import int64 as _int64
        from paramiko.sftp_attr import SFTPAttributes

        sftp = self.sftp
        parts: list[bytes] = []
        nums: list[int] = []
        with sftp._lock:
            for t, *args in requests:
                num = sftp.request_number
                msg = Message()
                msg.add_int(num)
                for item in args:
                    if isinstance(item, _int64):
                        msg.add_int64(item)
                    elif isinstance(item, int):
                        msg.add_int(item)
                    elif isinstance(item, SFTPAttributes):
                        item._pack(msg)
                    else:
                        msg.add_string(item)
                payload = msg.asbytes()
                parts.append(_HEADER.pack(len(payload) + 1, t))
                parts.append(payload)
                sftp._expecting[num] = self
                sftp.request_number = num + 1
                nums.append(num)
        send_all(sftp.sock, b"".join(parts))
        return nums

    def wait(self, num: int) -> tuple[int, Any]:
        replies, read = self.replies, self.sftp._read_response
        while num not in replies:
            read()
        return replies.pop(num)

    # typed waits ------------------------------------------------------------------
    def status(self, num: int) -> None:
        """Wait for a STATUS reply; raise SFTPStatus unless it is OK."""
        t, msg = self.wait(num)
        raise_status(t, msg)

    def handle(self, num: int) -> bytes:
        t, msg = self.wait(num)
        if t == CMD_HANDLE:
            return msg.get_binary()
        raise_status(t, msg, expected="a handle")
        raise AssertionError  # unreachable

    def attrs(self, num: int) -> Any:
        from paramiko.sftp_attr import SFTPAttributes

        t, msg = self.wait(num)
        if t == CMD_ATTRS:
            return SFTPAttributes._from_msg(msg)
        raise_status(t, msg, expected="attributes")
        raise AssertionError

    def data(self, num: int) -> bytes | None:
        """The bytes of a READ reply; None at end of file."""
        t, msg = self.wait(num)
        if t == CMD_DATA:
            return msg.get_string()
        if t == CMD_STATUS:
            code = msg.get_int()
            if code == FX_EOF:
                return None
            raise SFTPStatus(code, _text(msg))
        raise SFTPStatus(FX_FAILURE, f"unexpected reply {t} to a read")

    def ok(self, num: int) -> SFTPStatus | None:
        """Wait for a STATUS reply; return the error instead of raising it."""
        try:
            self.status(num)
        except SFTPStatus as exc:
            return exc
        return None


def raise_status(t: int, msg: Any, *, expected: str = "") -> None:
    if t == CMD_STATUS:
        code = msg.get_int()
        if code == FX_OK and not expected:
            return
        raise SFTPStatus(code, _text(msg))
    if not expected:
        raise SFTPStatus(FX_FAILURE, f"unexpected reply {t}")
    raise SFTPStatus(FX_FAILURE, f"unexpected reply {t} (wanted {expected})")


def _text(msg: Any) -> str:
    try:
        return msg.get_string().decode("utf-8", "replace")
    except Exception:  # noqa: BLE001 - some servers omit the message
        return ""


def attrs_with_mtime(seconds: int) -> Any:
    from paramiko.sftp_attr import SFTPAttributes

    a = SFTPAttributes()
    a.st_atime = a.st_mtime = seconds
    return a


def empty_attrs() -> Any:
    from paramiko.sftp_attr import SFTPAttributes

    return SFTPAttributes()


def int64(value: int) -> Any:
    from paramiko.sftp import int64 as _int64

    return _int64(value)


# ---------------------------------------------------------------------------
# connections


class Conn:
    """One authenticated transport with its SFTP channel; used by one thread at a time."""

    __slots__ = ("transport", "chain", "sftp", "io_read", "io_write", "serial", "idle_timeout", "tar_sink")

    def __init__(self, transport: Any, chain: list[Any], sftp: Any, serial: int,
                 idle_timeout: float = 60.0) -> None:
        self.transport = transport
        self.chain = chain
        self.sftp = sftp
        self.io_read = DEFAULT_IO
        self.io_write = DEFAULT_IO
        self.serial = serial
        #: the longest the server may stay silent while we wait for it (s)
        self.idle_timeout = idle_timeout
        #: the long-lived ``tar -x`` loop (ssh_tar.TarSink) on this connection, once started;
        #: False when the server cannot run one (the store then starts a shell per batch)
        self.tar_sink: Any = None

    def alive(self) -> bool:
        t = self.transport
        return bool(t.is_active()) and not self.sftp.sock.closed

    def close(self) -> None:
        sink, self.tar_sink = self.tar_sink, None
        closers = [sink.close] if sink else []
        for closer in (*closers, self.sftp.close, self.transport.close, *[t.close for t in self.chain]):
            try:
                closer()
            except Exception:  # noqa: BLE001 - closing a dead connection
                pass


class ConnPool:
    """Idle connections to one server; ``get`` one per concurrent operation."""

    def __init__(self, connector: Connector, *, max_idle: int = 16) -> None:
        self.connector = connector
        self.max_idle = max_idle
        self._idle: list[Conn] = []
        self._all: set[Conn] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._serial = 0
        self._limits: tuple[int, int] | None = None
        self.opened = 0  # connections made so far (tests, the app's status line)

    def get(self) -> Conn:
        with self._lock:
            while self._idle:
                conn = self._idle.pop()
                if conn.alive():
                    return conn
                self._all.discard(conn)
                conn.close()
        return self._new()

    def put(self, conn: Conn) -> None:
        with self._lock:
            if not self._closed and conn.alive() and len(self._idle) < self.max_idle:
                self._idle.append(conn)
                return
            self._all.discard(conn)
        conn.close()

    def discard(self, conn: Conn) -> None:
        with self._lock:
            self._all.discard(conn)
        conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            conns, self._idle, self._all = list(self._all), [], set()
        for conn in conns:
            conn.close()

    def reopen(self) -> None:
        with self._lock:
            self._closed = False

    @property
    def idle(self) -> int:
        return len(self._idle)

    def _new(self) -> Conn:
        import paramiko

        transport, chain = self.connector.connect()
        timeout = max(self.connector.settings.timeout, SFTP_START_TIMEOUT)
        try:
            chan = transport.open_session(timeout=timeout)
            chan.settimeout(timeout)  # a login shell that never starts the server
            chan.invoke_subsystem("sftp")
            sftp = paramiko.SFTPClient(chan)
            # no reply within the idle timeout: the server stalled (TimeoutError, see SFTPStore)
            chan.settimeout(self.connector.settings.idle_timeout)
        except TimeoutError:
            transport.close()
            for t in chain:
                t.close()
            err = NetworkFailure(f"{self.connector.display}: the server did not start SFTP within "
                                 f"{timeout:.0f} s")
            err.transient = True
            raise err from None
        except (paramiko.SSHException, EOFError, OSError) as exc:
            transport.close()
            for t in chain:
                t.close()
            if not transport.is_active():
                err = NetworkFailure(f"{self.connector.display}: the connection closed while "
                                     "starting SFTP")
                err.transient = True
                raise err from None
            raise ConnectionFailed(f"{self.connector.display}: the server offers no SFTP subsystem "
                                   f"({' '.join(str(exc).split()) or type(exc).__name__})") from None
        with self._lock:
            self._serial += 1
            conn = Conn(transport, chain, sftp, self._serial, self.connector.settings.idle_timeout)
            self._all.add(conn)
            self.opened += 1
            closed = self._closed
        if closed:  # closed while we dialled: do not leak it
            self.discard(conn)
            raise ConnectionFailed(f"{self.connector.display}: store closed")
        self._apply_limits(conn)
        return conn

    def _apply_limits(self, conn: Conn) -> None:
        """Ask OpenSSH's limits@openssh.com once for the biggest read/write it takes."""
        if self._limits is None:
            limits = (DEFAULT_IO, DEFAULT_IO)
            pipe = Pipe(conn.sftp)
            try:
                t, msg = pipe.wait(pipe.send(CMD_EXTENDED, "limits@openssh.com"))
                if t == CMD_EXTENDED_REPLY:
                    msg.get_int64()  # max packet length
                    max_read, max_write = msg.get_int64(), msg.get_int64()
                    limits = (min(max_read or DEFAULT_IO, MAX_IO), min(max_write or DEFAULT_IO, MAX_IO))
            except Exception as exc:  # noqa: BLE001 - a server without it gets the safe size
                log.debug("limits@openssh.com: %s", exc)
            self._limits = (max(limits[0], DEFAULT_IO), max(limits[1], DEFAULT_IO))
        conn.io_read, conn.io_write = self._limits


# ---------------------------------------------------------------------------
# exec channels


def drain_stderr(chan: Any, into: bytearray, limit: int = 1 << 16) -> None:
    while chan.recv_stderr_ready():
        chunk = chan.recv_stderr(1 << 16)
        if not chunk:
            return
        if len(into) < limit:
            into += chunk[: limit - len(into)]


def exit_status(chan: Any, conn: Conn, timeout: float = 60.0) -> int | None:
    """The remote command's exit status, or None when the connection died first."""
    deadline = time.monotonic() + timeout
    while not chan.exit_status_ready():
        if not conn.alive() or time.monotonic() > deadline:
            return None
        chan.status_event.wait(0.5)
    return chan.recv_exit_status()


def open_exec(conn: Conn, script: str, *, stdin: bool = False) -> Any:
    """A channel running ``sh -c script`` (stdin closed unless ``stdin``), or None if the
    server refuses exec.  Reads on it time out every second (check the connection then)."""
    import paramiko

    chan = conn.transport.open_session(timeout=conn.idle_timeout)
    try:
        chan.exec_command("sh -c " + shlex.quote(script))
        if not stdin:
            chan.shutdown_write()
        chan.settimeout(1.0)
    except paramiko.SSHException:
        chan.close()
        if not conn.alive():
            raise
        return None
    return chan


def read_to_eof(chan: Any, conn: Conn, err: bytearray, what: str, out: bytearray | None = None,
                limit: int = 1 << 20) -> int | None:
    """Read a channel to EOF (stdout kept in ``out`` up to ``limit``, stderr in ``err``)
    and return its exit status: None when the connection died before telling it."""
    quiet = Quiet(conn)
    while True:
        try:
            data = chan.recv(1 << 16)
        except TimeoutError:
            drain_stderr(chan, err)
            if not conn.alive():
                raise ConnectionLost(f"connection lost while {what}") from None
            quiet.check(what)
            continue
        quiet.heard()
        drain_stderr(chan, err)
        if not data:
            break
        if out is not None and len(out) < limit:
            out += data
    status = exit_status(chan, conn)
    drain_stderr(chan, err)
    return status


def run_exec(conn: Conn, script: str) -> tuple[int, bytes, bytes]:
    """Run a small shell script: (status, stdout, stderr); status -1 when it could not run."""
    chan = open_exec(conn, script)
    if chan is None:
        return -1, b"", b""
    try:
        out = bytearray()
        err = bytearray()
        status = read_to_eof(chan, conn, err, "running a remote command", out)
        if status is None:
            if not conn.alive():
                raise ConnectionLost("connection lost while running a remote command")
            status = -1
        return status, bytes(out), bytes(err)
    finally:
        chan.close()
