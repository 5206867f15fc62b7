"""Reach an SSH server the way OpenSSH would, and never trust a host by accident.

* **Settings**: the root URL and copick's fs_args (``host``, ``port``, ``username``,
  ``password``, ``client_keys``, ``known_hosts``) plus ``~/.ssh/config`` for the host
  alias (HostName, User, Port, IdentityFile, ProxyJump, ProxyCommand,
  UserKnownHostsFile, HostKeyAlias, IdentitiesOnly, ConnectTimeout).
* **Host keys**: checked against ``~/.ssh/known_hosts`` and the config's known_hosts
  before any secret is sent.  An unknown host is refused with its key type and
  SHA256 fingerprint unless ``accept_new_host_key`` (fs_args), ``SYNCTUI_SSH_ACCEPT_NEW=1``,
  ``StrictHostKeyChecking accept-new`` or the prompt callback accepts it; accepted
  keys are appended to known_hosts.  A changed key is refused with no override.
* **Auth**: key files (encrypted ones need a passphrase), the ssh-agent, then a
  password (fs_args, ``SYNCTUI_SSH_PASSWORD``, the prompt callback or ``SSH_ASKPASS``),
  by ``password`` or ``keyboard-interactive``.  What worked is remembered in memory so
  the pool's further connections do not ask again.

Secrets never appear in messages or logs.  Every failure is a one-line
:class:`~synctui.errors.ConnectionFailed`.

The **prompt callback** (for the app) is ``prompt(request: PromptRequest) -> str | bool | None``;
see :class:`PromptRequest`.  It is called from a worker thread, one prompt at a time.
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import logging
import os
import shlex
import socket
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from synctui.errors import ConnectionFailed
from synctui.storage.deadline import DEFAULT_TIMEOUT as DEADLINE_DEFAULT
from synctui.storage.deadline import timeout_option
from synctui.storage.options import SFTPOptions, env_flag
from synctui.storage.url import Location

log = logging.getLogger("synctui.ssh")


def _defer_invoke() -> None:
    """Let paramiko.config's ``import invoke`` (wanted for ``Match exec`` only) load
    nothing until invoke is used: it costs about 60 ms, a tenth of a no-op sync over
    SSH.  The placeholder hands every attribute over to the real module, loaded then."""
    import importlib
    import importlib.util
    import sys
    import types

    if "invoke" in sys.modules or "paramiko" in sys.modules:
        return
    try:
        spec = importlib.util.find_spec("invoke")
    except (ImportError, ValueError):
        return
    if spec is None:
        return

    class Deferred(types.ModuleType):
        def __getattr__(self, name: str) -> object:
            if sys.modules.get("invoke") is self:
                del sys.modules["invoke"]
            return getattr(importlib.import_module("invoke"), name)

    placeholder = Deferred("invoke")
    placeholder.__spec__ = spec  # what ``import`` reads: it must not load the module
    sys.modules["invoke"] = placeholder


_defer_invoke()

ENV_PASSWORD = "SYNCTUI_SSH_PASSWORD"
ENV_PASSPHRASE = "SYNCTUI_SSH_PASSPHRASE"
ENV_ACCEPT_NEW = "SYNCTUI_SSH_ACCEPT_NEW"
ENV_SSH_CONFIG = "SYNCTUI_SSH_CONFIG"
DEFAULT_KEYS = ("id_ed25519", "id_ecdsa", "id_rsa")
DEFAULT_TIMEOUT = 15.0
IDLE_DEFAULT = DEADLINE_DEFAULT
#: ciphers we would rather use (AES-GCM needs no separate MAC: the fastest in paramiko)
FAST_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "aes128-ctr", "aes256-ctr")
_RSA_ALGS = ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa")


# ---------------------------------------------------------------------------
# prompts


@dataclass(frozen=True)
class PromptRequest:
    """What a prompt callback is asked.  Never contains a secret.

    ``kind`` and the answer the callback returns:

    * ``"password"``   -> the password (str), or None to give up;
    * ``"passphrase"`` -> the passphrase of ``key_path`` (str), or None to skip that key;
    * ``"interactive"`` -> the answer to one keyboard-interactive ``message`` (str) or None;
      ``echo`` says whether the answer may be shown while typed;
    * ``"host-key"``   -> True to trust this unknown host (it is then written to
      ``known_hosts_path``), False to refuse.  ``key_type`` and ``fingerprint``
      (``SHA256:...``) are what the user should compare.  A *changed* key is never
      asked about: it is refused outright.

    ``target`` is ``user@host:port`` and ``message`` a one-line question.
    """

    kind: str
    target: str
    message: str
    key_type: str | None = None
    fingerprint: str | None = None
    key_path: str | None = None
    known_hosts_path: str | None = None
    echo: bool = False


Prompter = Callable[[PromptRequest], "str | bool | None"]

_default_prompter: Prompter | None = None
ENCRYPTED = object()  # a key file that needs a passphrase
_prompt_lock = threading.Lock()


def set_default_prompter(prompter: Prompter | None) -> Prompter | None:
    """Install the process-wide prompt callback (the app does this); returns the old one.

    Stores opened without a ``prompt=`` option use it.  None means headless.
    """
    global _default_prompter
    old, _default_prompter = _default_prompter, prompter
    return old


def get_default_prompter() -> Prompter | None:
    return _default_prompter


# ---------------------------------------------------------------------------
# settings


@dataclass
class SSHSettings:
    """Everything needed to reach one host (one hop of a ProxyJump chain)."""

    alias: str
    hostname: str
    port: int
    username: str
    key_files: list[str] = field(default_factory=list)
    explicit_keys: bool = False
    allow_agent: bool = True
    known_hosts: list[str] = field(default_factory=list)
    known_hosts_write: str = ""
    accept_new: bool = False
    host_key_alias: str | None = None
    proxy_jump: list[str] = field(default_factory=list)
    proxy_command: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    #: how long an open connection may stay silent while we wait for it (deadline.py)
    idle_timeout: float = IDLE_DEFAULT
    password: str | None = field(default=None, repr=False)
    passphrase: str | None = field(default=None, repr=False)
    #: zlib on the wire (fs_args ``compression``, or ssh_config ``Compression yes``): pays on
    #: slow links with compressible data, costs CPU on fast ones
    compression: bool = False

    @property
    def target(self) -> str:
        port = f":{self.port}" if self.port != 22 else ""
        return f"{self.username}@{self.hostname}{port}"

    @property
    def host_key_name(self) -> str:
        """The name known_hosts files this host under (``[host]:port`` off port 22)."""
        name = self.host_key_alias or self.hostname
        return name if self.port == 22 else f"[{name}]:{self.port}"


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (str, os.PathLike)):
        return [os.fspath(value)]
    return [os.fspath(v) for v in value if isinstance(v, (str, os.PathLike))]


def _home_path(*parts: str) -> str:
    return os.path.join(os.path.expanduser("~"), *parts)


def load_ssh_config(path: str | None = None):
    """The user's ssh_config (empty when absent or unreadable)."""
    import paramiko

    path = path or os.environ.get(ENV_SSH_CONFIG) or _home_path(".ssh", "config")
    cfg = paramiko.SSHConfig()
    try:
        with open(os.path.expanduser(path), encoding="utf-8") as fh:
            cfg.parse(fh)
    except FileNotFoundError:
        pass
    except (OSError, UnicodeDecodeError, Exception) as exc:  # noqa: BLE001 - a broken config is not fatal
        log.warning("ignoring %s: %s", path, exc)
        return paramiko.SSHConfig()
    return cfg


