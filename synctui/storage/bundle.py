"""The plain files below one folder of a listing, kept as the lister's text.

A no-op sync of a big project spends its Python time making a FileInfo per file, on
both sides, only to find each equal to its twin.  A zarr store's chunk files are
most of those files, and a lister that walks depth first (GNU find) prints them in
one run: :meth:`~synctui.storage.base.BaseStore.scan_bundled` hands that run over as
one FileBundle, its records left as text.  Two bundles whose records are the same
strings hold the same files with the same sizes and mtimes, to the ns: the plan
learns that from one comparison of sorted strings, in C, and only a bundle that
differs is ever parsed.

A record is ``<path>\\tf\\t<size>\\t<seconds>.<ten digits>`` (find's ``%T@``, whose
last digit is always 0).  A bundle holds only regular files whose member path has
no hidden part, no temp name and an mtime from 1970 on; everything else below the folder
comes out of the listing as ordinary FileInfos, and the folders below it not at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from synctui.storage.base import FileInfo


@dataclass(slots=True, eq=False)
class FileBundle:
    """Plain files below the folder ``path``, as unparsed records whose paths are
    root-relative like ``path`` (a bundle comes only from a listing of a whole root)."""

    path: str
    records: list[str]

    def __len__(self) -> int:
        return len(self.records)

    def members(self) -> Iterator[tuple[str, FileInfo]]:
        """(member path, FileInfo) for each file: parsed now, one by one."""
        cut = len(self.path) + 1
        for rec in self.records:
            path, _, size, mtime = rec.rsplit("\t", 3)
            yield path[cut:], FileInfo(path, int(size), parse_mtime(mtime))

    def same_files(self, other: FileBundle) -> bool:
        """Whether both hold the same files (paths, so their folder too) with the same
        sizes and mtimes, to the ns.  A listing's order is its folder's, so equal
        bundles may differ in order."""
        a, b = self.records, other.records
        return len(a) == len(b) and (a == b or sorted(a) == sorted(b))


def parse_mtime(text: str) -> int:
    """find's ``%T@`` of a file from 1970 on, in ns: sliced when it has the usual ten
    fractional digits, else worked out."""
    if text[-11:-10] == ".":
        return int(text[:-11] + text[-10:-1])
    sec, _, frac = text.partition(".")
    return int(sec) * 1_000_000_000 + int(frac[:9].ljust(9, "0"))
