"""Listing a local tree: GNU find in a process of its own, or os.scandir.

A listing is a stat per entry.  Python's scandir walk spends about 20 µs on each
(the stat, a DirEntry, a FileInfo); GNU ``find -printf`` does the walk and the
stats in C, in another process, so it runs on another core while this one parses
its output or lists the other side of the sync (bench/sync_local.py: a 20k-file
tree lists in about half the time).  Its output is taken whole and used only
when find exits 0 and every record parses; anything else (no GNU find, an
unreadable folder, a file vanishing mid-walk) lists again with scandir, whose
errors are the ones a user sees.

Both walks give the same entries: regular files and (``dirs``) folders, with
symbolic links followed only when they stay inside the root.
"""

from __future__ import annotations

import os
import shutil
import stat as stat_mod
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator

from synctui.storage.base import FileInfo

#: find's output format: type, size, mtime (s.ns), path below the start, NUL-terminated
FIND_FORMAT = "%y\\t%s\\t%T@\\t%P\\0"
#: the listing modes LocalOptions.listing takes
MODES = ("auto", "find", "scandir")


def find_program() -> str | None:
    """GNU find, where the platform has it (BSD find has no -printf: scandir there)."""
    if not sys.platform.startswith("linux"):
        return None
    return shutil.which("find")


def scan_with_find(start: str, rel0: str, real_root: str, *, dirs: bool,
                   skipped_links: list[str],
                   walk: Callable[[str, str], Iterator[FileInfo]]) -> list[FileInfo] | None:
    """Every entry below ``start`` (``rel0`` relative to the root), or None when find
    could not give a whole listing (the caller lists with scandir instead).

    ``walk(full, rel)`` lists a symlinked folder inside the root (find does not follow
    links below its start, scandir does).
    """
    program = find_program()
    if program is None:
        return None
    try:
        proc = subprocess.Popen([program, "-H", start, "-mindepth", "1", "-printf", FIND_FORMAT],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                                env={**os.environ, "LC_ALL": "C"})
    except OSError:
        return None
    out: list[FileInfo] = []
    links: list[str] = []
    try:
        # parsed as it streams: find walks on its core while this one makes FileInfos
        read = proc.stdout.read1
        _parse(iter(lambda: read(1 << 20), b""), rel0 + "/" if rel0 else "", start, dirs, out, links)
        whole = True
    except (ValueError, OSError):  # not GNU find's output, or a file gone: list with scandir
        whole = False
    finally:
        if proc.stdout is not None:
            proc.stdout.close()
        if proc.wait() != 0:
            whole = False
    if not whole:
        return None
    base = rel0 + "/" if rel0 else ""
    for name in links:
        full = os.path.join(start, name)
        rel = base + name
        real = os.path.realpath(full)
        if real != real_root and not real.startswith(real_root + os.sep):
            skipped_links.append(rel)
            continue
        try:
            st = os.stat(full)
        except FileNotFoundError:
            continue
        except OSError:
            return None  # a loop, EIO ...: scandir says what
        if stat_mod.S_ISDIR(st.st_mode):
            if dirs:
                out.append(FileInfo(rel, 0, st.st_mtime_ns, kind="dir"))
            out.extend(walk(full, rel))
        elif stat_mod.S_ISREG(st.st_mode):
            out.append(FileInfo(rel, st.st_size, st.st_mtime_ns))
    return out


def _parse(blocks: Iterable[bytes], base: str, start: str, dirs: bool,
           out: list[FileInfo], links: list[str]) -> None:
    """find's records into ``out`` (and symlinks into ``links``).  The hot loop of a
    no-op sync: one split per record and the mtime sliced, not parsed, when it has
    find's usual ten fractional digits."""
    encoding = sys.getfilesystemencoding()
    append = out.append
    rest = b""
    for block in blocks:
        block = rest + block
        cut = block.rfind(b"\0") + 1
        rest = block[cut:]
        for rec in block[:cut].decode(encoding, "surrogateescape").split("\0")[:-1]:
            kind, size, mtime, name = rec.split("\t", 3)
            if kind == "f":
                append(FileInfo(base + name, int(size),
                                int(mtime[:-11] + mtime[-10:-1]) if mtime[-11:-10] == "." and mtime[0] != "-"
                                else _mtime_ns(mtime, start, name)))
            elif kind == "d":
                if dirs:
                    append(FileInfo(base + name, 0, _mtime_ns(mtime, start, name), None, "dir"))
            elif kind == "l":
                links.append(name)
    if rest:
        raise ValueError("find's output ends inside a record")


def _mtime_ns(text: str, start: str, name: str) -> int:
    """find's ``%T@`` ("1700000000.1234567890") in ns, exactly; a stat for odd ones."""
    sec, dot, frac = text.partition(".")
    if dot and sec.isdigit():
        return int(sec) * 1_000_000_000 + int(frac[:9].ljust(9, "0"))
    return os.lstat(os.path.join(start, name)).st_mtime_ns  # before 1970, or no fraction
