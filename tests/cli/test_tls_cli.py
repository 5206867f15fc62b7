"""`--ca-bundle` and `--insecure`: TLS settings for https WebDAV roots from the command line.

The end-to-end tests run `python -m synctui` against a wsgidav server with a
self-signed certificate (``dav_factory(tls=...)``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sync_helpers import (
    SRC_MTIME,
    assert_no_traceback,
    basic_source,
    read_tree,
    run_cli,
    write_config,
    write_tree,
)
from webdav_servers import Dav, self_signed_cert  # noqa: E402

from synctui.cli import build_parser
from synctui.errors import EXIT_BAD_INPUT, EXIT_CONNECTION, EXIT_OK, SyncTuiError
from synctui.project.config import load_config
from synctui.project.tls import apply_tls, tls_warnings
from synctui.storage.tls import TLSOptions


def https_pair(tmp_path: Path, dav: Dav) -> tuple[Path, Path, dict[str, bytes]]:
    files = basic_source(("TS_001",))
    root = tmp_path / "src" / "overlay"
    write_tree(root, files, mtime=SRC_MTIME)
    src = write_config(tmp_path / "src" / "config.json", root, name="source")
    dst = tmp_path / "dst.json"
    dst.write_text(json.dumps({"name": "dav", "pickable_objects": [], "overlay_root": f"{dav.url}/o"}))
    return src, dst, files


def one_line(text: str) -> str:
    assert_no_traceback(text)
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) == 1, text
    return lines[0]


@pytest.fixture
def https_dav(dav_factory, tmp_path: Path) -> tuple[Dav, str]:
    cert, key = self_signed_cert(str(tmp_path))
    _, dav = dav_factory(tls=(cert, key))
    assert dav.url.startswith("https://")
    return dav, cert


@pytest.mark.integration
def test_self_signed_server_needs_a_flag(https_dav, tmp_path: Path) -> None:
    dav, cert = https_dav
    src, dst, files = https_pair(tmp_path, dav)
    r = run_cli("sync", "-s", str(src), "-t", str(dst), "--no-progress")
    assert r.returncode == EXIT_CONNECTION, r.stderr
    line = one_line(r.stderr)
    assert "certificate is not trusted" in line and "--ca-bundle" in line and "--insecure" in line
    assert read_tree(dav.disk / "o") == {}


@pytest.mark.integration
def test_ca_bundle_flag_trusts_the_server(https_dav, tmp_path: Path) -> None:
    dav, cert = https_dav
    src, dst, files = https_pair(tmp_path, dav)
    r = run_cli("plan", "-s", str(src), "-t", str(dst), "--ca-bundle", cert, "--json")
    assert r.returncode == EXIT_OK, r.stderr
    assert r.stderr == "" and json.loads(r.stdout)["counts"]["create"]["entities"] > 0
    r = run_cli("sync", "-s", str(src), "-t", str(dst), "--ca-bundle", cert, "--no-progress")
    assert r.returncode == EXIT_OK, r.stderr
    assert_no_traceback(r.stderr)
    assert read_tree(dav.disk / "o") == files
    # a saved plan is run with the flag too
    plan_file = tmp_path / "plan.json"
    r = run_cli("plan", "-s", str(src), "-t", str(dst), "--ca-bundle", cert, "--save-plan", str(plan_file))
    assert r.returncode == EXIT_OK, r.stderr
    r = run_cli("sync", "--plan", str(plan_file), "--ca-bundle", cert, "--no-progress")
    assert r.returncode == EXIT_OK, r.stderr


@pytest.mark.integration
def test_insecure_flag_syncs_and_warns(https_dav, tmp_path: Path) -> None:
    dav, _ = https_dav
    src, dst, files = https_pair(tmp_path, dav)
    r = run_cli("sync", "-s", str(src), "-t", str(dst), "--insecure", "--no-progress")
    assert r.returncode == EXIT_OK, r.stderr
    line = one_line(r.stderr)
    assert line.startswith("synctui: warning: --insecure: TLS certificate checks are OFF for https://")
    assert read_tree(dav.disk / "o") == files


@pytest.mark.integration
def test_flag_overrides_the_config(https_dav, tmp_path: Path) -> None:
    """fs_args say insecure; --ca-bundle with a certificate that does not match wins (and fails)."""
    dav, cert = https_dav
    src, dst, _ = https_pair(tmp_path, dav)
    data = json.loads(dst.read_text())
    data["overlay_fs_args"] = {"insecure": True}
    dst.write_text(json.dumps(data))
    (tmp_path / "other").mkdir()
    other, _ = self_signed_cert(str(tmp_path / "other"))
    r = run_cli("plan", "-s", str(src), "-t", str(dst), "--ca-bundle", other)
    assert r.returncode == EXIT_CONNECTION and "not trusted" in one_line(r.stderr)
    assert run_cli("plan", "-s", str(src), "-t", str(dst)).returncode == EXIT_OK


@pytest.mark.parametrize("argv", [
    ["sync", "--ca-bundle", "{missing}", "-s", "{src}", "-t", "{dst}"],
    ["plan", "--ca-bundle", "{missing}", "-s", "{src}", "-t", "{dst}"],
    ["--ca-bundle", "{missing}", "-s", "{src}", "-t", "{dst}"],  # the app
    ["sync", "--ca-bundle", "{notpem}", "-s", "{src}", "-t", "{dst}"],
    ["sync", "--ca-bundle", "{notpem}", "--insecure", "-s", "{src}", "-t", "{dst}"],
])
def test_bad_tls_flags_are_one_line_exit_2_and_nothing_is_written(tmp_path: Path, argv: list[str]) -> None:
    files = basic_source(("TS_001",))
    write_tree(tmp_path / "src", files, mtime=SRC_MTIME)
    src = write_config(tmp_path / "src.json", tmp_path / "src", name="source")
    dst_root = tmp_path / "dst"
    dst = write_config(tmp_path / "dst.json", dst_root, name="target")
    (tmp_path / "not.pem").write_text("not a certificate\n")
    fill = {"missing": str(tmp_path / "missing.pem"), "notpem": str(tmp_path / "not.pem"),
            "src": str(src), "dst": str(dst)}
    r = run_cli(*[a.format(**fill) for a in argv])
    assert r.returncode == EXIT_BAD_INPUT, r.stderr
    line = one_line(r.stderr)
    assert line.startswith("synctui: error: --ca-bundle")
    assert read_tree(dst_root, hidden=True) == {}


def test_options_reach_only_https_webdav_roots(tmp_path: Path) -> None:
    cert = tmp_path / "ca.pem"
    cfg_path = tmp_path / "c.json"
    raw = {"name": "p", "pickable_objects": [], "overlay_root": "https://dav.example.org/p",
           "overlay_fs_args": {"verify": False, "timeout": 5}, "static_root": "http://plain.example.org/s"}
    cfg_path.write_text(json.dumps(raw))
    cfg = load_config(str(cfg_path))
    with pytest.raises(SyncTuiError, match="no such file"):
        TLSOptions(str(cert)).checked()
    self_signed_cert(str(tmp_path))
    (tmp_path / "cert.pem").rename(cert)
    tls = TLSOptions("ca.pem")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path)
        tls = tls.checked()
    assert tls.ca_bundle == str(cert)  # made absolute against the current folder
    out = apply_tls(tls, cfg)
    assert out.overlay.fs_args == {"ca_bundle": str(cert), "insecure": False, "timeout": 5}
    assert out.static is not None and out.static.fs_args == cfg.static.fs_args  # http: untouched
    assert out.raw == raw and cfg.overlay.fs_args == {"verify": False, "timeout": 5}  # nothing saved
    assert out.overlay.key == cfg.overlay.key
    insecure = TLSOptions(insecure=True)
    assert apply_tls(insecure, cfg).overlay.fs_args == {"insecure": True, "timeout": 5}
    (warning,) = tls_warnings(insecure, [cfg])
    assert "https://dav.example.org/p" in warning and "OFF" in warning
    assert tls_warnings(tls, [out]) == []  # the bundle replaced the config's verify: false
    (warning,) = tls_warnings(TLSOptions(), [cfg])  # no flag: the config's own verify: false warns too
    assert "https://dav.example.org/p" in warning and "OFF" in warning and "fs_args" in warning
    local = load_config(str(write_config(tmp_path / "l.json", tmp_path / "l")))
    assert apply_tls(tls, local) == local and "ignored" in tls_warnings(tls, [local])[0]
    with pytest.raises(SyncTuiError, match="contradict"):
        TLSOptions(str(cert), insecure=True).checked()


def test_flags_parse_before_and_after_the_command() -> None:
    parser = build_parser()
    args = parser.parse_args(["--insecure", "-s", "a", "-t", "b"])
    assert args.app_insecure and args.command is None
    args = parser.parse_args(["sync", "-s", "a", "-t", "b", "--ca-bundle", "x.pem"])
    assert args.ca_bundle == "x.pem" and not args.insecure
    args = parser.parse_args(["--insecure", "plan", "-s", "a", "-t", "b"])
    assert args.app_insecure and not args.insecure


def _with_fs_args(dst: Path, **fs_args: object) -> None:
    data = json.loads(dst.read_text())
    data["overlay_fs_args"] = fs_args
    dst.write_text(json.dumps(data))


@pytest.mark.integration
@pytest.mark.parametrize("fs_args", [{"insecure": "false"}, {"insecure": "0"}, {"insecure": "no"},
                                     {"insecure": 0}, {"verify": "true"}])
def test_a_string_false_keeps_certificate_checks_on(https_dav, tmp_path: Path, fs_args: dict) -> None:
    dav, _ = https_dav
    src, dst, _ = https_pair(tmp_path, dav)
    _with_fs_args(dst, **fs_args)
    r = run_cli("sync", "-s", str(src), "-t", str(dst), "--no-progress")
    assert r.returncode == EXIT_CONNECTION, r.stderr
    assert "certificate is not trusted" in one_line(r.stderr)
    assert read_tree(dav.disk / "o") == {}


@pytest.mark.parametrize("fs_args, key", [({"insecure": "maybe"}, "insecure"), ({"insecure": 2}, "insecure"),
                                          ({"verify": 7}, "verify"), ({"timeout": "abc"}, "timeout")])
def test_a_setting_that_is_no_boolean_is_bad_input(tmp_path: Path, fs_args: dict, key: str) -> None:
    src = write_config(tmp_path / "src.json", tmp_path / "src", name="source")
    dst = tmp_path / "dst.json"
    dst.write_text(json.dumps({"name": "dav", "pickable_objects": [], "overlay_root": "https://127.0.0.1:9/o",
                               "overlay_fs_args": fs_args}))
    for command in ("plan", "sync"):
        r = run_cli(command, "-s", str(src), "-t", str(dst))
        assert r.returncode == EXIT_BAD_INPUT, r.stderr
        line = one_line(r.stderr)
        assert line.startswith(f"synctui: error: {dst}: overlay_fs_args.{key}: "), line


@pytest.mark.integration
@pytest.mark.parametrize("fs_args", [{"insecure": "true"}, {"insecure": "yes"}, {"verify": "false"},
                                     {"verify": False}])
def test_checks_off_in_the_config_warn_on_the_console(https_dav, tmp_path: Path, fs_args: dict) -> None:
    dav, _ = https_dav
    src, dst, files = https_pair(tmp_path, dav)
    _with_fs_args(dst, **fs_args)
    for command in ("plan", "sync"):
        r = run_cli(command, "-s", str(src), "-t", str(dst), "--no-progress" if command == "sync" else "--all")
        assert r.returncode == EXIT_OK, r.stderr
        warning = one_line(r.stderr)
        assert warning.startswith("synctui: warning: TLS certificate checks are OFF for https://"), warning
        assert "fs_args" in warning
    assert read_tree(dav.disk / "o") == files


def test_the_app_header_says_when_checks_are_off(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from rich.text import Text

    from synctui.tui.widgets.projects_header import side_text

    raw = {"name": "dav", "pickable_objects": [], "overlay_root": "https://dav.example.org/p"}
    checked = load_config(dict(raw))
    off = load_config({**raw, "overlay_fs_args": {"insecure": "yes"}})
    flagged = apply_tls(TLSOptions(insecure=True), checked)

    def header(cfg) -> str:
        lock = SimpleNamespace(text=lambda: Text("lock free"))
        return side_text("target", SimpleNamespace(config=cfg, connection="connected", lock=lock,
                                                           unguarded=False)).plain

    assert "TLS checks OFF" not in header(checked)
    assert "TLS checks OFF" in header(off) and "TLS checks OFF" in header(flagged)
    assert "TLS checks OFF" not in header(load_config({**raw, "overlay_fs_args": {"insecure": "false"}}))
