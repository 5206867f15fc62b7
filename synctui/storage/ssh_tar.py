"""Many small files through one ``tar`` stream over an SSH exec channel.

DESIGN.md §6: one tar stream moves 1,000 small files in well under a second
where one SFTP request per file takes a minute at 20 ms round-trip time.  These
helpers only move bytes; the SFTP store decides names (temp names, then
pipelined renames) so every file still appears atomically.

Both need a POSIX shell and a tar that knows ``-f -``, ``--no-same-owner`` and
(for reading) ``--null -T -``: GNU tar and bsdtar do.  Without them
:class:`NoShell` is raised before anything was sent or received, and the store
falls back to pipelined SFTP.
"""

from __future__ import annotations

import shlex
import tarfile
import time
from collections.abc import Iterable
from typing import Any

from synctui.storage.ssh_pool import (
    Conn,
    ConnectionLost,
    Quiet,
    drain_stderr,
    open_exec,
    read_to_eof,
    send_all,
)

MARK = b"SYNCTUI-TAR\n"
SEND_BUFFER = 1 << 20
#: the names sent to ``tar -c`` must fit the server's channel window (2 MB on OpenSSH),
#: or tar's output could block it before it has read them all
MAX_NAME_BYTES = 1 << 20
#: how long a login shell may take to start (slow ones on clusters take seconds)
MARK_TIMEOUT = 60.0


#: a ustar header's fields after the name, for a regular file owned by nobody in particular
_USTAR_MAGIC = b"ustar\x0000"
_OCTAL_11 = 8 ** 11


def member_header(name: str, size: int, mtime: int) -> bytes:
    """The tar header of one regular file (mode 0644).

    Built here for the usual member, an ASCII name of ustar's length, byte for byte
    what ``tarfile`` writes: ``TarInfo.tobuf`` costs about 70 µs a member, a third of
    a second of client CPU on 5,000 files (bench/ssh_sync.py).  Anything else (a long
    or non-ASCII name, 8 GiB or more, an mtime before 1970) goes through tarfile's
    PAX headers.
    """
    if name.isascii() and 0 <= size < _OCTAL_11 and 0 <= mtime < _OCTAL_11:
        raw = name.encode("ascii")
        prefix = b""
        if len(raw) > 100:
            parts = raw.split(b"/")
            for i in range(1, len(parts)):
                prefix, rest = b"/".join(parts[:i]), b"/".join(parts[i:])
                if len(prefix) <= 155 and len(rest) <= 100:
                    raw = rest
                    break
            else:
                raw = b""
        if raw:
            head = bytearray(512)
            head[0:len(raw)] = raw
            head[100:148] = b"0000644\x000000000\x000000000\x00%011o\x00%011o\x00" % (size, mtime)
            head[148:156] = b"        "
            head[156] = 0x30  # "0": a regular file
            head[257:265] = _USTAR_MAGIC
            head[345:345 + len(prefix)] = prefix
            head[148:155] = b"%06o\x00" % sum(head)
            return bytes(head)
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = mtime
    info.mode = 0o644
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


class NoShell(Exception):
    """The server ran no POSIX shell (or no tar): use SFTP instead."""


def _await_mark(chan: Any, conn: Conn, err: bytearray) -> bytes:
    """Read until the marker the script prints before tar starts; what follows it."""
    out = b""
    deadline = time.monotonic() + MARK_TIMEOUT
    while MARK not in out:
        try:
            data = chan.recv(1 << 16)
        except TimeoutError:
            drain_stderr(chan, err)
            if not conn.alive():
                raise ConnectionLost("connection lost while starting tar") from None
            if time.monotonic() > deadline:  # something that is not our shell is listening
                raise NoShell() from None
            continue
        if not data:
            raise NoShell()
        out += data
        if len(out) > 1 << 16 and MARK not in out:
            raise NoShell()
    return out.split(MARK, 1)[1]


def _finish(chan: Any, conn: Conn, err: bytearray) -> int:
    status = read_to_eof(chan, conn, err, "waiting for tar")
    if status is None:
        raise ConnectionLost("connection lost while waiting for tar")
    return status