def _lookup(cfg: Any, host: str) -> dict[str, Any]:
    try:
        return dict(cfg.lookup(host))
    except Exception as exc:  # noqa: BLE001 - Match exec without invoke, bad tokens ...
        log.warning("ignoring ~/.ssh/config for %s: %s", host, exc)
        return {"hostname": host}


def settings_for_host(host: str, *, port: int | None = None, username: str | None = None,
                      options: SFTPOptions | None = None, ssh_config: Any = None,
                      is_hop: bool = False) -> SSHSettings:
    """Resolve ``host`` (an alias or a name) with the root's options over ~/.ssh/config
    over defaults."""
    args = options or SFTPOptions()
    cfg = ssh_config if ssh_config is not None else load_ssh_config(args.ssh_config)
    opts = _lookup(cfg, host)
    hostname = str(opts.get("hostname") or host)
    if port is None:
        try:
            port = int(opts.get("port") or 22)
        except ValueError:
            port = 22
    user = username or opts.get("user") or _local_user()
    explicit = _as_list(args.client_keys) if not is_hop else []
    conf_keys = [os.path.expanduser(p) for p in _as_list(opts.get("identityfile"))]
    keys = explicit + [k for k in conf_keys if k not in explicit]
    identities_only = str(opts.get("identitiesonly", "no")).lower() == "yes"
    allow_agent = args.allow_agent and not (identities_only and keys)
    if not keys and args.look_for_keys:
        keys = [_home_path(".ssh", name) for name in DEFAULT_KEYS]
    kh_args = _as_list(args.known_hosts)
    user_kh = [os.path.expanduser(p) for p in str(opts.get("userknownhostsfile", "")).split()]
    user_kh = [p for p in user_kh if p and p != "/dev/null"] or [_home_path(".ssh", "known_hosts")]
    known = [os.path.expanduser(p) for p in kh_args] + user_kh
    write_to = os.path.expanduser(kh_args[0]) if kh_args else user_kh[0]
    accept_new = (args.accept_new_host_key or env_flag(ENV_ACCEPT_NEW)
                  or str(opts.get("stricthostkeychecking", "")).lower() == "accept-new")
    jump = str(args.proxy_jump or opts.get("proxyjump") or "") if not is_hop else ""
    hops = [] if jump.lower() in ("", "none") else [h.strip() for h in jump.split(",") if h.strip()]
    proxy_cmd = opts.get("proxycommand") if not hops and not is_hop else None
    if proxy_cmd and str(proxy_cmd).lower() == "none":
        proxy_cmd = None
    given = args.timeout if args.timeout is not None else opts.get("connecttimeout")
    # fs_args timeout bounds every wait; unset, connecting gets 15 s and silence 60 s
    timeout = timeout_option(given, f"{host}: timeout") if given is not None else DEFAULT_TIMEOUT
    idle = timeout if given is not None else IDLE_DEFAULT
    compression = args.compression if args.compression is not None else \
        str(opts.get("compression", "no")).lower() == "yes"
    return SSHSettings(
        alias=host, hostname=hostname, port=int(port), username=str(user), key_files=keys,
        explicit_keys=bool(explicit or conf_keys), allow_agent=allow_agent, known_hosts=known,
        known_hosts_write=write_to, accept_new=accept_new,
        host_key_alias=opts.get("hostkeyalias"), proxy_jump=hops,
        proxy_command=str(proxy_cmd) if proxy_cmd else None, timeout=timeout, idle_timeout=idle,
        password=None if is_hop else (args.password or None),
        passphrase=None if is_hop else (args.passphrase or None), compression=compression)


