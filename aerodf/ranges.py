"""Partition ranges: a span of the 4096 partitions cut into contiguous pieces.

Pure arithmetic, shared by the scan engine (:mod:`aerodf.query`) and the
planner of engine tasks (:mod:`aerodf.partitions`), so neither imports the other
for it.
"""

from __future__ import annotations

import bisect
from typing import Any, Sequence

from .errors import ConfigError
from .protocol.constants import N_PARTITIONS


def partition_span(partitions: Any) -> tuple[int, int]:
    """``(begin, count)`` of ``None`` (all 4096), ``range(b, e)`` or ``(begin, count)``."""
    if partitions is None:
        begin, count = 0, N_PARTITIONS
    elif isinstance(partitions, range) and partitions.step == 1:
        begin, count = partitions.start, len(partitions)
    elif isinstance(partitions, tuple) and len(partitions) == 2:
        begin, count = partitions
    else:
        raise ConfigError("partitions must be None, range(begin, end) or (begin, count)")
    if not (isinstance(begin, int) and isinstance(count, int)) or not (
            0 <= begin and count > 0 and begin + count <= N_PARTITIONS):
        raise ConfigError(f"partitions {begin}..{begin + count - 1} outside 0..4095")
    return begin, count


def split(partitions: Any, pieces: int, *, masters: Sequence[int] | None = None) -> list[tuple[int, int]]:
    """Cut a partition span into ``pieces`` contiguous ``(begin, count)`` ranges.

    Parameters
    ----------
    partitions
        ``None`` (all 4096), ``range(begin, end)`` or ``(begin, count)``.
    pieces
        How many ranges (at most one per partition).
    masters
        The master node (any id) of each of the 4096 partitions. When given,
        each cut moves to the nearest change of master within a quarter of a
        range's size, so that ranges align to nodes where the map allows.

    Returns
    -------
    list of (begin, count)
        Contiguous, non-empty, covering the span exactly once, in order.

    Examples
    --------
    >>> split(None, 3)
    [(0, 1366), (1366, 1365), (2731, 1365)]
    >>> split((0, 8), 2, masters=[0, 0, 0, 1, 1, 1, 1, 1] + [1] * 4088)
    [(0, 3), (3, 5)]
    """
    begin, count = partition_span(partitions)
    pieces = max(1, min(int(pieces), count))
    step, extra = divmod(count, pieces)
    cuts, at = [], begin
    for i in range(pieces - 1):
        at += step + (1 if i < extra else 0)
        cuts.append(at)
    if masters is not None and pieces > 1:
        if len(masters) != N_PARTITIONS:
            raise ConfigError(f"masters must name the master of each of the {N_PARTITIONS} partitions")
        changes = [p for p in range(begin + 1, begin + count) if masters[p] != masters[p - 1]]
        slack = step // 4
        if changes and slack:
            aligned, low = [], begin
            for cut in cuts:
                i = bisect.bisect_left(changes, cut)
                near = [c for c in changes[max(0, i - 1):i + 1] if abs(c - cut) <= slack and c > low]
                best = min(near, key=lambda c: abs(c - cut)) if near else cut
                best = best if best > low else cut
                aligned.append(best)
                low = best
            if all(b > a for a, b in zip([begin] + aligned, aligned + [begin + count])):
                cuts = aligned
    edges = [begin] + cuts + [begin + count]
    return [(a, b - a) for a, b in zip(edges, edges[1:])]
