"""Which cluster: ``--cluster`` parsed strictly, and the client that reaches it.

* ``local:N``: a ``distributed.LocalCluster`` of N worker processes on this machine,
  one task thread each (each unit runs the engine's own thread pool), started for the
  job and closed with it;
* ``tcp://HOST:PORT`` (also ``tls://``, ``ws://``, ``wss://``): an existing scheduler;
* a path ending in ``.json``: the scheduler file of ``dask scheduler --scheduler-file``;
* from Python, a ``distributed.Client`` the caller owns (we never close it).
"""

from __future__ import annotations

import importlib.util
import logging
import re
from dataclasses import dataclass
from typing import Any

from synctui.errors import ClusterError

log = logging.getLogger("synctui.cluster")

EXTRA_HINT = 'pip install "synctui[cluster]"'
SCHEMES = ("tcp", "tls", "ws", "wss")
MAX_LOCAL_WORKERS = 256
#: how long a scheduler has to answer, and its workers to show up (s)
CONNECT_TIMEOUT = 10.0
WORKERS_TIMEOUT = 60.0
_ADDRESS = re.compile(r"^(?P<scheme>[a-z]+)://(?P<host>\[[0-9a-fA-F:]+\]|[^:/\s]+):(?P<port>\d{1,5})/?$")


@dataclass(frozen=True)
class ClusterSpec:
    """One parsed ``--cluster`` value: ``kind`` is "local", "address" or "file"."""

    kind: str
    value: str
    workers: int = 0

    @property
    def display(self) -> str:
        return f"local:{self.workers}" if self.kind == "local" else self.value


def require_distributed() -> None:
    """Raise the one-line error naming the extra when ``distributed`` is not installed."""
    if importlib.util.find_spec("distributed") is None:
        raise ClusterError(f"--cluster needs Dask's distributed, which is not installed: {EXTRA_HINT}",
                           problem=ClusterError.MISSING_EXTRA)


def parse_cluster(spec: str) -> ClusterSpec:
    """``local:N``, ``SCHEME://HOST:PORT`` or ``PATH.json``; anything else is a ClusterError."""
    text = str(spec).strip()
    if text.startswith("local:"):
        n = text[len("local:"):]
        if not n.isdigit() or not 1 <= int(n) <= MAX_LOCAL_WORKERS:
            raise ClusterError(f"--cluster {text}: local:N needs N worker processes, 1 to "
                               f"{MAX_LOCAL_WORKERS}", problem=ClusterError.BAD_SPEC)
        return ClusterSpec("local", text, int(n))
    m = _ADDRESS.match(text)
    if m:
        if m["scheme"] not in SCHEMES or not 0 < int(m["port"]) < 65536:
            raise ClusterError(f"--cluster {text}: a scheduler address is {'/'.join(SCHEMES)}://HOST:PORT",
                               problem=ClusterError.BAD_SPEC)
        return ClusterSpec("address", text)
    if text.endswith(".json"):
        return ClusterSpec("file", text)
    raise ClusterError(f"--cluster {text or '(empty)'}: expected local:N, tcp://HOST:PORT or a "
                       "scheduler file (.json)", problem=ClusterError.BAD_SPEC)


def checked_cluster(spec: str) -> str:
    """``--cluster`` as given, once it parses and the extra is installed (else a ClusterError)."""
    parse_cluster(spec)
    require_distributed()
    return spec


class ClusterConnection:
    """A client for one job: made from a spec (we own and close it) or given (the caller's)."""

    def __init__(self, cluster: str | ClusterSpec | Any) -> None:
        self._owned = isinstance(cluster, (str, ClusterSpec))
        self.spec = (parse_cluster(cluster) if isinstance(cluster, str) else cluster) if self._owned else None
        self._client: Any = None if self._owned else cluster
        self._local: Any = None

    @property
    def display(self) -> str:
        if self.spec is not None:
            return self.spec.display
        return str(getattr(getattr(self._client, "scheduler", None), "address", "client"))

    def client(self) -> Any:
        """The client, connecting (or starting the local cluster) on first use."""
        if self._client is None:
            require_distributed()
            self._client = self._open()
        return self._client

    def _open(self) -> Any:
        assert self.spec is not None
        import distributed

        spec = self.spec
        try:
            if spec.kind == "local":
                self._local = distributed.LocalCluster(
                    n_workers=spec.workers, threads_per_worker=1, processes=True,
                    host="127.0.0.1", dashboard_address=":0", silence_logs=logging.ERROR)
                client = distributed.Client(self._local, timeout=CONNECT_TIMEOUT)
                from synctui.sync.cluster.plugins import IgnoreInterrupts

                client.register_plugin(IgnoreInterrupts())  # Ctrl-C is the coordinator's to handle
                client.wait_for_workers(spec.workers, timeout=WORKERS_TIMEOUT)
                return client
            if spec.kind == "file":
                return distributed.Client(scheduler_file=spec.value, timeout=CONNECT_TIMEOUT)
            return distributed.Client(spec.value, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            self.close()
            why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise ClusterError(f"cannot reach the Dask cluster {spec.display}: {why}",
                               problem=ClusterError.UNREACHABLE) from exc

    def slots(self) -> int:
        """Worker threads the scheduler has now (waiting a while for the first to join)."""
        client = self.client()
        try:
            client.wait_for_workers(1, timeout=WORKERS_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            raise ClusterError(f"no Dask worker joined {self.display} within {WORKERS_TIMEOUT:g} s",
                               problem=ClusterError.UNREACHABLE) from exc
        return sum(w.get("nthreads", 1) for w in client.scheduler_info()["workers"].values()) or 1

    def close(self) -> None:
        """Close what we started; a caller's client stays theirs."""
        if not self._owned:
            return
        client, local, self._client, self._local = self._client, self._local, None, None
        for thing in (client, local):
            if thing is not None:
                try:
                    thing.close()
                except Exception:  # noqa: BLE001 - closing is best effort
                    log.debug("closing %r failed", thing, exc_info=True)
