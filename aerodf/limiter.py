"""A bound on operations in flight, shared by every thread of one client.

Callers beyond ``max_in_flight`` wait (threads on a condition, coroutines on
a future that a release in any thread resolves), and a wait longer than
``queue_timeout`` raises :class:`~aerodf.errors.BackpressureError`. Threads and
coroutines share one count. ``max_in_flight=0`` turns the
bound off (the slot is then a no-op with no lock taken). Size it below the
per-node connection pool: total load on the cluster is
processes x max_in_flight.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import AsyncIterator, Iterator

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
        self._async_waiters: deque = deque()

    @property
    def enabled(self) -> bool:
        return self.max_in_flight > 0

    def acquire(self, timeout: float | None = None) -> None:
        """Take a slot from a thread, waiting up to ``timeout`` (default ``queue_timeout``)."""
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
            # also wake one waiting coroutine (in whatever loop it waits); the first
            # of the woken to take the lock gets the slot, the other waits again
            while self._async_waiters:
                loop, fut = self._async_waiters.popleft()
                if not fut.done():
                    loop.call_soon_threadsafe(_wake, fut)
                    break

    def _try_take(self) -> bool:
        if self._in_flight < self.max_in_flight:
            self._in_flight += 1
            if self._in_flight > self._peak:
                self._peak = self._in_flight
            return True
        return False

    async def acquire_async(self, timeout: float | None = None) -> None:
        """Take a slot from a coroutine without blocking its event loop."""
        timeout = self.queue_timeout if timeout is None else timeout
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        counted = False
        try:
            while True:
                with self._cond:
                    if self._try_take():
                        return
                    fut = loop.create_future()
                    self._async_waiters.append((loop, fut))
                    if not counted:
                        counted = True
                        self._waiting += 1
                        self._total_waits += 1
                left = None if deadline is None else deadline - loop.time()
                if left is not None and left <= 0:
                    raise asyncio.TimeoutError
                await asyncio.wait_for(fut, left)
        except asyncio.TimeoutError:
            with self._cond:
                self._rejections += 1
            raise BackpressureError(
                f"no in-flight slot free within {timeout}s (max_in_flight={self.max_in_flight})"
            ) from None
        finally:
            if counted:
                with self._cond:
                    self._waiting -= 1

    @asynccontextmanager
    async def aslot(self) -> AsyncIterator[None]:
        """Hold one in-flight slot in a coroutine (shares the count with :meth:`slot`)."""
        if not self.max_in_flight:
            yield
            return
        await self.acquire_async()
        try:
            yield
        finally:
            self.release()

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


def _wake(fut: "asyncio.Future") -> None:
    if not fut.done():
        fut.set_result(None)
