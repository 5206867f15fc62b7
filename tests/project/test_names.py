"""copick's naming rules: what a user may call objects, users, sessions and runs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from synctui.errors import NameError_
from synctui.project.names import check_name, is_valid_name, name_problem, run_name_problem

#: characters copick forbids in object names, user ids and session ids (besides _ and space)
FORBIDDEN = '<>:"/\\|?*'

# Names built from copick's rules: no '_', whitespace, control characters or <>:"/\|?*.
name_chars = st.characters(
    blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp"),
    blacklist_characters="_" + FORBIDDEN,
).filter(lambda ch: not ch.isspace())
valid_names = st.text(name_chars, min_size=1, max_size=20).filter(lambda s: s not in (".", ".."))


@pytest.mark.parametrize("name", ["ribosome", "apo-ferritin", "thyroglobulin2", "ß-galactosidase",
                                  "0", "copick.tool", "UPPER", "a" * 200])
def test_good_names_pass(name: str) -> None:
    assert name_problem(name, "object name") is None
    assert is_valid_name(name, "object name")
    assert check_name(name, "object name") == name


@pytest.mark.parametrize(("name", "words"), [
    ("apo_ferritin", ["'_'", "separate"]),
    ("apo ferritin", ["whitespace"]),
    ("apo\tferritin", ["control character"]),
    ("tab\u00a0name", ["whitespace"]),
    ("new\nline", ["control character"]),
    ("a/b", ["forbidden", "/"]),
    ("a\\b", ["forbidden"]),
    ("what?", ["forbidden", "?"]),
    ("a*b", ["forbidden", "*"]),
    ("<x>", ["forbidden"]),
    ('say"', ["forbidden"]),
    ("c:d", ["forbidden", ":"]),
    ("a|b", ["forbidden", "|"]),
    ("", ["empty"]),
    ("..", ["path component"]),
])
def test_bad_names_say_why(name: str, words: list[str]) -> None:
    problem = name_problem(name, "object name")
    assert problem is not None
    assert problem.startswith("object name")
    for word in words:
        assert word in problem
    with pytest.raises(NameError_) as info:
        check_name(name, "object name")
    assert str(info.value) == problem
    assert "\n" not in str(info.value)


def test_non_string_name() -> None:
    assert name_problem(3, "user id") == "user id must be a string, got int"
    assert not is_valid_name(None, "session id")


def test_what_is_named_in_the_reason() -> None:
    assert name_problem("a_b", "session id").startswith("session id 'a_b'")
    assert name_problem("a b", "user id").startswith("user id 'a b'")


@pytest.mark.parametrize("run", ["TS_001", "run 1", "16848", "Position_10_Vol", "a.b"])
def test_run_names_may_hold_underscores_and_spaces(run: str) -> None:
    assert run_name_problem(run) is None
    assert is_valid_name(run, "run name")
    assert check_name(run, "run name") == run


@pytest.mark.parametrize(("run", "word"), [
    ("a/b", "forbidden"), ("a:b", "forbidden"), ("", "empty"), (".", "path component"),
    ("..", "path component"), (".hidden", "starts with '.'"), ("a\x00b", "control"),
    (7, "must be a string"),
])
def test_bad_run_names(run: object, word: str) -> None:
    problem = run_name_problem(run)
    assert problem is not None and word in problem
    with pytest.raises(NameError_):
        check_name(run, "run name")


@given(valid_names)
def test_names_from_copick_rules_are_accepted(name: str) -> None:
    assert name_problem(name, "object name") is None


@given(valid_names, st.sampled_from(["_", " ", "\t", "\n", "\x7f", *FORBIDDEN]), valid_names)
def test_any_forbidden_character_is_rejected(head: str, bad: str, tail: str) -> None:
    problem = name_problem(head + bad + tail, "object name")
    assert problem is not None and problem.startswith("object name")
    run_problem = run_name_problem(head + bad + tail)
    if bad in "_ ":  # runs may hold these
        assert run_problem is None or head.startswith(".")
    else:
        assert run_problem is not None


@given(st.text(max_size=30))
def test_checkers_never_crash(text: str) -> None:
    for result in (name_problem(text, "x"), run_name_problem(text)):
        assert result is None or (isinstance(result, str) and result)
