"""What earlier syncs did: the manifest of written files and the history.

One SQLite database in synctui's state folder (``storage/dirs.py`` decides where).
Per (source, target) pair it keeps, for every target file synctui wrote, the
source's size/mtime and the target's size/mtime/etag right after the write.  That is what tells "the target changed since we wrote
it" (a conflict) from "the source moved on" (an update), and what makes
incremental sync work on stores that cannot set mtimes.

Records are written in batches; a crash may lose the last batch, never data:
the next run's quick check recovers.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from synctui.storage.base import FileInfo
from synctui.sync.plan import Act, Baseline, EntityPlan, FileAction

SCHEMA = """
CREATE TABLE IF NOT EXISTS pairs (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    target TEXT NOT NULL,
    UNIQUE (source, target)
);
CREATE TABLE IF NOT EXISTS manifest (
    pair_id INTEGER NOT NULL,
    path TEXT NOT NULL,
    src_size INTEGER NOT NULL,
    src_mtime_ns INTEGER NOT NULL,
    src_hash TEXT,
    dst_size INTEGER NOT NULL,
    dst_mtime_ns INTEGER,
    dst_etag TEXT,
    synced_at REAL NOT NULL,
    PRIMARY KEY (pair_id, path)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS history (
    id INTEGER PRIMARY KEY,
    pair_id INTEGER NOT NULL,
    sync_id TEXT NOT NULL UNIQUE,
    started REAL NOT NULL,
    ended REAL,
    mode TEXT NOT NULL,
    checked INTEGER DEFAULT 0,
    created INTEGER DEFAULT 0,
    updated INTEGER DEFAULT 0,
    skipped INTEGER DEFAULT 0,
    deleted INTEGER DEFAULT 0,
    conflicts INTEGER DEFAULT 0,
    bytes INTEGER DEFAULT 0,
    errors INTEGER DEFAULT 0,
    status TEXT NOT NULL,
    note TEXT
);
"""
#: columns added since the first schema: (name, declaration), added to older databases on open
ADDED_COLUMNS = {"history": [("note", "TEXT")]}


def default_db_path() -> str:
    from synctui.storage.dirs import state_dir

    return os.path.join(state_dir(), "state.db")


@dataclass
class HistoryRow:
    source: str
    target: str
    sync_id: str
    started: float
    ended: float | None
    mode: str
    checked: int
    created: int
    updated: int
    skipped: int
    deleted: int
    conflicts: int
    bytes: int
    errors: int
    status: str
    #: what happened beyond the counts: a lock broken on the way in, pruned entities destroyed
    note: str | None = None


class StateDB:
    """Thread-safe wrapper around one SQLite connection."""

    def __init__(self, path: str | None = None, *, commit_every: int = 500) -> None:
        self.path = path or default_db_path()
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(SCHEMA)
        self._add_columns()
        self._lock = threading.Lock()
        self.commit_every = max(1, commit_every)
        self._pending: list[tuple] = []
        self._pending_deletes: list[tuple] = []

    def _add_columns(self) -> None:
        for table, columns in ADDED_COLUMNS.items():
            have = {row[1] for row in self._conn.execute(f"PRAGMA table_info({table})")}
            for name, decl in columns:
                if name not in have:
                    self._conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {decl}")
        self._conn.commit()

    def close(self) -> None:
        self.flush()
        self._conn.close()

    # -- pairs ---------------------------------------------------------------------
    def pair_id(self, source: str, target: str) -> int:
        with self._lock:
            cur = self._conn.execute("SELECT id FROM pairs WHERE source=? AND target=?", (source, target))
            row = cur.fetchone()
            if row:
                return row[0]
            cur = self._conn.execute("INSERT INTO pairs (source, target) VALUES (?, ?)", (source, target))
            self._conn.commit()
            return int(cur.lastrowid)  # type: ignore[arg-type]

    # -- manifest -------------------------------------------------------------------
    def baseline(self, pair_id: int) -> Manifest:
        return Manifest(self, pair_id)

    def record(self, pair_id: int, ent: EntityPlan, fa: FileAction, info: FileInfo | None) -> None:
        """Remember a file the engine wrote (or deleted); committed in batches."""
        with self._lock:
            if fa.action is Act.DELETE or info is None:
                self._pending_deletes.append((pair_id, fa.target_path))
            else:
                self._pending.append((pair_id, fa.target_path, fa.src_size or 0, fa.src_mtime_ns or 0,
                                      None, info.size, info.mtime_ns, info.etag, time.time()))
            if len(self._pending) + len(self._pending_deletes) >= self.commit_every:
                self._flush_locked()

    def adopt(self, pair_id: int, files: list[tuple[str, FileInfo, FileInfo]]) -> None:
        """Record target files the planner found identical by content (their record was lost)."""
        with self._lock:
            self._pending.extend((pair_id, path, src.size, src.mtime_ns, None, dst.size, dst.mtime_ns,
                                  dst.etag, time.time()) for path, src, dst in files)
            self._flush_locked()

    def flush(self) -> None:
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        if self._pending:
            self._conn.executemany(
                "INSERT OR REPLACE INTO manifest VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", self._pending)
        if self._pending_deletes:
            self._conn.executemany("DELETE FROM manifest WHERE pair_id=? AND path=?", self._pending_deletes)
        self._conn.commit()
        self._pending.clear()
        self._pending_deletes.clear()

    def _lookup(self, pair_id: int, path: str) -> Baseline | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT src_size, src_mtime_ns, dst_size, dst_mtime_ns, dst_etag, src_hash "
                "FROM manifest WHERE pair_id=? AND path=?", (pair_id, path)).fetchone()
        return Baseline(*row) if row else None

    def written(self, pair_id: int, paths: list[str]) -> dict[str, tuple[Baseline, float]]:
        """What synctui last wrote at these target paths, and when (epoch seconds)."""
        out: dict[str, tuple[Baseline, float]] = {}
        with self._lock:
            for path in paths:
                row = self._conn.execute(
                    "SELECT src_size, src_mtime_ns, dst_size, dst_mtime_ns, dst_etag, src_hash, synced_at "
                    "FROM manifest WHERE pair_id=? AND path=?", (pair_id, path)).fetchone()
                if row:
                    out[path] = (Baseline(*row[:6]), row[6])
        return out

    def _load_all(self, pair_id: int) -> dict[str, Baseline]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT path, src_size, src_mtime_ns, dst_size, dst_mtime_ns, dst_etag, src_hash "
                "FROM manifest WHERE pair_id=?", (pair_id,)).fetchall()
        return {r[0]: Baseline(*r[1:]) for r in rows}

    def forget(self, pair_id: int) -> None:
        with self._lock:
            self._conn.execute("DELETE FROM manifest WHERE pair_id=?", (pair_id,))
            self._conn.commit()

    # -- history -------------------------------------------------------------------
    def died_running(self, pair_id: int) -> bool:
        """Is a run of this pair still marked running?  Asked under the target's write lock
        (so that run is dead), before ``start_sync`` marks it interrupted: the records of
        its last files may be lost, and the next plan reconciles them."""
        with self._lock:
            row = self._conn.execute("SELECT 1 FROM history WHERE pair_id=? AND status='running' LIMIT 1",
                                     (pair_id,)).fetchone()
        return row is not None

    def start_sync(self, pair_id: int, sync_id: str, mode: str, *, sole_writer: bool = False,
                   note: str | None = None) -> None:
        """Open a history row.  ``sole_writer``: we hold the target's write lock, so any
        other run of this pair still marked running died (SIGKILL, power loss): say so.
        ``note`` is kept even if this run dies too (``finish_sync`` writes the final one)."""
        with self._lock:
            if sole_writer:
                self._conn.execute("UPDATE history SET status='interrupted' "
                                   "WHERE pair_id=? AND status='running' AND sync_id!=?", (pair_id, sync_id))
            self._conn.execute(
                "INSERT OR REPLACE INTO history (pair_id, sync_id, started, mode, status, note) "
                "VALUES (?, ?, ?, ?, ?, ?)", (pair_id, sync_id, time.time(), mode, "running", note))
            self._conn.commit()

    def finish_sync(self, sync_id: str, summary) -> None:
        self.flush()
        with self._lock:
            self._conn.execute(
                "UPDATE history SET ended=?, checked=?, created=?, updated=?, skipped=?, deleted=?, "
                "conflicts=?, bytes=?, errors=?, status=?, note=? WHERE sync_id=?",
                (time.time(), summary.checked, summary.created, summary.updated, summary.skipped,
                 summary.deleted, summary.conflicts, summary.bytes, len(summary.errors),
                 summary.status, "; ".join(summary.notes) or None, sync_id))
            self._conn.commit()

    def history(self, source: str | None = None, target: str | None = None,
                limit: int = 100) -> list[HistoryRow]:
        sql = ("SELECT p.source, p.target, h.sync_id, h.started, h.ended, h.mode, h.checked, h.created, "
               "h.updated, h.skipped, h.deleted, h.conflicts, h.bytes, h.errors, h.status, h.note "
               "FROM history h JOIN pairs p ON p.id = h.pair_id")
        where, params = [], []
        if source:
            where.append("p.source LIKE ?")
            params.append(f"%{source}%")
        if target:
            where.append("p.target LIKE ?")
            params.append(f"%{target}%")
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY h.started DESC LIMIT ?"
        params.append(limit)
        with self._lock:
            rows = self._conn.execute(sql, params).fetchall()
        return [HistoryRow(*r) for r in rows]


class Manifest(Mapping[str, Baseline]):
    """The last sync's records for one pair, looked up lazily (``preload`` for
    stores without settable mtimes, where every file needs its record)."""

    def __init__(self, db: StateDB, pair_id: int) -> None:
        self.db = db
        self.pair_id = pair_id
        self._all: dict[str, Baseline] | None = None

    def preload(self) -> Manifest:
        self._all = self.db._load_all(self.pair_id)
        return self

    def __getitem__(self, path: str) -> Baseline:
        value = self.get(path)
        if value is None:
            raise KeyError(path)
        return value

    def get(self, path: str, default: Baseline | None = None) -> Baseline | None:  # type: ignore[override]
        if self._all is not None:
            return self._all.get(path, default)
        found = self.db._lookup(self.pair_id, path)
        return found if found is not None else default

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and self.get(path) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self._all if self._all is not None else self.db._load_all(self.pair_id))

    def __len__(self) -> int:
        return len(self._all if self._all is not None else self.db._load_all(self.pair_id))
