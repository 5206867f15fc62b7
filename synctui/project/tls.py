"""The command line's TLS options (``--ca-bundle``, ``--insecure``) applied to whole projects.

The storage layer knows how to apply them to one root (``TLSOptions.apply_location``);
a project is the layer above it, so what touches a config lives here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from synctui.project.config import ProjectConfig
from synctui.storage.tls import TLSOptions


def apply_tls(tls: TLSOptions, config: ProjectConfig) -> ProjectConfig:
    """The config with ``tls`` on its https WebDAV roots (its raw JSON untouched, so
    nothing of them is ever saved into the config file)."""
    if not tls:
        return config
    static = tls.apply_location(config.static) if config.static is not None else None
    return dataclasses.replace(config, overlay=tls.apply_location(config.overlay), static=static)


def tls_warnings(tls: TLSOptions, configs: Iterable[ProjectConfig]) -> list[str]:
    """``tls.warnings`` for every root of these projects."""
    return tls.warnings(loc for cfg in configs for loc in (cfg.overlay, cfg.static))


def config_warnings(tls: TLSOptions, configs: Iterable[ProjectConfig]) -> list[str]:
    """All a user must see about these projects before they sync: fs_args no root
    reads (``ProjectConfig.warnings``), then TLS certificate checks that are off."""
    configs = list(configs)
    return [w for cfg in configs for w in cfg.warnings] + tls_warnings(tls, configs)
