"""CLI lines: plain and whole in a pipe or a log, styled on a terminal."""

from __future__ import annotations

from synctui.cli.lines import Lines


def test_a_pipe_gets_plain_unwrapped_lines(capsys, monkeypatch) -> None:
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    long_path = "ExperimentRuns/" + "TS_0001/" * 20 + "file.json"
    Lines().line(("failed ", "bold red"), long_path, ": [bold]permission denied[/bold]")
    Lines(stderr=True).line("cancelling", style="yellow")
    out, err = capsys.readouterr()
    assert out == f"failed {long_path}: [bold]permission denied[/bold]\n"  # no wrap, no markup
    assert err == "cancelling\n"


def test_force_color_styles_the_line(capsys, monkeypatch) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    Lines().line(("failed ", "bold red"), "a.json")
    out = capsys.readouterr().out
    assert "\x1b[" in out and "failed" in out and "a.json" in out
