"""Sessions to an SMB server (smbprotocol), and its errors in the SyncTuiError family.

* **One session per thread**: smbclient keeps its connections in a cache dict; each
  thread that works for a store gets its own dict, so each worker has its own TCP
  connection, credits and session (no lock shared between workers).
* **Credentials**: ``password`` from fs_args (or the URL), else ``SYNCTUI_SMB_PASSWORD``,
  else none: smbprotocol's ``negotiate`` then uses a Kerberos ticket when this machine
  has one.  When that fails and a prompt callback is installed (the app), it asks once
  and the answer is kept in memory for the other threads.
* **Signing and encryption**: messages are signed (smbprotocol's default, and what
  Samba and current Windows insist on; ``require_signing: false`` signs only when the
  server requires it) and encrypted when the share or server requires it;
  ``encrypt: true`` refuses a session the server will not encrypt.
* **Errors**: NTSTATUS codes become a one-line StoreError a user can act on: a wrong
  password or an unknown share is a ConnectionFailed (exit 6), a missing file a
  MissingPathError, a dropped connection an SMBConnectionLost that the store's
  RetryPolicy retries on a fresh session.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from dataclasses import dataclass
from typing import Any

from synctui.errors import EXIT_BAD_INPUT, ConnectionFailed, MissingPathError, StoreError
from synctui.storage.deadline import timeout_option
from synctui.storage.options import SMBOptions
from synctui.storage.smb_url import split_share
from synctui.storage.url import Location

log = logging.getLogger("synctui.smb")

ENV_PASSWORD = "SYNCTUI_SMB_PASSWORD"


class SMBConnectionLost(StoreError):
    """The connection dropped during an operation: retried on a fresh session."""

    def __init__(self, message: str) -> None:
        super().__init__(message, transient=True)


class SMBAuthFailed(ConnectionFailed):
    """The server refused the user name or password (or there was none to give)."""


class SMBShareMissing(ConnectionFailed):
    """The server has no share of that name (or will not show it to this user)."""


class HostileNameError(StoreError):
    """The server listed a name no file of a project may have (``..``, a backslash, a
    Windows device name): the listing is refused rather than trusted."""

    exit_code = EXIT_BAD_INPUT


# -- names ------------------------------------------------------------------------------

#: Windows device names: no file may be called this, with or without an extension
_RESERVED = re.compile(r"(?i)^(CON|PRN|AUX|NUL|COM[0-9¹²³]|LPT[0-9¹²³]|CONIN\$|CONOUT\$)(\..*)?$")
_BAD_CHARS = re.compile(r'[\x00-\x1f\\/:*?"<>|]')


def name_problem(name: str) -> str | None:
    """Why ``name`` (one component, from the server or for it) is refused, or None."""
    if name in ("", ".", ".."):
        return "is not a file name"
    if _BAD_CHARS.search(name):
        return "holds a character SMB names cannot (\\ / : * ? \" < > | or a control character)"
    if _RESERVED.match(name.rstrip(" .")):
        return "is a reserved Windows device name"
    if name != name.rstrip(" ."):
        return "ends in a space or a dot, which Windows servers drop"
    return None


def check_listed_name(name: str, folder: str, display: str) -> None:
    problem = name_problem(name)
    if problem is not None:
        where = f"{folder}/" if folder else ""
        raise HostileNameError(f"{display}: the server listed {where}{name!r}, which {problem}; "
                               "refusing the listing (rename it on the server)")


def check_written_path(rel: str) -> None:
    for part in rel.split("/"):
        problem = name_problem(part)
        if problem is not None:
            raise HostileNameError(f"cannot write {rel} to an SMB share: {part!r} {problem}")


# -- settings ---------------------------------------------------------------------------

@dataclass(frozen=True)
class SMBSettings:
    host: str
    port: int
    share: str
    root: str  # inside the share, "/"-separated, "" for the share itself
    username: str | None
    password: str | None
    encrypt: bool | None
    require_signing: bool
    auth_protocol: str
    timeout: float

    @property
    def target(self) -> str:
        user = f"{self.username}@" if self.username else ""
        return f"{user}{self.host}:{self.port}"

    def unc(self, rel: str = "") -> str:
        """``\\\\host\\share\\root\\rel`` for smbclient."""
        parts = [p for p in (self.root + "/" + rel).split("/") if p]
        return "\\\\" + "\\".join([self.host, self.share, *parts])


def settings_for(location: Location, opts: SMBOptions) -> SMBSettings:
    share, root = split_share(location.path)
    password = opts.password if opts.password is not None else os.environ.get(ENV_PASSWORD) or None
    return SMBSettings(host=location.host or opts.host or "", port=location.port or opts.port or 445,
                       share=share, root=root, username=location.username or opts.username,
                       password=password, encrypt=opts.encrypt, require_signing=opts.require_signing,
                       auth_protocol=opts.auth_protocol, timeout=timeout_option(opts.timeout))


# -- errors -----------------------------------------------------------------------------

def _status_names() -> dict[int, str]:
    from smbprotocol.header import NtStatus

    return {v: k for k, v in vars(NtStatus).items() if k.startswith("STATUS_")}


_WORDS = {
    "STATUS_ACCESS_DENIED": "permission denied",
    "STATUS_DISK_FULL": "no space left on the share",
    "STATUS_QUOTA_EXCEEDED": "over the share's quota",
    "STATUS_SHARING_VIOLATION": "another program has it open",
    "STATUS_FILE_IS_A_DIRECTORY": "it is a folder",
    "STATUS_NOT_A_DIRECTORY": "a part of the path is a file, not a folder",
    "STATUS_DIRECTORY_NOT_EMPTY": "the folder is not empty",
    "STATUS_OBJECT_NAME_COLLISION": "it already exists",
    "STATUS_OBJECT_NAME_INVALID": "the server refuses the name",
    "STATUS_MEDIA_WRITE_PROTECTED": "the share is read-only",
    "STATUS_CANNOT_DELETE": "the server will not delete it",
}
_MISSING = {"STATUS_OBJECT_NAME_NOT_FOUND", "STATUS_OBJECT_PATH_NOT_FOUND", "STATUS_NOT_FOUND",
            "STATUS_NO_SUCH_FILE", "STATUS_DELETE_PENDING"}
_AUTH = {"STATUS_LOGON_FAILURE", "STATUS_ACCOUNT_DISABLED", "STATUS_ACCOUNT_LOCKED_OUT",
         "STATUS_PASSWORD_EXPIRED", "STATUS_ACCOUNT_RESTRICTION", "STATUS_WRONG_PASSWORD",
         "STATUS_PASSWORD_MUST_CHANGE", "STATUS_NO_SUCH_USER", "STATUS_ACCOUNT_EXPIRED"}
#: the session or connection is gone: a fresh one may do it
_LOST = {"STATUS_USER_SESSION_DELETED", "STATUS_NETWORK_SESSION_EXPIRED", "STATUS_NETWORK_NAME_DELETED",
         "STATUS_CONNECTION_RESET", "STATUS_CONNECTION_DISCONNECTED", "STATUS_CONNECTION_ABORTED",
         "STATUS_PIPE_BROKEN", "STATUS_INSUFF_SERVER_RESOURCES"}


def status_of(exc: BaseException) -> str | None:
    """The NTSTATUS name of an smbprotocol error (``STATUS_...``), or None."""
    from smbprotocol.exceptions import SMBOSError, SMBResponseException

    code = exc.ntstatus if isinstance(exc, SMBOSError) else \
        exc.status if isinstance(exc, SMBResponseException) else None
    if code is None:
        return None
    return _status_names().get(code, f"0x{code:08x}")


def is_missing(exc: BaseException) -> bool:
    return status_of(exc) in _MISSING


def is_collision(exc: BaseException) -> bool:
    return status_of(exc) == "STATUS_OBJECT_NAME_COLLISION"


def is_lost(exc: BaseException) -> bool:
    """A connection-level failure (the transport, not the server's answer about a file)."""
    from smbprotocol.exceptions import SMBConnectionClosed

    status = status_of(exc)
    if status is not None:
        return status in _LOST
    return isinstance(exc, (SMBConnectionClosed, ConnectionError, EOFError, BrokenPipeError)) or (
        isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError))


