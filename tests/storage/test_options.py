"""Typed settings: fs_args and environment booleans parse strictly, never by truthiness."""

from __future__ import annotations

import math

import pytest

from synctui.errors import EXIT_BAD_INPUT, OptionError
from synctui.storage.options import (
    WebDAVOptions,
    env_flag,
    normalize_fs_args,
    parse_bool,
    parse_int,
    parse_timeout_seconds,
    parse_verify,
    parse_window_seconds,
)
from synctui.storage.url import parse_location


@pytest.mark.parametrize("value, expected", [
    (True, True), (False, False), (1, True), (0, False), ("true", True), ("false", False),
    ("TRUE", True), (" False ", False), ("yes", True), ("no", False), ("1", True), ("0", False),
    ("on", True), ("off", False),
])
def test_booleans_parse_as_written(value: object, expected: bool) -> None:
    assert parse_bool(value, "insecure") is expected


@pytest.mark.parametrize("value", ["maybe", "", "2", 2, -1, 0.5, 1.0, None, [], {}, [True], "tru"])
def test_anything_else_is_an_error_naming_the_key(value: object) -> None:
    with pytest.raises(OptionError) as info:
        parse_bool(value, "insecure")
    assert info.value.key == "insecure" and info.value.exit_code == EXIT_BAD_INPUT
    assert str(info.value).startswith("insecure: ") and "\n" not in str(info.value)


def test_a_setting_takes_its_default_only_when_absent_or_null() -> None:
    assert WebDAVOptions.build({}).probe_writes is True
    assert WebDAVOptions.build({"probe_writes": None}).probe_writes is True
    assert WebDAVOptions.build({"probe_writes": "false"}).probe_writes is False
    with pytest.raises(OptionError):
        WebDAVOptions.build({"probe_writes": "sometimes"})


@pytest.mark.parametrize("value, expected", [(30, 30.0), (2.5, 2.5), ("30", 30.0), (" 0.25 ", 0.25)])
def test_timeouts_are_positive_finite_seconds(value: object, expected: float) -> None:
    assert parse_timeout_seconds(value, "timeout") == expected


@pytest.mark.parametrize("value", ["abc", "", 0, -1, "nan", "inf", math.inf, math.nan, True, None, [5],
                                   10 ** 400, "1e999", 9_223_372_037, 7 * 86400 + 1])
def test_bad_timeouts_are_errors(value: object) -> None:
    with pytest.raises(OptionError) as info:
        parse_timeout_seconds(value, "timeout")
    assert info.value.key == "timeout" and len(str(info.value)) < 200


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, -0.5, "x"])
def test_windows_are_finite_and_not_negative(value: object) -> None:
    with pytest.raises(OptionError):
        parse_window_seconds(value, "--modify-window")
    assert parse_window_seconds("0", "--modify-window") == 0.0


def test_whole_numbers_within_bounds() -> None:
    assert parse_int("8", "list_workers") == 8
    for bad in (0, -3, 1.5, True, "eight", 1 << 40, "9" * 5000):
        with pytest.raises(OptionError):
            parse_int(bad, "list_workers")


def test_verify_is_a_boolean_or_a_ca_bundle_path() -> None:
    assert parse_verify("false", "verify") is False
    assert parse_verify(True, "verify") is True
    assert parse_verify("/etc/ssl/my-ca.pem", "verify") == "/etc/ssl/my-ca.pem"
    with pytest.raises(OptionError):
        parse_verify(3, "verify")


