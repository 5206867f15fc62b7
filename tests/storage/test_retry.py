"""The one retry policy (storage/retry.py): its caps, its classifier, and cancels."""

from __future__ import annotations

import threading
import time

import pytest

from synctui.errors import StoreError
from synctui.storage.deadline import Interrupt
from synctui.storage.retry import ATTEMPTS, RetryPolicy, transient


def failing(errors: list[StoreError]):
    calls: list[int] = []

    def fn() -> str:
        calls.append(1)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return "ok"

    return fn, calls


def test_transient_errors_are_tried_again_until_one_succeeds() -> None:
    fn, calls = failing([StoreError("busy", transient=True)] * 2)
    assert RetryPolicy(backoff=0.001).call(fn) == "ok" and len(calls) == 3


def test_a_call_is_sent_at_most_attempts_times_and_comes_out_marked_retried() -> None:
    fn, calls = failing([StoreError("busy", transient=True) for _ in range(10)])
    with pytest.raises(StoreError) as err:
        RetryPolicy(backoff=0.001).call(fn)
    assert len(calls) == ATTEMPTS and err.value.retried
    assert not transient(err.value)  # nobody above retries it again


def test_permanent_errors_are_not_retried_nor_marked() -> None:
    fn, calls = failing([StoreError("forbidden")])
    with pytest.raises(StoreError) as err:
        RetryPolicy(backoff=0.001).call(fn)
    assert len(calls) == 1 and not err.value.retried


def test_the_store_classifier_decides() -> None:
    fn, calls = failing([StoreError("busy", transient=True)])
    with pytest.raises(StoreError):
        RetryPolicy(backoff=0.001).call(fn, should_retry=lambda exc: False)
    assert len(calls) == 1


def test_backoff_doubles_up_to_its_cap_and_no_try_starts_after_max_elapsed() -> None:
    policy = RetryPolicy(attempts=10, backoff=0.2, max_backoff=1.0, max_elapsed=0.5)
    assert [policy.delay(n) for n in (1, 2, 3, 4)] == [0.2, 0.4, 0.8, 1.0]
    fn, calls = failing([StoreError("busy", transient=True) for _ in range(10)])
    with pytest.raises(StoreError):
        policy.call(fn)
    assert len(calls) == 2  # 0.2 s, then a 0.4 s pause would pass 0.5 s


def test_a_cancel_ends_the_backoff_at_once() -> None:
    interrupt = Interrupt()
    fn, calls = failing([StoreError("busy", transient=True) for _ in range(10)])
    threading.Timer(0.2, interrupt.set).start()
    t0 = time.monotonic()
    with pytest.raises(StoreError):
        RetryPolicy(backoff=30.0, max_backoff=30.0, max_elapsed=600).call(fn, interrupt=interrupt)
    assert time.monotonic() - t0 < 5 and len(calls) == 1
