"""Human formats shared by the CLI and the TUI (no heavy imports)."""

from __future__ import annotations


def human_bytes(n: float) -> str:
    """1536 -> '1.5 KiB'; exact bytes below 1 KiB."""
    n = float(n)
    if abs(n) < 1024:
        return f"{int(n)} B"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        n /= 1024.0
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}"
    return f"{n:.1f} TiB"


def human_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = max(0.0, seconds)
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


def count(n: int) -> str:
    """20081 -> '20,081' (every count a user reads, CLI and app alike)."""
    return f"{n:,}"


def score(x: float) -> str:
    """A score or other measured float, rounded to what a reader compares: 0.0819066 -> '0.0819'."""
    return f"{x:.3g}"


def middle_cut(text: str, width: int, *, mark: str = "…") -> str:
    """Shorten ``text`` to ``width`` by cutting its middle, keeping the end that tells two
    long paths apart (``Segmentations/10.000_ali…_membrane.zarr``).

    The tail gets two thirds of the room, or the whole last path component when that
    fits, and never starts inside a folder name when the head can spare it; the head
    keeps a fifth."""
    if width <= 0:
        return ""
    if len(text) <= width:
        return text
    if width <= len(mark) + 1:
        return text[-width:]
    room = width - len(mark)
    last = text.rsplit("/", 1)[-1]
    least_head = max(1, room // 5)
    tail = min(max(room * 2 // 3, len(last) + 1), room - least_head)
    start = len(text) - tail
    if "/" in text[start:]:
        # the tail begins inside a folder name: take the whole name if the head can spare it
        whole = text.rfind("/", 0, start) + 1
        if room - (len(text) - whole) >= least_head:
            start = whole
    return f"{text[:room - (len(text) - start)]}{mark}{text[start:]}"
