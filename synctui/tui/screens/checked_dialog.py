"""A dialog whose input is checked on every change; Enter accepts only a valid one."""

from __future__ import annotations

from typing import Generic, TypeVar

from rich.text import Text
from textual.screen import ModalScreen
from textual.widgets import Input, Select, Static

ResultT = TypeVar("ResultT")


class CheckedDialog(ModalScreen[ResultT | None], Generic[ResultT]):
    """Subclasses name their field and message widgets and say what is wrong (or right)."""

    FIELD_ID = ""
    PROBLEM_ID = ""

    def __init__(self) -> None:
        super().__init__()
        self.problem: str | None = None

    def check(self) -> tuple[str | None, str]:
        """(the problem, or None; the line shown when there is none)."""
        raise NotImplementedError

    def result(self) -> ResultT:
        raise NotImplementedError

    def on_mount(self) -> None:
        self.query_one(f"#{self.FIELD_ID}", Input).focus()
        self._validate()

    def _validate(self) -> None:
        self.problem, ok = self.check()
        self.query_one(f"#{self.FIELD_ID}", Input).set_class(self.problem is not None, "-invalid")
        out = self.query_one(f"#{self.PROBLEM_ID}", Static)
        out.update(Text(f"✗ {self.problem}", style="bold red") if self.problem else Text(ok, style="green"))

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        self.select_changed(event)
        self._validate()

    def select_changed(self, event: Select.Changed) -> None:
        """Take a Select's new value (subclasses with Selects override)."""

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._validate()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._validate()
        if self.problem:
            self.app.bell()
            return
        self.dismiss(self.result())

    def action_cancel(self) -> None:
        self.dismiss(None)
