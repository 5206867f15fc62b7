"""The Textual app (``synctui.tui.app.run_app``): the only layer that imports Textual."""
