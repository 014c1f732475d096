"""A bound on operations in flight, shared by every thread of one client.

Callers beyond ``max_in_flight`` wait; a wait longer than ``queue_timeout``
raises :class:`~aerodf.errors.BackpressureError`. ``max_in_flight=0`` turns the
bound off (the slot is then a no-op with no lock taken). Size it below the
per-node connection pool: total load on the cluster is
processes x max_in_flight.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from .errors import BackpressureError, ConfigError


@dataclass(frozen=True)
class LimiterStats:
    in_flight: int
    waiting: int
    total_waits: int
    total_rejections: int
    peak: int


class Limiter:
    """Counts operations in flight; see the module docstring."""

    def __init__(self, max_in_flight: int = 0, queue_timeout: float | None = None) -> None:
        if not isinstance(max_in_flight, int) or max_in_flight < 0:
            raise ConfigError(f"max_in_flight must be a non-negative integer, not {max_in_flight!r}")
        if queue_timeout is not None and queue_timeout < 0:
            raise ConfigError("queue_timeout must be None or non-negative seconds")
        self.max_in_flight = max_in_flight
        self.queue_timeout = queue_timeout
        self._cond = threading.Condition(threading.Lock())
        self._in_flight = 0
        self._waiting = 0
        self._total_waits = 0
        self._rejections = 0
        self._peak = 0

    @property
    def enabled(self) -> bool:
        return self.max_in_flight > 0

    def acquire(self, timeout: float | None = None) -> None:
        timeout = self.queue_timeout if timeout is None else timeout
        with self._cond:
            if self._in_flight >= self.max_in_flight:
                self._waiting += 1
                self._total_waits += 1
                deadline = None if timeout is None else time.monotonic() + timeout
                try:
                    while self._in_flight >= self.max_in_flight:
                        left = None if deadline is None else deadline - time.monotonic()
                        if left is not None and left <= 0:
                            self._rejections += 1
                            raise BackpressureError(
                                f"no in-flight slot free within {timeout}s "
                                f"(max_in_flight={self.max_in_flight}, {self._waiting} waiting)"
                            )
                        self._cond.wait(left)
                finally:
                    self._waiting -= 1
            self._in_flight += 1
            if self._in_flight > self._peak:
                self._peak = self._in_flight

    def release(self) -> None:
        with self._cond:
            self._in_flight -= 1
            self._cond.notify()

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one in-flight slot for the duration of the block."""
        if not self.max_in_flight:
            yield
            return
        self.acquire()
        try:
            yield
        finally:
            self.release()

    def stats(self) -> LimiterStats:
        with self._cond:
            return LimiterStats(self._in_flight, self._waiting, self._total_waits, self._rejections, self._peak)
