"""One exception family whose messages a user can act on.

Every error that can reach a user is a ``SyncTuiError``: the CLI and the TUI show
``str(err)`` (one line) and the log keeps the traceback.  ``exit_code`` lets the
CLI map each family member to a documented process exit status.
"""

from __future__ import annotations

# Exit codes, documented in `synctui --help` and the README.
EXIT_OK = 0
EXIT_PARTIAL = 1  # some items failed, the rest were done
EXIT_BAD_INPUT = 2  # config, rules, URL, names, flags: nothing was written
EXIT_LOCKED = 3  # a lock is held by someone else
EXIT_CANCELLED = 4  # interrupted by the user or a signal
EXIT_CONFLICTS = 5  # conflicts were left untouched (nothing failed)
EXIT_CONNECTION = 6  # a store could not be reached or authenticated


class SyncTuiError(Exception):
    """Base of every user-facing error."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = " ".join(str(message).split())  # always one line

    def __str__(self) -> str:
        return self.message


class ConfigError(SyncTuiError):
    """A project config that cannot be loaded or is not valid copick."""


class OptionError(ConfigError):
    """A typed setting (an fs_arg, an environment variable) holding a value of the wrong kind.

    ``key`` names the setting and ``problem`` says what is wrong with it, so the config
    loader can name its file and the fs_args it sits in without reading this message."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


class NameError_(SyncTuiError):
    """A name copick would reject (object, user, session, run ...)."""


class LocationError(SyncTuiError):
    """A root URL that cannot be parsed or is not supported."""


class RulesError(SyncTuiError):
    """Filter or mapping rules that contradict themselves or copick's names."""


class PlanError(SyncTuiError):
    """A saved plan that cannot be read or no longer fits its projects."""


class StoreError(SyncTuiError):
    """An I/O failure on a store.  ``transient`` ones are worth a retry; ``retried`` ones
    already had theirs in the store (storage/retry.py), so the engine does not retry
    them again (the two levels would multiply)."""

    exit_code = EXIT_PARTIAL

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient
        self.retried = False


class PathEscapeError(StoreError):
    """A relative path that would leave the store's root."""

    exit_code = EXIT_BAD_INPUT


class MissingPathError(StoreError):
    """A path that is not there (or no longer): callers test for this type, not the text."""


class RootError(StoreError):
    """A project root that is missing, is not a folder, or cannot be listed.

    Found before planning, so nothing was written.  ``problem`` says which
    (``MISSING``, ``NOT_A_FOLDER``, ``UNREADABLE``): a new target may be missing,
    a source never (its empty listing would read as "everything was deleted").
    """

    exit_code = EXIT_BAD_INPUT
    MISSING = "missing"
    NOT_A_FOLDER = "not a folder"
    UNREADABLE = "unreadable"

    def __init__(self, message: str, *, problem: str) -> None:
        super().__init__(message)
        self.problem = problem


class ConnectionFailed(StoreError):
    """A remote store that cannot be reached, authenticated or trusted."""

    exit_code = EXIT_CONNECTION


class UnguardedWrites(ConnectionFailed):
    """A server that ignores conditional creates (``If-None-Match: *``): no lock there is
    safe, so nothing is written unless the user accepts unguarded writes.  ``server``
    names it and ``reason`` says what the probe saw."""

    def __init__(self, root: str, server: str, reason: str) -> None:
        super().__init__(f"{root}: {server} ignores conditional writes (If-None-Match: *; {reason}), "
                         "so no lock there is safe; nothing was written (pass "
                         "--allow-unguarded-writes to write anyway)")
        self.root = root
        self.server = server
        self.reason = reason


class PruneRefused(SyncTuiError):
    """A prune that looks like a mistake (most of the target, or after an empty source
    listing), or one over the user's ``max_delete``: refused before anything is written.

    ``why`` is ``EMPTY_SOURCE``, ``OVER_HALF`` or ``OVER_MAX_DELETE``."""

    EMPTY_SOURCE = "empty source"
    OVER_HALF = "over half"
    OVER_MAX_DELETE = "over max-delete"

    def __init__(self, reason: str, *, why: str, pruned: int, target_entities: int) -> None:
        super().__init__(f"{reason}; nothing was written")
        self.reason = reason
        self.why = why
        self.pruned = pruned
        self.target_entities = target_entities


class LockHeldError(SyncTuiError):
    """Another sync holds a lock we need.

    The fields say who holds it and whether it is stale, so an interface can offer
    to break a stale one without reading the message.  ``detail`` is the message
    without the command-line advice (``--break-lock``)."""

    exit_code = EXIT_LOCKED

    def __init__(self, message: str, *, owner: str | None = None, pid: int | None = None,
                 age: float | None = None, stale: bool = False, stale_reason: str | None = None,
                 detail: str | None = None) -> None:
        super().__init__(message)
        self.owner = owner
        self.pid = pid
        self.age = age
        self.stale = stale
        self.stale_reason = stale_reason
        self.detail = " ".join(detail.split()) if detail else self.message

    @property
    def holder(self) -> str:
        """Who holds it, as a person reads it: ``user@host (pid 12)``."""
        if self.owner is None:
            return "another sync"
        return f"{self.owner} (pid {self.pid})" if self.pid is not None else self.owner


class ClusterError(SyncTuiError):
    """A Dask cluster that cannot be used (issue #19).  ``problem`` is ``MISSING_EXTRA``
    (distributed is not installed), ``BAD_SPEC`` (a ``--cluster`` value that means
    nothing) or ``UNREACHABLE`` (no scheduler, or no workers joined it)."""

    MISSING_EXTRA = "missing extra"
    BAD_SPEC = "bad spec"
    UNREACHABLE = "unreachable"

    def __init__(self, message: str, *, problem: str) -> None:
        super().__init__(message)
        self.problem = problem
        if problem == self.UNREACHABLE:
            self.exit_code = EXIT_CONNECTION


class SyncCancelled(SyncTuiError):
    """The user or a signal stopped the sync while a store was failing under the cancel
    (its requests broken off on purpose): said as a cancel, not as that store's error."""

    exit_code = EXIT_CANCELLED