#: one shell per connection, then a ``tar -x`` per batch: "<bytes>\n<folder>\n" then that
#: many bytes of archive (``head -c`` reads exactly those), then a status line back.  A
#: login shell can take a second to start (a .bashrc that sets up pyenv or modules): a
#: shell per batch paid it each time.  Needs GNU tar and GNU head (exact reads); other
#: servers print no LOOP line, and get a shell per batch as before.
LOOP_SCRIPT = (
    "printf 'SYNCTUI-TAR\\n'; "
    "if tar --version 2>/dev/null | grep -q GNU && head --version 2>/dev/null | grep -q GNU; then "
    "printf 'SYNCTUI-LOOP\\n'; "
    "while IFS= read -r n && IFS= read -r d; do "
    "case $n in ''|*[!0-9]*) exit 3;; esac; "
    "head -c \"$n\" | { mkdir -p -- \"$d\" && cd -- \"$d\" && "
    "exec tar -x -b 256 -B -f - --no-same-owner --no-same-permissions; }; "
    "printf 'SYNCTUI-DONE %s\\n' \"$?\"; "
    "done; fi")
LOOP = b"SYNCTUI-LOOP\n"
DONE = b"SYNCTUI-DONE "


class _NoLoop(Exception):
    """The server's shell cannot run the tar loop (no GNU tar or head)."""


class TarSink:
    """The long-lived tar loop on one connection (``Conn.tar_sink``); one batch at a time,
    as a Conn is used by one thread at a time.  Any failure closes it: the next batch
    starts a fresh one, so a half-read archive never meets the next batch's header."""

    def __init__(self, chan: Any) -> None:
        self.chan = chan

    @classmethod
    def start(cls, conn: Conn) -> TarSink:
        chan = open_exec(conn, LOOP_SCRIPT, stdin=True)
        if chan is None:
            raise NoShell()
        err = bytearray()
        try:
            rest = _await_mark(chan, conn, err)
            while b"\n" not in rest:
                try:
                    data = chan.recv(1 << 10)
                except TimeoutError:
                    if not conn.alive():
                        raise ConnectionLost("connection lost while starting tar") from None
                    continue
                if not data:
                    raise _NoLoop()
                rest += data
            if not rest.startswith(LOOP):
                raise _NoLoop()
        except BaseException:
            chan.close()
            raise
        return cls(chan)

    def extract(self, conn: Conn, root: str, members: list[tuple[str, bytes, int | None]]) -> tuple[int, str]:
        chan = self.chan
        err = bytearray()
        now = int(time.time())
        headers = []
        total = 2 * tarfile.BLOCKSIZE
        for name, data, mtime in members:
            head = member_header(name, len(data), mtime if mtime is not None else now)
            headers.append(head)
            total += len(head) + len(data) + (-len(data) % tarfile.BLOCKSIZE)
        buf = bytearray(f"{total}\n".encode() + root.encode("utf-8", "surrogateescape") + b"\n")
        try:
            for head, (_, data, _) in zip(headers, members, strict=True):
                buf += head
                buf += data
                buf += b"\0" * (-len(data) % tarfile.BLOCKSIZE)
                if len(buf) >= SEND_BUFFER:
                    if not _send(chan, conn, buf):
                        return -1, _stderr(chan, err)
                    drain_stderr(chan, err)
                    buf = bytearray()
            if not _send(chan, conn, buf + b"\0" * (2 * tarfile.BLOCKSIZE)):
                return -1, _stderr(chan, err)
            return self._status(conn, err), err.decode("utf-8", "replace")
        except BaseException:
            self.close()
            raise

    def _status(self, conn: Conn, err: bytearray) -> int:
        quiet = Quiet(conn)
        line = b""
        while b"\n" not in line:
            try:
                data = self.chan.recv(1 << 10)
            except TimeoutError:
                drain_stderr(self.chan, err)
                if not conn.alive():
                    raise ConnectionLost("connection lost while waiting for tar") from None
                quiet.check("waiting for tar")
                continue
            quiet.heard()
            if not data:
                return -1  # the loop ended: the caller drops it
            line += data
        drain_stderr(self.chan, err)
        if not line.startswith(DONE):
            return -1
        try:
            return int(line[len(DONE):].split(b"\n", 1)[0])
        except ValueError:
            return -1

    def close(self) -> None:
        try:
            self.chan.close()
        except Exception:  # noqa: BLE001 - closing a dead channel
            pass


def _stderr(chan: Any, err: bytearray) -> str:
    drain_stderr(chan, err)
    return err.decode("utf-8", "replace")


