"""Helpers for tests that run threads: a hang fails the test instead of blocking the run."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable


def run_threads(
    target: Callable[..., Any], args: Iterable[tuple[Any, ...]], *, timeout: float
) -> list[BaseException]:
    """Run ``target(*a)`` in one daemon thread per ``a``; fail if any is still running after
    ``timeout`` seconds; return what the threads raised."""
    errors: list[BaseException] = []

    def guarded(*a: Any) -> None:
        try:
            target(*a)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=a, daemon=True) for a in args]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    hung = sum(t.is_alive() for t in threads)
    if hung:
        pytest.fail(f"{hung} of {len(threads)} threads still blocked after {timeout} s (a hang)")
    return errors
