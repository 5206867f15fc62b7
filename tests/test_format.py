"""The human formats the CLI and the app share: counts, scores, paths cut in the middle."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from synctui.format import count, middle_cut, score


def test_counts_have_thousands_separators_and_scores_are_rounded() -> None:
    assert count(20081) == "20,081" and count(7) == "7"
    assert score(0.0819066) == "0.0819" and score(0.945123) == "0.945" and score(1.0) == "1"


def test_two_long_paths_stay_apart_when_cut() -> None:
    a = "Segmentations/10.000_alice_1_membrane.zarr"
    b = "Segmentations/10.000_alice_1_organelles-multilabel.zarr"
    for width in (16, 24, 30):
        ca, cb = middle_cut(a, width), middle_cut(b, width)
        assert ca != cb and len(ca) == len(cb) == width
        assert ca.startswith("Seg") and "…" in ca
    assert middle_cut(a, 24).endswith("membrane.zarr")
    assert middle_cut(a, 100) == a


@given(st.text(min_size=0, max_size=80), st.integers(min_value=0, max_value=90))
def test_a_cut_fits_and_keeps_both_ends(text: str, width: int) -> None:
    out = middle_cut(text, width)
    assert len(out) <= max(width, 0)
    if len(text) <= width:
        assert out == text
    elif width >= 3:
        head, _, tail = out.partition("…")
        assert text.startswith(head) and text.endswith(tail) and len(tail) >= len(head)