def settings_for_location(location: Location, options: SFTPOptions | None = None) -> SSHSettings:
    """The settings of an ``ssh://`` Location: URL and fs_args (``options``, built from
    them when not given) win over ~/.ssh/config."""
    args = options or SFTPOptions.build(location.fs_args)
    port: int | None = None
    try:
        port = urlsplit(location.original).port if location.original else None
    except ValueError:
        port = None
    if port is None and args.port:
        port = args.port
    if port is None and not location.original and location.port not in (None, 22):
        port = location.port
    return settings_for_host(str(location.host), port=port, username=location.username,
                             options=args)


def _hop_settings(spec: str, parent: SSHSettings, ssh_config: Any) -> SSHSettings:
    """One ProxyJump entry, ``[user@]host[:port]``, resolved through ssh_config."""
    parts = urlsplit("ssh://" + spec)
    host = parts.hostname or spec
    hop = settings_for_host(host, port=parts.port, username=parts.username,
                            ssh_config=ssh_config, is_hop=True)
    # the hop is checked against the same known_hosts and trust settings as the target,
    # and may use the target's keys too (after its own)
    keys = hop.key_files + [k for k in parent.key_files if k not in hop.key_files]
    return replace(hop, known_hosts=parent.known_hosts, known_hosts_write=parent.known_hosts_write,
                   accept_new=parent.accept_new, timeout=parent.timeout,
                   idle_timeout=parent.idle_timeout, key_files=keys)


