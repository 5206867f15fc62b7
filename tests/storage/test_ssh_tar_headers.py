"""The tar headers the SSH store writes by hand: what tarfile (and so GNU tar) reads back."""

from __future__ import annotations

import io
import tarfile

from hypothesis import given
from hypothesis import strategies as st

from synctui.storage.ssh_tar import member_header

SEGMENT = st.text(st.characters(codec="utf-8", exclude_characters="/\0"), min_size=1, max_size=40)
NAMES = st.lists(SEGMENT, min_size=1, max_size=8).map("/".join)
SIZES = st.integers(min_value=0, max_value=8 ** 11 + 10)
MTIMES = st.integers(min_value=-10, max_value=8 ** 11 + 10)


@given(NAMES, SIZES, MTIMES)
def test_every_header_reads_back_as_its_name_size_and_mtime(name: str, size: int, mtime: int) -> None:
    head = member_header(name, size, mtime)
    assert len(head) % tarfile.BLOCKSIZE == 0
    info = tarfile.TarInfo.frombuf(head[-tarfile.BLOCKSIZE:], "utf-8", "surrogateescape") \
        if len(head) == tarfile.BLOCKSIZE else _read_pax(head)
    assert (info.name, info.size, info.mtime, info.mode, info.type) == (name, size, mtime, 0o644, tarfile.REGTYPE)


@given(NAMES.filter(lambda n: n.isascii()), st.integers(0, 8 ** 11 - 1), st.integers(0, 8 ** 11 - 1))
def test_a_plain_member_is_byte_for_byte_what_tarfile_writes(name: str, size: int, mtime: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, mtime, 0o644
    try:
        expected = info.tobuf(tarfile.USTAR_FORMAT, "utf-8", "surrogateescape")
    except ValueError:  # too long for ustar: a PAX header, checked above
        return
    assert member_header(name, size, mtime) == expected


def _read_pax(head: bytes) -> tarfile.TarInfo:
    """A PAX member (extended header, then the ustar one) as tarfile reads it."""
    with tarfile.open(fileobj=io.BytesIO(head + b"\0" * (2 * tarfile.BLOCKSIZE)), mode="r:") as tar:
        assert tar.firstmember is not None
        return tar.firstmember
