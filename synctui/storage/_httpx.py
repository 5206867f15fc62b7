"""Import httpx without its command-line client.

``import httpx`` also imports ``httpx._main`` (its CLI), which pulls in click
and pygments when they are installed: about 0.2 s of a synctui start for code
we never run.  Blocking that one submodule makes httpx fall back to its own
stub ``main``; the block is lifted right after, so an explicit
``import httpx._main`` elsewhere still works.
"""

from __future__ import annotations

import sys

if "httpx" not in sys.modules and "httpx._main" not in sys.modules:
    sys.modules["httpx._main"] = None  # type: ignore[assignment]
    try:
        import httpx
    finally:
        if sys.modules.get("httpx._main", 0) is None:
            del sys.modules["httpx._main"]
else:
    import httpx

__all__ = ["httpx"]
