"""Inputs that do not blink: no timer redraws over SSH, stable screenshots."""

from __future__ import annotations

from typing import Any

from textual.widgets import Input


def steady_input(value: str = "", **kwargs: Any) -> Input:
    kwargs.setdefault("compact", True)
    widget = Input(value, **kwargs)
    widget.cursor_blink = False
    return widget
