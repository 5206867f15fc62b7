"""TLS settings from the command line (``--ca-bundle``, ``--insecure``) for https WebDAV roots.

They travel the way a config's own settings do: as the root's fs_args
(``ca_bundle``, ``insecure``; WebDAVStore reads them), overriding what the config
says for every https WebDAV root of a project.  Other roots are left alone.  This
module knows roots only; ``synctui.project.tls`` applies the options to a project.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from synctui.errors import SyncTuiError
from synctui.storage.options import WebDAVOptions
from synctui.storage.url import Location


def is_https_webdav(location: Location) -> bool:
    return location.protocol == "webdav" and (location.base_url or "").lower().startswith("https://")


def fs_tls(fs_args: Mapping[str, Any]) -> tuple[bool, str | None]:
    """(certificate checks off, CA bundle) as a root's fs_args say (``WebDAVOptions.tls``)."""
    return WebDAVOptions.build(fs_args).tls()


def tls_off_roots(locations: Iterable[Location | None]) -> list[str]:
    """The https WebDAV roots (as displayed) that will be used without certificate checks."""
    roots: list[str] = []
    for loc in locations:
        if (loc is not None and is_https_webdav(loc) and fs_tls(loc.fs_args or {})[0]
                and loc.display not in roots):
            roots.append(loc.display)
    return roots


@dataclass(frozen=True)
class TLSOptions:
    """``ca_bundle``: a PEM file to trust; ``insecure``: no certificate checks at all."""

    ca_bundle: str | None = None
    insecure: bool = False

    def __bool__(self) -> bool:
        return bool(self.ca_bundle) or self.insecure

    def checked(self) -> TLSOptions:
        """These options with the CA bundle's path made absolute; a SyncTuiError (bad
        input, nothing written) when the flags contradict or the bundle is unusable."""
        if self.ca_bundle and self.insecure:
            raise SyncTuiError("--ca-bundle and --insecure contradict each other: give one of them")
        if not self.ca_bundle:
            return self
        path = os.path.abspath(os.path.expanduser(self.ca_bundle))
        if not os.path.isfile(path):
            raise SyncTuiError(f"--ca-bundle {self.ca_bundle}: no such file (give the PEM file with the "
                               "server's certificate or the CA that signed it)")
        import ssl

        try:
            ssl.create_default_context(cafile=path)
        except (OSError, ssl.SSLError) as exc:
            reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or exc
            raise SyncTuiError(f"--ca-bundle {self.ca_bundle}: not a usable PEM certificate file "
                               f"({reason})") from None
        return dataclasses.replace(self, ca_bundle=path)

    def apply_location(self, location: Location) -> Location:
        """``location`` with these options in its fs_args, if it is an https WebDAV root."""
        if not self or not is_https_webdav(location):
            return location
        args = dict(location.fs_args or {})
        args.pop("verify", None)  # the requests-style spelling of the same settings
        if self.insecure:
            args["insecure"] = True
            args.pop("ca_bundle", None)
        else:
            args["ca_bundle"] = self.ca_bundle
            args["insecure"] = False
        return dataclasses.replace(location, fs_args=args)

    def warnings(self, locations: Iterable[Location | None]) -> list[str]:
        """One-line warnings for the user about these roots (with these options applied):
        certificate checks off, by this flag or by a root's fs_args, or flags with
        nothing to apply to."""
        locations = [loc for loc in locations if loc is not None]
        if self and not any(is_https_webdav(loc) for loc in locations):
            name = "--insecure" if self.insecure else "--ca-bundle"
            return [f"{name}: neither project has an https WebDAV root; ignored"]
        off = tls_off_roots(locations)
        if not off:
            return []
        why = "--insecure: " if self.insecure else ""
        where = "" if self.insecure else " (insecure/verify in the config's fs_args)"
        return [f"{why}TLS certificate checks are OFF for {', '.join(off)}{where}: anyone on the "
                "network path can read and change this sync"]
