from synctui.cli import entry

if __name__ == "__main__":  # not when a worker process (multiprocessing spawn) imports it again
    raise SystemExit(entry())
