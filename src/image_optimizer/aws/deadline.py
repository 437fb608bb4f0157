"""Stopping before Lambda's timeout, as a transient failure, instead of being killed mid-upload.

At the start of an invocation the handler takes the time it has left (`context.get_remaining_time_in_millis()`)
and keeps a reserve: no upload starts after that point, and an upload still running then is interrupted by an
OutOfTime raised in the main thread (SIGALRM: between two Python steps; a single long native call, such as one
HEIF decode, ends first). Every step of the service is one a retry finishes (renditions before the delete, copy
before the delete), so an interrupted upload is simply failed and retried, never half-done."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from types import FrameType
from typing import Protocol

RESERVE_FRACTION = 0.1  # of the time an invocation starts with: 6 s of the default 60 s
RESERVE_MIN_S, RESERVE_MAX_S = 1.0, 10.0


class OutOfTime(BaseException):
    """Transient: the invocation stopped before its timeout. A BaseException, like KeyboardInterrupt, because it
    is raised asynchronously: a broad `except Exception` in a decoder must not take it for a bad image."""


class StoppedEarly(Exception):
    """OutOfTime that reached the invocation's edge (outside any one upload): an ordinary exception there, so Lambda's
    runtime reports it as a failure of the invocation rather than dying on it."""


class HasRemainingTime(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


# Per thread (tests run invocations on threads): the monotonic time after which nothing new starts.
_local = threading.local()


def reserve_for(remaining_s: float) -> float:
    return min(RESERVE_MAX_S, max(RESERVE_MIN_S, remaining_s * RESERVE_FRACTION))


def check() -> None:
    """Raise OutOfTime when the invocation is past its stopping point (called before each upload)."""
    stop_at: float | None = getattr(_local, "stop_at", None)
    if stop_at is not None and time.monotonic() >= stop_at:
        raise OutOfTime("stopped before the function's timeout; the upload is left for a retry")


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    check()  # the timer only fires past the stopping point, so this raises


@contextlib.contextmanager
def stop_before_timeout(context: HasRemainingTime) -> Iterator[None]:
    """For one invocation: the stopping point, and (in the main thread) a timer that interrupts at it. A timer
    already set (a test runner's timeout) is put back afterwards with the time it had left."""
    remaining = context.get_remaining_time_in_millis() / 1000
    budget = max(0.0, remaining - reserve_for(remaining))
    started = time.monotonic()
    _local.stop_at = started + budget
    armed = threading.current_thread() is threading.main_thread() and budget > 0
    if armed:
        previous = signal.signal(signal.SIGALRM, _interrupt)
        earlier, _ = signal.setitimer(signal.ITIMER_REAL, budget)
    try:
        yield
    except OutOfTime as error:
        raise StoppedEarly(str(error)) from None
    finally:
        if armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
            if earlier:
                signal.setitimer(signal.ITIMER_REAL, max(0.001, earlier - (time.monotonic() - started)))
        _local.stop_at = None