def test_environment_booleans(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYNCTUI_SSH_ACCEPT_NEW", raising=False)
    assert env_flag("SYNCTUI_SSH_ACCEPT_NEW") is False
    for text, expected in (("1", True), ("yes", True), ("0", False), ("false", False), ("", False)):
        monkeypatch.setenv("SYNCTUI_SSH_ACCEPT_NEW", text)
        assert env_flag("SYNCTUI_SSH_ACCEPT_NEW") is expected
    monkeypatch.setenv("SYNCTUI_SSH_ACCEPT_NEW", "please")
    with pytest.raises(OptionError, match="SYNCTUI_SSH_ACCEPT_NEW"):
        env_flag("SYNCTUI_SSH_ACCEPT_NEW")


def test_listing_cache_env_is_strict(monkeypatch: pytest.MonkeyPatch) -> None:
    from synctui.storage.listing_cache import enabled_by_env

    monkeypatch.setenv("SYNCTUI_LISTING_CACHE", "0")
    assert enabled_by_env() is False
    monkeypatch.setenv("SYNCTUI_LISTING_CACHE", "no thanks")
    with pytest.raises(OptionError, match="SYNCTUI_LISTING_CACHE"):
        enabled_by_env()


def test_roots_carry_typed_fs_args() -> None:
    dav = parse_location("https://dav.example.org/p", {"insecure": "false", "timeout": "20",
                                                       "list_workers": "4", "other": "kept"})
    assert dav.fs_args == {"insecure": False, "timeout": 20.0, "list_workers": 4, "other": "kept"}
    ssh = parse_location("ssh:///data", {"host": "h", "port": "2222", "accept_new_host_key": "no",
                                         "listing_cache": 1, "listing": "SFTP"})
    assert ssh.port == 2222
    assert ssh.fs_args == {"host": "h", "port": 2222, "accept_new_host_key": False,
                           "listing_cache": True, "listing": "sftp"}
    # a local root's fs_args are copick's/fsspec's business: untouched
    assert parse_location("/data", {"auto_mkdir": "maybe"}).fs_args == {"auto_mkdir": "maybe"}


@pytest.mark.parametrize("protocol, key, value", [
    ("webdav", "insecure", "maybe"), ("webdav", "timeout", "abc"), ("webdav", "verify", 7),
    ("webdav", "max_connections", 0), ("ssh", "accept_new_host_key", "sure"), ("ssh", "port", 99999),
    ("ssh", "timeout", -1), ("ssh", "listing", "ls"), ("ssh", "client_keys", 5), ("ssh", "fsync", "x"),
    ("ssh", "listing_cache", "x"), ("ssh", "allow_agent", 2), ("ssh", "look_for_keys", "x"),
])
def test_normalize_names_the_bad_key(protocol: str, key: str, value: object) -> None:
    with pytest.raises(OptionError) as info:
        normalize_fs_args(protocol, {key: value})
    assert info.value.key == key


def test_secret_values_never_appear_in_messages() -> None:
    with pytest.raises(OptionError) as info:
        normalize_fs_args("ssh", {"password": ["hunter2-secret"]})
    assert "hunter2" not in str(info.value)


# -- typed options per kind of root (issue #14, item 6) ---------------------------------------


def test_each_store_builds_its_options_once_keywords_over_fs_args() -> None:
    from synctui.storage.options import LocalOptions, SFTPOptions, WebDAVOptions

    dav = WebDAVOptions.build({"insecure": "no", "list_workers": "4", "max_connections": 9},
                              max_connections=2, list_workers=None)
    assert (dav.insecure, dav.list_workers, dav.max_connections, dav.probe_writes) == (False, 4, 2, True)
    assert SFTPOptions.build({"listing": "SFTP", "fsync": "yes"}).listing == "sftp"
    assert SFTPOptions.build({}).max_idle == 16
    assert LocalOptions.build({"fsync": "0"}).fsync is False
    assert LocalOptions.build({"fsync": "0"}, fsync=True).fsync is True
    with pytest.raises(OptionError) as err:
        WebDAVOptions.build({}, probe_writes="perhaps")
    assert err.value.key == "probe_writes"


def test_the_fs_args_table_is_the_options_fields() -> None:
    from dataclasses import fields

    from synctui.storage.options import FS_ARGS, OPTIONS

    for protocol, kind in OPTIONS.items():
        assert set(FS_ARGS[protocol]) == {f.name for f in fields(kind)}


def test_secrets_stay_out_of_the_options_repr() -> None:
    from synctui.storage.options import SFTPOptions, WebDAVOptions

    text = repr(WebDAVOptions.build({"password": "hunter2", "token": "tok", "auth": ["u", "pw9"]}))
    text += repr(SFTPOptions.build({"password": "hunter2", "passphrase": "pp"}))
    assert not any(s in text for s in ("hunter2", "tok'", "pw9", "'pp'"))


def test_an_unknown_fs_arg_is_a_warning_naming_it() -> None:
    from synctui.storage.options import unknown_fs_args

    assert unknown_fs_args("webdav", {"insecrue": True, "base_url": "x", "auto_mkdir": True},
                           "c.json: overlay_fs_args") == [
        "c.json: overlay_fs_args: unknown setting 'insecrue' for a webdav root, ignored "
        "(did you mean 'insecure'?)"]
    assert unknown_fs_args("ssh", {"host": "h", "port": 22}) == []
    assert unknown_fs_args("local", {"colour": 1}) == [
        "fs_args: unknown setting 'colour' for a local root, ignored"]
