"""One screen (or dialog) per module; the App pushes them and broadcasts plan and sync changes."""
