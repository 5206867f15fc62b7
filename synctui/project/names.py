"""copick's naming rules, checked once, with a reason a user can read.

copick joins the parts of a file name with ``_``, so object names, user ids and
session ids must not contain one; run names only need to be valid path components.
"""

from __future__ import annotations

import re

from synctui.errors import NameError_

_FORBIDDEN = set('<>:"/\\|?*')
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def name_problem(name: object, what: str = "name", *, allow_underscore: bool = False) -> str | None:
    """Why copick would reject ``name`` as ``what``, or None when it is fine."""
    if not isinstance(name, str):
        return f"{what} must be a string, got {type(name).__name__}"
    if not name:
        return f"{what} is empty"
    if _CONTROL.search(name):
        return f"{what} {name!r} contains a control character"
    if any(ch.isspace() for ch in name):
        return f"{what} {name!r} contains whitespace"
    if not allow_underscore and "_" in name:
        return f"{what} {name!r} contains '_', which copick uses to separate name parts"
    bad = sorted(_FORBIDDEN.intersection(name))
    if bad:
        return f"{what} {name!r} contains forbidden character(s) {''.join(bad)!r}"
    if name in (".", ".."):
        return f"{what} {name!r} is not a valid path component"
    return None


def run_name_problem(name: object) -> str | None:
    """Runs may contain ``_`` and spaces are tolerated by copick, but never path separators."""
    if not isinstance(name, str):
        return f"run name must be a string, got {type(name).__name__}"
    if not name:
        return "run name is empty"
    if name in (".", ".."):
        return f"run name {name!r} is not a valid path component"
    if name.startswith("."):
        return f"run name {name!r} starts with '.', so copick would hide it"
    if _CONTROL.search(name):
        return f"run name {name!r} contains a control character"
    bad = sorted(_FORBIDDEN.intersection(name))
    if bad:
        return f"run name {name!r} contains forbidden character(s) {''.join(bad)!r}"
    return None


def check_name(name: object, what: str = "name") -> str:
    """Return ``name`` if copick accepts it, else raise NameError_ with the reason."""
    problem = run_name_problem(name) if what == "run name" else name_problem(name, what)
    if problem:
        raise NameError_(problem)
    return name  # type: ignore[return-value]


def is_valid_name(name: object, what: str = "name") -> bool:
    return (run_name_problem(name) if what == "run name" else name_problem(name, what)) is None