def _local_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        return str(os.getuid())


# ---------------------------------------------------------------------------
# host keys


def fingerprint(key: Any) -> str:
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def _load_known_hosts(paths: list[str]) -> tuple[Any, set[bytes]]:
    """Entries of every readable known_hosts file (bad lines skipped) and revoked keys."""
    import paramiko
    from paramiko.hostkeys import HostKeyEntry

    keys = paramiko.HostKeys()
    revoked: set[bytes] = set()
    for path in paths:
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                lines = fh.readlines()
        except OSError:
            continue
        for line in lines:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("@"):
                marker, _, rest = line.partition(" ")
                if marker == "@revoked":
                    fields = rest.split()
                    if len(fields) >= 3:
                        try:
                            revoked.add(base64.b64decode(fields[2]))
                        except ValueError:
                            pass
                continue  # @cert-authority: not supported, ignored
            try:
                entry = HostKeyEntry.from_line(line)
            except Exception:  # noqa: BLE001 - a bad line never stops the others
                continue
            if entry is None:
                continue
            for name in entry.hostnames:
                keys.add(name, entry.key.get_name(), entry.key)
    return keys, revoked


def _append_known_host(path: str, name: str, key: Any) -> None:
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, mode=0o700, exist_ok=True)
    line = f"{name} {key.get_name()} {key.get_base64()}\n"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a+b") as fh:
        end = fh.seek(0, os.SEEK_END)
        if end > 0:
            fh.seek(end - 1)
            if fh.read(1) != b"\n":
                line = "\n" + line
        fh.write(line.encode())


# ---------------------------------------------------------------------------
# the connector


