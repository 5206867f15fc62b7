"""The copick virtual environments of ``tests/compat``: one per tested copick release.

copick is never a dependency of synctui (copick 1.x pins zarr<3, synctui needs zarr 3;
copick 2 is a pre-release), so each release lives in its own venv, made once and
reused: ``<cache>/copick-venv-<version>`` with ``<cache>`` =
``$SYNCTUI_COMPAT_VENVS`` or ``~/.cache/synctui``.  ``bash scripts/test.sh`` builds
both before pytest runs (``python tests/compat/venvs.py``); the fixtures build a
missing one on first use, so ``pytest tests/compat`` alone works too.

Run as a script it builds every venv and exits non-zero if one cannot be made.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Release:
    version: str  # as pip spells it
    reported: str  # as ``copick.__version__`` says it
    requirements: tuple[str, ...]  # what copick needs to open local projects; pip resolves the rest
    zarr_major: str
    pre: bool = False  # a pre-release: pip needs --pre
    #: modules an extra brings (copick's smb extra: smbprotocol), checked with copick
    extra_imports: tuple[str, ...] = ()

    @property
    def check(self) -> str:
        """Python that fails unless the venv holds exactly this release."""
        extra = "".join(f", {name}" for name in self.extra_imports)
        return (f"import copick, zarr, trimesh{extra}; "
                f"assert copick.__version__ == {self.reported!r}, copick.__version__; "
                f"assert zarr.__version__.startswith({self.zarr_major + '.'!r}), zarr.__version__")


RELEASES = {
    #: s3fs: the S3 compat test has copick read an s3:// target through its own fsspec; the smb
    #: extra (smbprotocol): tests/compat/test_copick_smb.py reads an smb:// root
    1: Release("1.31.0", "1.31.0", ("copick[smb]==1.31.0", "zarr<3", "trimesh", "s3fs"), "2",
               extra_imports=("smbprotocol",)),
    2: Release("2.0.0a6", "2.0.0-alpha.6", ("copick==2.0.0a6", "trimesh"), "3", pre=True),
}


class Unavailable(Exception):
    """A venv cannot be made here (no network, no venv module ...): the reason."""


def cache_dir() -> Path:
    default = Path.home() / ".cache" / "synctui"
    return Path(os.environ.get("SYNCTUI_COMPAT_VENVS") or default).expanduser()


def venv_dir(release: Release) -> Path:
    return cache_dir() / f"copick-venv-{release.version}"


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a venv's python: nothing of synctui's leaks in."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(extra)
    return env


def _stamp(release: Release) -> Path:
    return venv_dir(release) / "synctui-checked.txt"


def works(python: Path, release: Release) -> bool:
    """The venv holds ``release`` (importing copick takes seconds: checked once, then stamped)."""
    if not python.exists():
        return False
    stamp = _stamp(release)
    if stamp.exists() and stamp.read_text() == release.check:
        return True
    try:
        done = subprocess.run([str(python), "-c", release.check], capture_output=True,
                              timeout=120, env=clean_env())
    except (OSError, subprocess.TimeoutExpired):
        return False
    if done.returncode == 0:
        stamp.write_text(release.check)
    return done.returncode == 0


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock next to the venv, so parallel test runs install once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        try:
            import fcntl
        except ImportError:  # Windows: no lock, a race only costs a second install
            yield
            return
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _install(venv: Path, release: Release) -> None:
    if venv.exists() and any(venv.iterdir()) and not (venv / "pyvenv.cfg").exists():
        raise Unavailable(f"{venv} exists and is not a virtual environment; "
                          "set SYNCTUI_COMPAT_VENVS to another folder")
    pip = [str(venv_python(venv)), "-m", "pip", "install", "--disable-pip-version-check",
           "--timeout", "30", "--retries", "2", "--no-compile",
           *(["--pre"] if release.pre else []), *release.requirements]
    for cmd in ([sys.executable, "-m", "venv", "--clear", str(venv)], pip):
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                                  env=clean_env())
        except subprocess.TimeoutExpired as exc:
            raise Unavailable(f"installing copick {release.version} timed out: "
                              f"{' '.join(cmd)}") from exc
        if done.returncode != 0:
            lines = [line for line in (done.stderr or done.stdout).strip().splitlines()
                     if not line.startswith("WARNING: Location")]  # pip's noise about indexes
            tail = "\n".join(lines[-8:])
            raise Unavailable(f"cannot install copick {release.version} into {venv} "
                              f"(no network?): {' '.join(cmd[2:4])} failed:\n{tail}")


def ensure(release: Release) -> Path:
    """The python of a venv holding ``release``, made if missing; raises ``Unavailable``."""
    venv = venv_dir(release)
    python = venv_python(venv)
    if works(python, release):
        return python
    with _locked(venv.with_name(venv.name + ".lock")):
        if not works(python, release):  # another run may have installed it meanwhile
            start = time.monotonic()
            _install(venv, release)
            if not works(python, release):
                raise Unavailable(f"copick {release.version} installed into {venv} but "
                                  f"`{release.check}` fails there")
            print(f"copick {release.version} installed into {venv} in "
                  f"{time.monotonic() - start:.0f} s", file=sys.stderr)
    return python


def _report(release: Release) -> bool:
    try:
        print(f"copick {release.version}: {ensure(release)}", flush=True)
        return True
    except Unavailable as exc:
        print(f"copick {release.version}: {exc}", file=sys.stderr, flush=True)
        return False


def main() -> int:
    """Build every venv, side by side (pip mostly waits on the network)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(len(RELEASES)) as pool:
        ok = list(pool.map(_report, RELEASES.values()))
    return 0 if all(ok) else 1


if __name__ == "__main__":
    sys.exit(main())
