"""Anonymous HTTP to the portal: one httpx client, every call through the one RetryPolicy.

429 and 5xx answers and connection failures are transient (copick issue #335: parallel
jobs got 503s); what is still failing after the policy's tries becomes one line: an
unreachable portal is ConnectionFailed (exit 6), and so is one still rate limiting us.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from synctui.errors import ConnectionFailed, StoreError
from synctui.storage.deadline import Interrupt
from synctui.storage.retry import RetryPolicy, transient

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


class PortalHTTPError(StoreError):
    """An answer we cannot use; ``status`` for code that branches (404: no such key)."""

    def __init__(self, message: str, *, status: int | None = None, transient: bool = False) -> None:
        super().__init__(message, transient=transient)
        self.status = status


class PortalUnreachable(ConnectionFailed):
    """The portal (GraphQL or bucket) cannot be reached, or keeps refusing us (429/503)."""

    def __init__(self, message: str, *, rate_limited: bool = False) -> None:
        super().__init__(message)
        self.rate_limited = rate_limited


class PortalHTTP:
    """A thread-safe httpx client with the retry policy around each request."""

    def __init__(self, timeout: float, policy: RetryPolicy | None = None) -> None:
        self.timeout = timeout
        self.policy = policy or RetryPolicy()
        self.interrupt = Interrupt()
        self._client: Any = None
        self._lock = threading.Lock()

    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                from synctui.storage._httpx import httpx

                self._client = httpx.Client(timeout=self.timeout, follow_redirects=True,
                                            headers={"User-Agent": "synctui"},
                                            limits=httpx.Limits(max_connections=32))
            return self._client

    def request(self, what: str, method: str, url: str, *, ok: tuple[int, ...] = (200,),
                read: Callable[[Any], Any] | None = None, **kwargs: Any) -> Any:
        """Send (retrying transient failures); ``read(response)`` runs inside the retry, so a
        body broken off mid-way is read again.  Returns what ``read`` gives, or the response."""
        from synctui.storage._httpx import httpx

        def once() -> Any:
            if self.interrupt.is_set:
                raise StoreError(f"{what}: cancelled")
            try:
                resp = self.client().request(method, url, **kwargs)
                if resp.status_code in RETRY_STATUS:
                    raise PortalHTTPError(f"{what}: HTTP {resp.status_code}", status=resp.status_code,
                                          transient=True)
                if resp.status_code not in ok:
                    raise PortalHTTPError(f"{what}: HTTP {resp.status_code}", status=resp.status_code)
                return read(resp) if read is not None else resp
            except httpx.TransportError as exc:
                raise PortalHTTPError(f"{what}: {type(exc).__name__}: {exc}", transient=True) from exc

        try:
            return self.policy.call(once, interrupt=self.interrupt, should_retry=transient)
        except PortalHTTPError as exc:
            if not exc.transient:
                raise
            if exc.status in (429, 503):
                raise PortalUnreachable(f"{what}: the portal is rate limiting or overloaded (HTTP "
                                        f"{exc.status}, {self.policy.attempts} tries); try again "
                                        "later", rate_limited=True) from exc
            if exc.status is None:
                raise PortalUnreachable(f"{what}: cannot reach {_host(url)} ({exc.message.split(': ', 1)[-1]})") from exc
            raise

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