class Connector:
    """Opens authenticated transports to one location; shared by a store's pool."""

    def __init__(self, settings: SSHSettings, *, prompt: Prompter | None = None,
                 display: str | None = None) -> None:
        self.settings = settings
        self._prompt = prompt
        self.display = display or f"ssh://{settings.target}"
        self._lock = threading.Lock()
        self._connected_once = False
        self._ssh_config: Any = None
        # what worked, kept in memory only, so the pool's next connections do not ask again
        self._secrets: dict[tuple[str, str], str] = {}
        self._keys: dict[str, Any] = {}
        self._good: dict[str, tuple[str, Any]] = {}

    @property
    def prompt(self) -> Prompter | None:
        return self._prompt or _default_prompter

    # -- public -----------------------------------------------------------------
    def connect(self) -> tuple[Any, list[Any]]:
        """A new authenticated Transport, plus the jump transports it runs through.

        The first connection is made under a lock (it may prompt); later ones run in
        parallel and reuse what the first learnt.  Raises ConnectionFailed; once a
        connection has succeeded, network failures are marked transient (retryable).
        """
        if not self._connected_once:
            with self._lock:
                result = self._connect_chain()
                self._connected_once = True
                return result
        try:
            return self._connect_chain()
        except NetworkFailure as exc:
            exc.transient = True
            raise

    # -- chain ----------------------------------------------------------------------
    def _connect_chain(self) -> tuple[Any, list[Any]]:
        st = self.settings
        chain: list[Any] = []
        try:
            sock: Any = None
            if st.proxy_jump:
                if self._ssh_config is None:
                    self._ssh_config = load_ssh_config()
                hops = [_hop_settings(h, st, self._ssh_config) for h in st.proxy_jump]
                for i, hop in enumerate(hops):
                    t = self._open_transport(hop, sock)
                    chain.append(t)
                    nxt = hops[i + 1] if i + 1 < len(hops) else st
                    sock = self._jump_channel(t, hop, nxt)
            elif st.proxy_command:
                sock = self._proxy_command(st)
            transport = self._open_transport(st, sock)
            return transport, chain
        except BaseException:
            for t in chain:
                t.close()
            raise

    def _jump_channel(self, t: Any, hop: SSHSettings, nxt: SSHSettings) -> Any:
        import paramiko

        try:
            return t.open_channel("direct-tcpip", (nxt.hostname, nxt.port), ("127.0.0.1", 0),
                                  timeout=nxt.timeout)
        except (paramiko.SSHException, OSError) as exc:
            raise _net_fail(f"{self.display}: jump host {hop.target} cannot reach "
                            f"{nxt.hostname}:{nxt.port} ({_reason(exc)})") from None

    def _proxy_command(self, st: SSHSettings) -> Any:
        import paramiko

        cmd = st.proxy_command or ""
        cmd = cmd.replace("%h", shlex.quote(st.hostname)).replace("%p", str(st.port)) \
            .replace("%r", shlex.quote(st.username)).replace("%%", "%")
        try:
            return paramiko.ProxyCommand(cmd)
        except Exception as exc:  # noqa: BLE001
            raise _net_fail(f"{self.display}: ProxyCommand failed ({_reason(exc)})") from None

    # -- one hop ----------------------------------------------------------------------
    def _open_transport(self, st: SSHSettings, sock: Any) -> Any:
        import paramiko

        where = f"{self.display}" if st is self.settings else f"{self.display} (via {st.target})"
        if sock is None:
            sock = self._tcp(st, where)
        try:
            t = paramiko.Transport(sock, default_window_size=16 << 20,
                                   default_max_packet_size=1 << 18)
        except Exception as exc:  # noqa: BLE001
            _close_quietly(sock)
            raise _net_fail(f"{where}: cannot start SSH ({_reason(exc)})") from None
        # the banner, key exchange and login each end within the timeout (paramiko's own
        # defaults are 15 s, 15 s and 30 s, and an hour for a channel to open)
        t.banner_timeout = t.handshake_timeout = t.auth_timeout = st.timeout
        t.channel_timeout = st.idle_timeout
        t.use_compression(st.compression)
        try:
            self._prefer_algorithms(t, st)
            try:
                t.start_client(timeout=st.timeout)
            except (paramiko.SSHException, EOFError, OSError) as exc:
                raise _net_fail(f"{where}: SSH handshake with {st.hostname}:{st.port} failed "
                                f"({_reason(exc)})") from None
            self._check_host_key(st, t.get_remote_server_key(), where)
            self._authenticate(st, t, where)
            t.set_keepalive(30)
            return t
        except BaseException:
            t.close()
            raise

    def _tcp(self, st: SSHSettings, where: str) -> socket.socket:
        try:
            sock = socket.create_connection((st.hostname, st.port), timeout=st.timeout)
        except socket.gaierror:
            raise _net_fail(f"{where}: unknown host {st.hostname!r} (name does not resolve)") from None
        except ConnectionRefusedError:
            raise _net_fail(f"{where}: connection refused by {st.hostname}:{st.port} "
                            "(no SSH server listening there?)") from None
        except TimeoutError:
            raise _net_fail(f"{where}: {st.hostname}:{st.port} did not answer within "
                            f"{st.timeout:.0f} s") from None
        except OSError as exc:
            raise _net_fail(f"{where}: cannot reach {st.hostname}:{st.port} "
                            f"({exc.strerror or exc})") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def _prefer_algorithms(self, t: Any, st: SSHSettings) -> None:
        opts = t.get_security_options()
        ciphers = list(opts.ciphers)
        opts.ciphers = [c for c in FAST_CIPHERS if c in ciphers] + \
            [c for c in ciphers if c not in FAST_CIPHERS]
        # ask for a host key type we already know, as OpenSSH does, so a server with
        # several keys is not mistaken for a changed one
        known, _ = _load_known_hosts(st.known_hosts)
        entry = known.lookup(st.host_key_name)
        if entry:
            want: list[str] = []
            for ktype in entry.keys():
                want.extend(_RSA_ALGS if ktype == "ssh-rsa" else (ktype,))
            types = list(opts.key_types)
            first = [k for k in want if k in types]
            if first:
                opts.key_types = first + [k for k in types if k not in first]

    # -- host key ---------------------------------------------------------------------
    def _check_host_key(self, st: SSHSettings, key: Any, where: str) -> None:
        name = st.host_key_name
        ktype, fp = key.get_name(), fingerprint(key)
        known, revoked = _load_known_hosts(st.known_hosts)
        if key.asbytes() in revoked:
            raise ConnectionFailed(f"{where}: the host key of {name} ({ktype} {fp}) is marked "
                                   "@revoked in known_hosts: refusing to connect")
        entry = known.lookup(name)
        if entry:
            have = entry.get(ktype)
            if have is not None and have.asbytes() == key.asbytes():
                return
            if have is not None:
                raise ConnectionFailed(
                    f"{where}: HOST KEY CHANGED for {name}: the server now shows {ktype} {fp}, "
                    f"which is not the key in known_hosts; this may be an attack (or the server "
                    f"was reinstalled): refusing to connect. If you know the change is legitimate, "
                    f"remove the old entry with `ssh-keygen -R '{name}'`")
            raise ConnectionFailed(
                f"{where}: HOST KEY MISMATCH for {name}: known_hosts has "
                f"{', '.join(sorted(entry.keys()))} key(s) but the server offered {ktype} {fp}: "
                f"refusing to connect. If you know the change is legitimate, remove the old entry "
                f"with `ssh-keygen -R '{name}'`")
        if st.accept_new:
            self._trust(st, name, key, where)
            return
        prompt = self.prompt
        if prompt is not None:
            req = PromptRequest(
                "host-key", st.target,
                f"The authenticity of host {name} can't be established. {ktype} key fingerprint "
                f"is {fp}. Trust it and add it to {st.known_hosts_write}?",
                key_type=ktype, fingerprint=fp, known_hosts_path=st.known_hosts_write)
            if _ask(prompt, req) is True:
                self._trust(st, name, key, where)
                return
            raise ConnectionFailed(f"{where}: host key of {name} ({ktype} {fp}) not trusted")
        raise ConnectionFailed(
            f"{where}: unknown host {name}: its {ktype} key fingerprint is {fp}. Check it with the "
            f"server's admin, then trust it with accept_new_host_key: true in the config's "
            f"fs_args or SYNCTUI_SSH_ACCEPT_NEW=1 (it is then added to {st.known_hosts_write})")

    def _trust(self, st: SSHSettings, name: str, key: Any, where: str) -> None:
        try:
            _append_known_host(st.known_hosts_write, name, key)
        except OSError as exc:
            raise ConnectionFailed(f"{where}: cannot add {name} to {st.known_hosts_write}: "
                                   f"{exc.strerror or exc}") from None
        log.info("added %s %s %s to %s", name, key.get_name(), fingerprint(key), st.known_hosts_write)

    # -- authentication ---------------------------------------------------------------
    def _authenticate(self, st: SSHSettings, t: Any, where: str) -> None:
        import paramiko

        user = st.username
        try:
            t.auth_none(user)
            if t.is_authenticated():
                return
            allowed = ["publickey", "password", "keyboard-interactive"]
        except paramiko.BadAuthenticationType as exc:
            allowed = list(exc.allowed_types)
        except paramiko.AuthenticationException:
            allowed = ["publickey", "password", "keyboard-interactive"]
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise _net_fail(f"{where}: connection closed during authentication ({_reason(exc)})") from None
        tried: list[str] = []
        state = {"allowed": allowed}

        def attempt(label: str, fn: Callable[[], Any]) -> bool:
            if not t.is_active():
                return False
            try:
                remaining = fn()
            except paramiko.BadAuthenticationType as exc:
                state["allowed"] = list(exc.allowed_types)
                tried.append(label)
                return False
            except paramiko.AuthenticationException:
                tried.append(label)
                return False
            except (paramiko.SSHException, EOFError, OSError) as exc:
                log.debug("auth %s: %s", label, _reason(exc))
                tried.append(label)
                return False
            if t.is_authenticated():
                return True
            if remaining:  # partial success: another factor is required
                state["allowed"] = list(remaining)
            tried.append(label + " (accepted; more needed)")
            return False

        def try_key(label: str, key: Any) -> bool:
            if "publickey" not in state["allowed"]:
                return False
            if attempt(label, lambda: t.auth_publickey(user, key)):
                self._good[st.target] = ("key", key)
                return True
            return False

        encrypted_paths: list[str] = []
        good = self._good.get(st.target)
        if good is not None and good[0] == "key" and try_key("remembered key", good[1]):
            return
        if good is None or good[0] == "key":
            # plain keys, then the agent, then keys that need a passphrase: nobody is
            # asked for a passphrase when a key that needs none works
            encrypted = encrypted_paths
            for path in st.key_files:
                key = self._load_key(st, path, explicit=st.explicit_keys, decrypt=False)
                if key is ENCRYPTED:
                    encrypted.append(path)
                elif key is not None and try_key(f"key {_short(path)}", key):
                    return
            if st.allow_agent:
                for i, key in enumerate(_agent_keys()):
                    if try_key(f"agent key {i + 1}", key):
                        return
            for path in encrypted:
                key = self._load_key(st, path, explicit=st.explicit_keys)
                if key is not None and try_key(f"key {_short(path)}", key):
                    return
        if not t.is_active():
            raise ConnectionFailed(f"{where}: the server closed the connection during authentication "
                                   f"(too many failed attempts?) after trying {', '.join(tried) or 'nothing'}")
        if "password" in state["allowed"] or "keyboard-interactive" in state["allowed"]:
            if self._password_auth(st, t, where, state, tried, attempt):
                return
        methods = ",".join(state["allowed"]) or "none"
        hints = []
        locked = [_short(p) for p in st.key_files
                  if self._keys.get(os.path.expanduser(p), ENCRYPTED) is None
                  and os.path.exists(os.path.expanduser(p)) and p in encrypted_paths]
        if locked:
            hints.append(f"{ENV_PASSPHRASE} for the encrypted key {locked[0]}")
        if ("password" in state["allowed"] or "keyboard-interactive" in state["allowed"]) \
                and self._static_password(st) is None and self.prompt is None:
            hints.append(f"{ENV_PASSWORD} or an SSH_ASKPASS program")
        hint = f"; set {' or '.join(hints)}" if hints else ""
        raise ConnectionFailed(f"{where}: authentication failed for {user} (tried "
                               f"{', '.join(tried) or 'no method'}; the server accepts {methods}){hint}")

    def _password_auth(self, st: SSHSettings, t: Any, where: str, state: dict,
                       tried: list[str], attempt: Callable[[str, Callable[[], Any]], bool]) -> bool:
        user = st.username
        fixed = self._static_password(st)
        rounds = 1 if fixed is not None else 3
        for _round_no in range(rounds):
            password = fixed if fixed is not None else self._secrets.get(("password", st.target))
            if password is None:
                password = self._ask_secret("password", st, f"Password for {st.target}:")
                if password is None:
                    return False
            if "password" in state["allowed"]:
                if attempt("password", lambda pw=password: t.auth_password(user, pw, fallback=False)):
                    self._secrets[("password", st.target)] = password
                    self._good[st.target] = ("password", None)
                    return True
            elif "keyboard-interactive" in state["allowed"]:
                handler = self._interactive_handler(st, password)
                if attempt("keyboard-interactive", lambda h=handler: t.auth_interactive(user, h)):
                    self._secrets[("password", st.target)] = password
                    self._good[st.target] = ("password", None)
                    return True
            self._secrets.pop(("password", st.target), None)
            if not t.is_active():
                return False
        return False

    def _interactive_handler(self, st: SSHSettings, password: str) -> Callable[..., list[str]]:
        def handler(title: str, instructions: str, prompts: list[tuple[str, bool]]) -> list[str]:
            answers = []
            for text, echo in prompts:
                if "password" in text.lower() or (len(prompts) == 1 and not echo and self.prompt is None):
                    answers.append(password)
                    continue
                prompt = self.prompt
                answer = _ask(prompt, PromptRequest("interactive", st.target, text.strip(),
                                                    echo=bool(echo))) if prompt else None
                if answer is None:
                    raise _interactive_abort()
                answers.append(str(answer))
            return answers

        return handler

    def _static_password(self, st: SSHSettings) -> str | None:
        return st.password or os.environ.get(ENV_PASSWORD) or None

    def _ask_secret(self, kind: str, st: SSHSettings, message: str, key_path: str | None = None
                    ) -> str | None:
        prompt = self.prompt
        if prompt is not None:
            answer = _ask(prompt, PromptRequest(kind, st.target, message, key_path=key_path))
            return None if answer is None or answer is False else str(answer)
        return _askpass(message)

    def _load_key(self, st: SSHSettings, path: str, *, explicit: bool, decrypt: bool = True) -> Any:
        """The key in ``path``; None if unusable; ENCRYPTED if it needs a passphrase and
        ``decrypt`` is off (so plain keys and the agent are tried before anyone is asked)."""
        import paramiko

        path = os.path.expanduser(path)
        if path in self._keys:
            key = self._keys[path]
            if key is not ENCRYPTED or not decrypt:
                return key
        else:
            try:
                key = paramiko.PKey.from_path(path)
            except FileNotFoundError:
                if explicit:
                    log.warning("key file %s not found", path)
                key = None
            except TypeError as exc:  # encrypted, no passphrase given
                msg = str(exc).lower()
                key = ENCRYPTED if "password" in msg or "encrypted" in msg else None
            except Exception as exc:  # noqa: BLE001 - unsupported or broken key: try the next
                log.debug("cannot load key %s: %s", path, type(exc).__name__)
                key = None
            self._keys[path] = key
        if key is ENCRYPTED and decrypt:
            key = self._load_encrypted(st, path)
            self._keys[path] = key  # None: no passphrase for it this session
        return key

    def _load_encrypted(self, st: SSHSettings, path: str) -> Any:
        import paramiko

        fixed = st.passphrase or os.environ.get(ENV_PASSPHRASE)
        candidates: list[str | None] = [fixed] if fixed else []
        asks = 0 if fixed else 3
        while True:
            if candidates:
                phrase = candidates.pop()
            elif asks > 0:
                asks -= 1
                phrase = self._ask_secret("passphrase", st, f"Passphrase for key {_short(path)}:",
                                          key_path=path)
                if phrase is None:
                    return None
            else:
                if fixed:
                    log.warning("the passphrase for %s does not decrypt it", path)
                return None
            try:
                return paramiko.PKey.from_path(path, phrase.encode() if phrase else None)
            except (ValueError, TypeError, paramiko.SSHException):
                continue


