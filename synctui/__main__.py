from synctui.cli import entry

raise SystemExit(entry())
