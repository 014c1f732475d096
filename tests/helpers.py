"""Small helpers shared by test modules (imported as ``helpers``: pytest puts tests/ on the path)."""

from __future__ import annotations

import time
from typing import Callable


def wait_until(pred: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``pred`` every 50 ms until it holds (True) or ``timeout`` seconds pass (False)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


_RUN = __import__("secrets").token_hex(3)  # this test run's own: a real cluster keeps earlier runs' sets
_count = __import__("itertools").count()


def unique_set(prefix: str) -> str:
    """A set name no earlier run used (tests against a real cluster see what earlier runs left)."""
    return f"{prefix}{_RUN}_{next(_count)}"

