"""Ordered, bounded pipelining of chunk requests.

Chunks are submitted to the client's request threads at most ``window``
ahead of the one being consumed, and yielded in submission order, so the
caller decodes chunk k while chunks k+1 .. k+window are in flight and memory
holds at most ``window + 1`` chunk answers.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Executor
from typing import Any, Callable, Iterable, Iterator


def pipelined(executor: Executor, bounds: Iterable[tuple[int, int]], fn: Callable[[int, int], Any],
              window: int) -> Iterator[tuple[int, int, Any]]:
    """``(start, end, fn(start, end))`` for each bound, in order; at most ``window`` in flight.

    A single chunk (a feature fetch of a few hundred keys) runs in the caller's
    thread: there is nothing to overlap, and a hop through the pool costs latency.
    """
    bounds = list(bounds)
    if len(bounds) == 1:
        s, e = bounds[0]
        yield s, e, fn(s, e)
        return
    it = iter(bounds)
    pending: deque = deque()
    try:
        for s, e in it:
            pending.append((s, e, executor.submit(fn, s, e)))
            if len(pending) >= max(1, window):
                break
        while pending:
            s, e, fut = pending.popleft()
            result = fut.result()
            nxt = next(it, None)
            if nxt is not None:
                pending.append((*nxt, executor.submit(fn, *nxt)))
            yield s, e, result
    finally:
        for _, _, fut in pending:
            fut.cancel()
