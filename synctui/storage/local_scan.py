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
import re
import shutil
import stat as stat_mod
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator

from synctui.storage.base import VISIBLE_TEMP_PREFIX, FileInfo
from synctui.storage.bundle import FileBundle, parse_mtime

#: find's output format: path below the start, type, size, mtime (s.ns), NUL-terminated
#: (the path first, so a folder's run of records shares its prefix: storage/bundle.py)
FIND_FORMAT = "%P\\t%y\\t%s\\t%T@\\0"
#: a folder's record, then the run of records below it (find walks depth first)
_RUN = re.compile(r"([^\0]*)\td\t\d+\t[^\t\0]*\0(?:\1/[^\0]*\0)*")
#: in a run, what marks a record a bundle does not take: a hidden part of its path, a
#: temp name, an mtime before 1970; then a type other than a regular file (find's
#: "%y"), looked for only when not every record says "f".  A name that merely contains
#: one is listed one by one.
_NOT_PLAIN = ("/.", VISIBLE_TEMP_PREFIX, "\t-")
_NOT_FILES = ("\td\t", "\tl\t", "\tp\t", "\ts\t", "\tb\t", "\tc\t", "\tD\t")


def find_program() -> str | None:
    """GNU find, where the platform has it (BSD find has no -printf: scandir there)."""
    if not sys.platform.startswith("linux"):
        return None
    return shutil.which("find")


def scan_with_find(start: str, rel0: str, real_root: str, *, dirs: bool,
                   skipped_links: list[str],
                   walk: Callable[[str, str], Iterator[FileInfo]],
                   bundle: str | None = None) -> list[FileInfo | FileBundle] | None:
    """Every entry below ``start`` (``rel0`` relative to the root), or None when find
    could not give a whole listing (the caller lists with scandir instead).

    ``walk(full, rel)`` lists a symlinked folder inside the root (find does not follow
    links below its start, scandir does).  ``bundle``: in a listing of the whole root
    (no ``rel0``), the plain files below each folder whose name ends so come as one
    FileBundle (storage/bundle.py).
    """
    bundle = bundle if not rel0 else None
    program = find_program()
    if program is None:
        return None
    try:
        proc = subprocess.Popen([program, "-H", start, "-mindepth", "1", *_skip_inner_dirs(start, bundle),
                                 "-printf", FIND_FORMAT],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                                env={**os.environ, "LC_ALL": "C"})
    except OSError:
        return None
    out: list[FileInfo | FileBundle] = []
    links: list[str] = []
    try:
        if bundle:
            _parse_bundled(proc.stdout.read(), start, dirs, bundle, out, links)
        else:  # parsed as it streams: find walks on its core while this one makes FileInfos
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


def _skip_inner_dirs(start: str, bundle: str | None) -> list[str]:
    """find's test that leaves out the folders below a bundle's folder (never listed),
    so their records cost nothing; not when ``start`` itself lies below one."""
    if not bundle or f"{bundle}/" in start + "/" or any(c in bundle for c in "*?[\\"):
        return []
    return ["(", "-type", "d", "-path", f"*{bundle}/*", ")", "-o"]


def _parse(blocks: Iterable[bytes], base: str, start: str, dirs: bool,
           out: list[FileInfo | FileBundle], links: list[str]) -> None:
    """find's records into ``out`` (and symlinks into ``links``), block by block."""
    encoding = sys.getfilesystemencoding()
    rest = b""
    for block in blocks:
        block = rest + block
        cut = block.rfind(b"\0") + 1
        rest = block[cut:]
        _take(block[:cut].decode(encoding, "surrogateescape").split("\0")[:-1], base, start, dirs, out, links)
    if rest:
        raise ValueError("find's output ends inside a record")


def _take(records: list[str], base: str, start: str, dirs: bool,
          out: list[FileInfo | FileBundle], links: list[str]) -> None:
    """The hot loop of a listing: one split per record, and the mtime sliced, not
    parsed, when it has find's usual ten fractional digits."""
    append = out.append
    for rec in records:
        name, kind, size, mtime = rec.rsplit("\t", 3)
        if kind == "f":
            append(FileInfo(base + name, int(size),
                            int(mtime[:-11] + mtime[-10:-1]) if mtime[-11:-10] == "." and mtime[0] != "-"
                            else _mtime_ns(mtime, start, name)))
        elif kind == "d":
            if dirs:
                append(FileInfo(base + name, 0, _mtime_ns(mtime, start, name), None, "dir"))
        elif kind == "l":
            links.append(name)


def _parse_bundled(raw: bytes, start: str, dirs: bool, suffix: str,
                   out: list[FileInfo | FileBundle], links: list[str]) -> None:
    """find's whole output, the plain files below each ``suffix`` folder as one bundle.

    A run is found by one regular expression and its few other records (hidden ones,
    links, temps) are cut out by substring search, so Python touches only those and
    the records outside bundles."""
    if raw and not raw.endswith(b"\0"):
        raise ValueError("find's output ends inside a record")
    text = raw.decode(sys.getfilesystemencoding(), "surrogateescape")
    find, match, n, pos = text.find, _RUN.match, len(text), 0
    loose: list[str] = []
    while pos < n:
        end = find("\0", pos)
        rec = text[pos:end]
        loose.append(rec)
        name = rec.rsplit("\t", 3)[0]
        if not (name.endswith(suffix) and rec[len(name) + 1:len(name) + 3] == "d\t"):
            pos = end + 1
            continue
        run = match(text, pos)
        if run is None:
            raise ValueError("find's output has a folder record of an unknown shape")
        pos = run.end()
        below = text[end:pos]  # "\0rec\0rec\0"
        for marker in _NOT_PLAIN:
            if marker in below:
                below = _cut(below, marker, loose)
        if below.count("\tf\t") != below.count("\0") - 1:
            for marker in _NOT_FILES:
                if marker in below:
                    below = _cut(below, marker, loose)
        if len(below) > 1:
            out.append(FileBundle(name, below[1:-1].split("\0")))
    _take(loose, "", start, dirs, out, links)


def _cut(below: str, marker: str, into: list[str]) -> str:
    """``below`` without the records that contain ``marker``; those go to ``into``."""
    find, rfind = below.find, below.rfind
    keep: list[str] = []
    done = 0
    hit = find(marker)
    while hit >= 0:
        first = rfind("\0", 0, hit)  # the record is below[first + 1:last]
        last = find("\0", hit)
        into.append(below[first + 1:last])
        keep.append(below[done:first])
        done = last
        hit = find(marker, last)
    keep.append(below[done:])
    return "".join(keep)


def _mtime_ns(text: str, start: str, name: str) -> int:
    """find's ``%T@`` ("1700000000.1234567890") in ns, exactly; a stat for odd ones."""
    sec, dot, _ = text.partition(".")
    if dot and sec.isdigit():
        return parse_mtime(text)
    return os.lstat(os.path.join(start, name)).st_mtime_ns  # before 1970, or no fraction