def store_error(exc: BaseException, action: str, what: str, display: str) -> StoreError:
    """The one-line StoreError for an smbprotocol failure while doing ``action`` on ``what``."""
    if isinstance(exc, StoreError):
        return exc
    status = status_of(exc)
    if status in _MISSING:
        return MissingPathError(f"cannot {action} {what}: it does not exist")
    if status in _AUTH:
        return SMBAuthFailed(f"{display}: the server refused the login ({status})")
    if status == "STATUS_BAD_NETWORK_NAME":
        return SMBShareMissing(f"{display}: the server has no share of that name")
    if is_lost(exc):
        return SMBConnectionLost(f"{display}: connection lost while trying to {action} {what or '/'}"
                                 f" ({_reason(exc)}); it will be re-established")
    if status is not None:
        return StoreError(f"cannot {action} {what or '/'}: {_WORDS.get(status, status)}")
    return StoreError(f"cannot {action} {what or '/'}: {_reason(exc)}")


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]


# -- sessions ---------------------------------------------------------------------------

class Sessions:
    """Each thread's smbclient connection cache (one Connection + Session + tree each)."""

    def __init__(self, settings: SMBSettings, display: str, prompt: Any = None) -> None:
        self.settings = settings
        self.display = display
        self._prompt = prompt
        self._password = settings.password
        self._local = threading.local()
        self._caches: list[tuple[threading.Thread, dict[str, Any]]] = []
        self._lock = threading.Lock()
        self._auth_lock = threading.Lock()
        self.opened = 0

    def prompt(self) -> Any:
        if self._prompt is not None:
            return self._prompt
        from synctui.storage.ssh_connect import get_default_prompter

        return get_default_prompter()

    def kwargs(self) -> dict[str, Any]:
        """The smbclient keyword arguments for this thread, its session made on first use."""
        cache = getattr(self._local, "cache", None)
        if cache and not _standing(cache):
            self.drop_current()  # it died between calls: dial our own, never smbclient's
            cache = None
        if cache is None or not cache:
            self._prune()
            cache = self._local.cache = {}
            self._connect(cache)
            with self._lock:
                self._caches.append((threading.current_thread(), cache))
        return self._kw(cache)

    @staticmethod
    def usable(kw: dict[str, Any]) -> bool:
        """Whether the connection of ``kw`` still stands.  A call on a dead one would have
        smbclient dial a replacement itself, with its one client GUID for every
        connection (Samba takes those for channels of one client)."""
        return _standing(kw["connection_cache"])

    def _kw(self, cache: dict[str, Any]) -> dict[str, Any]:
        s = self.settings
        return {"username": s.username, "password": self._password, "port": s.port,
                "encrypt": s.encrypt, "connection_timeout": s.timeout, "connection_cache": cache,
                "auth_protocol": s.auth_protocol, "require_signing": s.require_signing}

    def _prune(self) -> None:
        """Hang up the sessions of threads that ended (an engine run's workers)."""
        with self._lock:
            dead = [c for t, c in self._caches if not t.is_alive()]
            self._caches = [(t, c) for t, c in self._caches if t.is_alive()]
        for cache in dead:
            self._drop(cache, polite=True)

    def _connect(self, cache: dict[str, Any]) -> None:
        try:
            self._register(cache)
        except SMBAuthFailed:
            if self._password is not None or self.prompt() is None:
                raise
            with self._auth_lock:
                if self._password is None:
                    self._password = self._ask()
            self._register(cache)
        self.opened += 1

    def _register(self, cache: dict[str, Any]) -> None:
        """A new connection and session in ``cache``, where smbclient's calls find them.

        Each connection has its own client GUID (smbclient's one GUID for all would make
        Samba treat them as channels of one client), and the session setup runs under a
        watchdog: smbprotocol waits for its answers without a deadline."""
        import uuid

        from smbprotocol.connection import Connection
        from smbprotocol.session import Session

        s = self.settings
        conn = Connection(uuid.uuid4(), s.host, s.port, require_signing=s.require_signing)
        watchdog = threading.Timer(s.timeout, self._hang_up, (conn,))
        watchdog.daemon = True
        watchdog.start()
        try:
            conn.connect(timeout=s.timeout)
            session = Session(conn, username=s.username, password=self._password,
                              require_encryption=s.encrypt is True, auth_protocol=s.auth_protocol)
            session.connect()
            self._tree(session)
        except SMBShareMissing:
            self._hang_up(conn)
            raise
        except Exception as exc:  # noqa: BLE001 - every failure to connect becomes one line
            timed_out = not watchdog.is_alive()
            self._hang_up(conn)
            raise self._connect_error(exc, timed_out=timed_out) from exc
        finally:
            watchdog.cancel()
        # smbprotocol waits this long for a silent server before it sends an echo, and as
        # long again for the echo: then the connection is closed (a stalled server ends)
        conn._receive_timeout = max(1, int(s.timeout / 2))
        if s.encrypt and not session.encrypt_data:
            self._hang_up(conn)
            raise ConnectionFailed(f"{self.display}: encryption is required (fs_args encrypt) and "
                                   "the server did not agree to it")
        cache[f"{s.host.lower()}:{s.port}"] = conn

    def _tree(self, session: Any) -> None:
        """Connect the share now, so an unknown one is said as such (smbclient would try a
        DFS referral and report a missing path)."""
        from smbprotocol.exceptions import BadNetworkName
        from smbprotocol.tree import TreeConnect

        s = self.settings
        tree = TreeConnect(session, rf"\\{s.host}\{s.share}")
        try:
            tree.connect()
        except BadNetworkName:
            raise SMBShareMissing(f"{self.display}: the server has no share named {s.share!r}") from None

    @staticmethod
    def _hang_up(conn: Any) -> None:
        try:
            conn.disconnect(close=False)
        except Exception:  # noqa: BLE001 - it is going anyway
            pass

    def _connect_error(self, exc: BaseException, *, timed_out: bool = False) -> ConnectionFailed:
        from smbprotocol.exceptions import SMBAuthenticationError

        s = self.settings
        status = status_of(exc)
        if status in _AUTH or isinstance(exc, SMBAuthenticationError) or "SpnegoError" in type(exc).__name__ \
                or type(exc).__module__.startswith("spnego"):
            how = "wrong user name or password" if self._password is not None else \
                f"no password (set password in fs_args or {ENV_PASSWORD}, or get a Kerberos ticket)"
            return SMBAuthFailed(f"{self.display}: SMB login as {s.username or '(no user)'} failed: {how}")
        if isinstance(exc, TimeoutError) or timed_out:
            return NetworkDown(f"{self.display}: {s.host}:{s.port} did not answer within "
                                    f"{s.timeout:g} s")
        from smbprotocol.exceptions import SMBConnectionClosed

        if isinstance(exc, SMBConnectionClosed):  # dropped while connecting: worth another try
            return NetworkDown(f"{self.display}: the connection to {s.host}:{s.port} closed while "
                               "opening a session")
        if isinstance(exc, OSError) and status is None:
            err = NetworkDown(f"{self.display}: cannot reach {s.host}:{s.port}: {exc.strerror or _reason(exc)}")
            return err
        return ConnectionFailed(f"{self.display}: cannot open an SMB session to {s.target}: "
                                f"{status or _reason(exc)}")

    def _ask(self) -> str:
        from synctui.storage.ssh_connect import PromptRequest

        prompt = self.prompt()
        answer = prompt(PromptRequest("password", self.settings.target,
                                      f"SMB password for {self.settings.target}"))
        if not isinstance(answer, str) or not answer:
            raise SMBAuthFailed(f"{self.display}: no password given")
        return answer

    def drop_current(self) -> None:
        """This thread's connection failed: hang it up, the next call dials afresh."""
        cache = getattr(self._local, "cache", None)
        if cache:
            self._drop(cache)
            self._local.cache = None

    @staticmethod
    def _drop(cache: dict[str, Any], *, polite: bool = False) -> None:
        for key in list(cache):
            conn = cache.pop(key, None)
            if conn is None:
                continue
            try:
                conn.disconnect(close=polite, timeout=2)
            except Exception:  # noqa: BLE001 - it is going anyway
                pass

    def close_all(self, *, polite: bool = True) -> None:
        """Hang up every thread's connection (in use ones too: their waits end)."""
        with self._lock:
            caches, self._caches = [c for _, c in self._caches], []
        for cache in caches:
            self._drop(cache, polite=polite)


def _standing(cache: dict[str, Any]) -> bool:
    """Whether every smbprotocol Connection of a cache still has its socket and its
    receiver thread."""
    return all(c._t_exc is None and c.transport.connected for c in cache.values())


class NetworkDown(ConnectionFailed):
    """The server could not be reached (a network failure: worth another try)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.transient = True