# ---------------------------------------------------------------------------
# helpers


def _ask(prompt: Prompter, req: PromptRequest) -> Any:
    with _prompt_lock:
        try:
            return prompt(req)
        except Exception as exc:  # noqa: BLE001 - a broken callback must not leak a traceback
            log.warning("the %s prompt failed: %s", req.kind, type(exc).__name__)
            return None


def _askpass(message: str) -> str | None:
    program = os.environ.get("SSH_ASKPASS")
    if not program or os.environ.get("SSH_ASKPASS_REQUIRE", "").lower() == "never":
        return None
    try:
        with _prompt_lock:
            done = subprocess.run([program, message], stdin=subprocess.DEVNULL,
                                  capture_output=True, timeout=300, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("SSH_ASKPASS program %s failed: %s", program, type(exc).__name__)
        return None
    if done.returncode != 0:
        return None
    return done.stdout.decode("utf-8", "replace").rstrip("\r\n")


def _agent_keys() -> list[Any]:
    if not os.environ.get("SSH_AUTH_SOCK"):
        return []
    import paramiko

    try:
        return list(paramiko.Agent().get_keys())
    except Exception as exc:  # noqa: BLE001 - a dead agent is just no keys
        log.debug("ssh-agent unavailable: %s", exc)
        return []


def _interactive_abort() -> Exception:
    import paramiko

    return paramiko.AuthenticationException("no answer for a keyboard-interactive prompt")


def _short(path: str) -> str:
    home = os.path.expanduser("~")
    return "~" + path[len(home):] if home and path.startswith(home + os.sep) else path


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]


class NetworkFailure(ConnectionFailed):
    """The host could not be reached or the connection broke (not auth, not trust)."""


def _net_fail(message: str) -> ConnectionFailed:
    return NetworkFailure(message)


def _close_quietly(sock: Any) -> None:
    try:
        sock.close()
    except Exception:  # noqa: BLE001
        pass
