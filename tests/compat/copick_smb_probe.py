"""copick_probe.py for configs with ``smb://`` roots: run INSIDE a copick venv.

copick sends every INFO record to stdout (its RichHandler on the root logger), and
smbprotocol logs each connection at INFO: that would corrupt the probe's JSON, so the
SMB client's loggers are held at WARNING before the probe runs."""

import logging
import runpy
import sys
from pathlib import Path

import copick  # noqa: F401 - sets up copick's logging first

for name in ("smbprotocol", "smbclient", "spnego", "fsspec"):
    logging.getLogger(name).setLevel(logging.WARNING)

sys.argv[0] = str(Path(__file__).with_name("copick_probe.py"))
runpy.run_path(sys.argv[0], run_name="__main__")
