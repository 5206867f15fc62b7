"""Remembered listings of remote subtrees, keyed by a digest the server computes.

A remote store that can summarise a subtree's listing on the server (SSH: ``find
-printf ... | md5sum`` per run folder) asks only for the digests, and fetches the
full listing only of the subtrees whose digest changed.  The digest covers every
name, type, size and mtime below the subtree, so a hit is exactly the listing the
server would have sent: skipping it loses nothing.

One SQLite file in synctui's cache folder (``storage/dirs.py``); losing it only
costs one full listing.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import zlib

log = logging.getLogger("synctui.listing_cache")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS listing (
    store TEXT NOT NULL,
    subtree TEXT NOT NULL,
    digest TEXT NOT NULL,
    records BLOB NOT NULL,
    PRIMARY KEY (store, subtree)
);
"""


def cache_path() -> str:
    from synctui.storage.dirs import cache_dir

    return os.path.join(cache_dir(), "listings.db")


def enabled_by_env() -> bool:
    from synctui.storage.options import env_flag

    return env_flag("SYNCTUI_LISTING_CACHE")


class ListingCache:
    """Per (store, subtree): the digest seen and the raw listing records behind it."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path or cache_path()
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            db = sqlite3.connect(self.path, timeout=10, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
            self._db = db
        return self._db

    def digests(self, store: str) -> dict[str, str]:
        try:
            with self._lock:
                rows = self._conn().execute("SELECT subtree, digest FROM listing WHERE store = ?",
                                            (store,)).fetchall()
        except sqlite3.Error as exc:  # a broken cache is only a slower listing
            log.warning("listing cache %s unreadable (%s); listing in full", self.path, exc)
            return {}
        return dict(rows)

    def records(self, store: str, subtree: str) -> bytes | None:
        try:
            with self._lock:
                row = self._conn().execute("SELECT records FROM listing WHERE store = ? AND subtree = ?",
                                           (store, subtree)).fetchone()
            return zlib.decompress(row[0]) if row else None
        except (sqlite3.Error, zlib.error) as exc:
            log.warning("listing cache entry %s unreadable (%s)", subtree, exc)
            return None

    def update(self, store: str, fresh: dict[str, tuple[str, bytes]], keep: set[str]) -> None:
        """Store ``fresh`` {subtree: (digest, records)}; forget subtrees not in ``keep``."""
        try:
            with self._lock:
                db = self._conn()
                with db:
                    db.executemany("INSERT OR REPLACE INTO listing VALUES (?, ?, ?, ?)",
                                   [(store, sub, dig, zlib.compress(rec, 1))
                                    for sub, (dig, rec) in fresh.items()])
                    gone = [(store, sub) for (sub,) in db.execute(
                        "SELECT subtree FROM listing WHERE store = ?", (store,)) if sub not in keep]
                    db.executemany("DELETE FROM listing WHERE store = ? AND subtree = ?", gone)
        except sqlite3.Error as exc:
            log.warning("listing cache %s not updated (%s)", self.path, exc)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