def tar_extract(conn: Conn, root: str, members: Iterable[tuple[str, bytes, int]]) -> tuple[int, str]:
    """Stream ``members`` (name relative to ``root``, data, mtime in seconds) into
    ``tar -x`` run in ``root`` (created if missing).  Returns tar's exit status and
    its stderr (0 and "" when every file was written with its mtime).

    Through the connection's tar loop (:class:`TarSink`) where the server can run one,
    else a shell of its own.
    """
    if conn.tar_sink is not False and "\n" not in root:
        batch = list(members)
        try:
            sink = conn.tar_sink
            if sink is None:
                sink = conn.tar_sink = TarSink.start(conn)
        except _NoLoop:
            conn.tar_sink = False
        else:
            status, err = sink.extract(conn, root, batch)
            if status != 0:  # whatever went wrong, the next batch starts a fresh loop
                conn.tar_sink = None
                sink.close()
            return status, err
        members = batch
    q = shlex.quote(root)
    # GNU tar reads 10 KiB records by default: 128 KiB ones (-b 256, -B for a pipe's short
    # reads) double its throughput; another tar gets the portable form
    script = (f"mkdir -p -- {q} && cd -- {q} && printf 'SYNCTUI-TAR\\n' && "
              "if tar --version 2>/dev/null | grep -q GNU; then "
              "exec tar -x -b 256 -B -f - --no-same-owner --no-same-permissions; "
              "else exec tar -x -f - --no-same-owner --no-same-permissions; fi")
    chan = open_exec(conn, script, stdin=True)
    if chan is None:
        raise NoShell()
    err = bytearray()
    try:
        _await_mark(chan, conn, err)
        buf = bytearray()
        broken = False
        now = int(time.time())
        for name, data, mtime in members:
            buf += member_header(name, len(data), mtime if mtime is not None else now)
            buf += data
            buf += b"\0" * (-len(data) % tarfile.BLOCKSIZE)
            if len(buf) >= SEND_BUFFER:
                if not _send(chan, conn, buf):
                    broken = True
                    break
                buf = bytearray()
        if not broken:
            _send(chan, conn, buf + b"\0" * (2 * tarfile.BLOCKSIZE))
        chan.shutdown_write()
        status = _finish(chan, conn, err)
    finally:
        chan.close()
    return status, err.decode("utf-8", "replace")


def _send(chan: Any, conn: Conn, data: bytes | bytearray) -> bool:
    """Send to tar's stdin; False when tar has gone (it failed: its status says why)."""
    try:
        send_all(chan, data, conn.idle_timeout)
    except (OSError, EOFError):
        if not conn.alive():
            raise ConnectionLost("connection lost while sending to tar") from None
        return False
    return True


def tar_create(conn: Conn, root: str, names: list[str]) -> tuple[dict[str, bytes], int, str]:
    """Read ``names`` (relative to ``root``) with ``tar -c``: the bytes of each file
    that was read, tar's exit status and its stderr.  Links are followed."""
    q = shlex.quote(root)
    script = (f"cd -- {q} && printf 'SYNCTUI-TAR\\n' && "
              "exec tar -c -h --no-recursion -f - --null -T -")
    chan = open_exec(conn, script, stdin=True)
    if chan is None:
        raise NoShell()
    err = bytearray()
    got: dict[str, bytes] = {}
    try:
        send_all(chan, b"".join(n.encode("utf-8", "surrogateescape") + b"\0" for n in names))
        chan.shutdown_write()
        head = _await_mark(chan, conn, err)
        reader = _ChannelReader(chan, conn, err, head)
        try:
            with tarfile.open(fileobj=reader, mode="r|", encoding="utf-8",
                              errors="surrogateescape") as tf:  # type: ignore[call-overload]
                for member in tf:
                    if member.isreg():
                        fh = tf.extractfile(member)
                        got[member.name] = fh.read() if fh is not None else b""
        except tarfile.ReadError as exc:
            if not conn.alive():
                raise ConnectionLost("connection lost while reading from tar") from None
            if got or reader.received:
                err += f"\nbroken tar stream: {exc}".encode()
        status = _finish(chan, conn, err)
    except OSError:
        if not conn.alive():
            raise ConnectionLost("connection lost while reading from tar") from None
        raise
    finally:
        chan.close()
    return got, status, err.decode("utf-8", "replace")


class _ChannelReader:
    """A minimal binary reader over an exec channel's stdout (for tarfile's stream mode)."""

    def __init__(self, chan: Any, conn: Conn, err: bytearray, head: bytes) -> None:
        self.chan, self.conn, self.err = chan, conn, err
        self.quiet = Quiet(conn)
        self.buf = bytearray(head)
        self.eof = False
        self.received = len(head)

    def read(self, n: int = -1) -> bytes:
        while not self.eof and (n < 0 or len(self.buf) < n):
            try:
                data = self.chan.recv(max(n, 1 << 16) if n > 0 else 1 << 16)
            except TimeoutError:
                drain_stderr(self.chan, self.err)
                if not self.conn.alive():
                    raise ConnectionLost("connection lost while reading from tar") from None
                self.quiet.check("reading from tar")
                continue
            self.quiet.heard()
            if not data:
                self.eof = True
                break
            self.received += len(data)
            self.buf += data
        if n < 0:
            n = len(self.buf)
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out
