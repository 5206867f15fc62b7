"""Widgets the screens share: project trees, the header, the detail pane, steady inputs."""
