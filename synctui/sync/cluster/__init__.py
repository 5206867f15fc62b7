"""Executing one plan on a Dask cluster (issue #19; DESIGN.md section 10).

The coordinator (the process the user started) plans, holds the locks and their
heartbeat, the state database and the history; only the execution of the plan's
file actions goes to the workers:

* ``units``: the plan cut into units of whole entities, balanced by bytes and files;
* ``connect``: a ``distributed.Client`` from ``--cluster`` (``local:N``, a scheduler
  address, a scheduler file) or the caller's own;
* ``worker``: what runs on a worker: its own stores from the two configs, the
  engine on one unit, progress streamed back, cancel obeyed;
* ``coordinator``: the engine's execution seam, turning the stream back into the
  engine's events, progress and state records.

``distributed`` is an optional extra (``pip install "synctui[cluster]"``) and is
imported only when a cluster is used.
"""

from __future__ import annotations

from synctui.sync.cluster.connect import (
    ClusterConnection,
    checked_cluster,
    parse_cluster,
    require_distributed,
)

__all__ = ["ClusterConnection", "checked_cluster", "parse_cluster", "require_distributed"]
