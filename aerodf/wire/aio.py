"""Batch reads on the wire from an asyncio event loop: the request loop of
:func:`aerodf.wire.batch.attempts` driven with asyncio streams.

The policy (timeouts, retries, replica sequence, the errors naming the keys
not read) is the generator's, shared with the blocking driver; this module
only does the I/O: connections per node in pools of its own (asyncio
streams, bounded by the cluster's ``max_conns_per_node``), every request
sent before any answer is read, each frame read under the attempt's socket
timeout, and with ``timeout_delay`` a late answer drained by a task and its
connection kept. Decoding (the compiled kernel, or NumPy) runs on the loop:
tens of microseconds for a serving-sized answer.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from typing import Any

import numpy as np

from .. import errors as E
from ..policy import BatchPolicy
from ..protocol.constants import MSG_TYPE_COMPRESSED, MSG_TYPE_DATA
from ..protocol.framing import FrameError, check_header, decompress_payload
from ..protocol.message import MessageError
from ..protocol.values import ValueCodecError
from .batch import WireChunk, all_rows, new_answers, make_chunk, attempts, set_digests
from .cluster import Cluster, Node
from .columns import WirePlan
from .walk import looks_last

if sys.version_info >= (3, 11):
    _deadline = asyncio.timeout
else:  # pragma: no cover - Python 3.10
    import contextlib

    @contextlib.asynccontextmanager
    async def _deadline(seconds):
        task = asyncio.current_task()
        handle = asyncio.get_running_loop().call_later(seconds, task.cancel) if seconds is not None else None
        try:
            yield
        except asyncio.CancelledError:
            raise TimeoutError from None
        finally:
            if handle is not None:
                handle.cancel()

_Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


SLOT_POLL = 0.001  # seconds between looks for a node slot the blocking side holds


class NodePool:
    """Idle asyncio connections to one node (LIFO). Each connection in use holds one of
    the node's own slots (:meth:`aerodf.wire.cluster.Node.take_slot`), so blocking and
    asyncio reads together never use more than ``max_conns_per_node`` connections to a node at once."""

    def __init__(self, node: Node, max_conns: int) -> None:
        self.node = node
        self.idle: list[_Conn] = []
        self.slots = asyncio.Semaphore(max_conns)  # this loop's waiters queue here, in order
        self.drained = 0

    async def _node_slot(self) -> None:
        while not self.node.take_slot():
            await asyncio.sleep(SLOT_POLL)

    async def acquire(self, timeout: float | None) -> _Conn:
        node = self.node
        if not self.slots.locked() and self.idle:  # the common case: nothing to wait for, no timer
            await self.slots.acquire()  # returns at once: a slot is free and nobody queues
            if node.take_slot():
                return self.idle.pop()
            self.slots.release()
        try:
            async with _deadline(timeout):
                await self.slots.acquire()
                try:
                    await self._node_slot()
                except BaseException:
                    self.slots.release()
                    raise
        except TimeoutError:
            raise E.ClusterConnectionError(f"no free connection to node {node.name} within {timeout}s",
                                           code=-7) from None
        if self.idle:
            return self.idle.pop()
        try:
            async with _deadline(node.connect_timeout):
                conn = await asyncio.open_connection(node.host, node.port)
        except (OSError, TimeoutError) as exc:
            self._give()
            raise E.ClusterConnectionError(f"cannot connect to node {node.name} at {node.host}:{node.port}: "
                                           f"{exc or 'timeout'}", code=-10) from exc
        sock = conn[1].get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def _give(self) -> None:
        self.node.give_slot()
        self.slots.release()

    def release(self, conn: _Conn, *, healthy: bool) -> None:
        if healthy:
            self.idle.append(conn)
        else:
            conn[1].close()
        self._give()

    def close(self) -> None:
        idle, self.idle = self.idle, []
        for _, w in idle:
            try:
                w.close()
            except RuntimeError:  # its event loop is closed already: the socket goes with it
                pass


class Pools:
    """One :class:`NodePool` per node of a cluster (new nodes get theirs on first use)."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.by_node: dict[int, NodePool] = {}

    def of(self, node: Node) -> NodePool:
        pool = self.by_node.get(id(node))
        if pool is None or pool.node is not node:
            pool = self.by_node[id(node)] = NodePool(node, self.cluster.max_conns)
        return pool

    def close(self) -> None:
        for pool in self.by_node.values():
            pool.close()
        self.by_node = {}


def _buffered(reader: asyncio.StreamReader) -> int:
    """Bytes the stream holds already (read without waiting, so without a timer)."""
    buf = getattr(reader, "_buffer", None)
    return len(buf) if buf is not None else 0


async def _read(reader: asyncio.StreamReader, n: int, timeout: float | None) -> bytes:
    """``n`` bytes within ``timeout``. A timer costs ~10 us on the loop (half of what a
    serving call spends there), so bytes already buffered are taken without one."""
    if timeout is None or _buffered(reader) >= n:
        return await reader.readexactly(n)
    async with _deadline(timeout):
        return await reader.readexactly(n)


async def _frame(reader: asyncio.StreamReader, timeout: float | None) -> tuple[int, bytes]:
    """One frame (decompressed), header and payload each within ``timeout``."""
    try:
        msg_type, length = check_header(await _read(reader, 8, timeout))
        payload = await _read(reader, length, timeout)
    except asyncio.IncompleteReadError:
        raise ConnectionError("connection closed by peer") from None
    if msg_type == MSG_TYPE_COMPRESSED:
        return decompress_payload(payload)
    return msg_type, payload


async def _drain(pool: NodePool, conn: _Conn, delay_ms: int) -> None:
    """``timeout_delay``: read the late answer for up to ``delay_ms``, then keep or close the connection."""
    ok = False
    try:
        async with _deadline(delay_ms / 1000):
            while True:
                msg_type, payload = await _frame(conn[0], None)
                if msg_type != MSG_TYPE_DATA:
                    break
                if looks_last(payload):
                    ok = True
                    break
    except (OSError, ValueError, ConnectionError, TimeoutError):
        pass
    if ok:
        pool.drained += 1
    pool.release(conn, healthy=ok)


async def _exchange(pools: Pools, sock_ms: int, todo: list, answers: Any, policy: BatchPolicy,
                    drains: set) -> list[tuple[str, Any]]:
    """:func:`aerodf.wire.batch._exchange` on asyncio streams."""
    out: list[tuple[str, Any]] = [("", None)] * len(todo)
    timeout = sock_ms / 1000 if sock_ms else None
    sent = []
    for i, (node, _mine, req) in enumerate(todo):
        pool = pools.of(node)
        try:
            conn = await pool.acquire(timeout)
        except E.ClusterConnectionError as exc:
            out[i] = ("acquire", exc)
            continue
        try:
            writer = conn[1]
            writer.write(req)
            if timeout is None or writer.transport.get_write_buffer_size() == 0:
                await writer.drain()  # nothing queued: returns at once (or raises a lost connection)
            else:
                async with _deadline(timeout):
                    await writer.drain()
            sent.append((i, pool, conn))
        except (OSError, TimeoutError) as exc:
            pool.release(conn, healthy=False)
            out[i] = ("send", exc or "timeout")
    for i, pool, conn in sent:
        try:
            answers.start()
            while True:
                code = answers.frame(*await _frame(conn[0], timeout))
                if code is not None:
                    break
        except TimeoutError:
            if policy.timeout_delay:  # drain the late answer, keep the connection
                task = asyncio.ensure_future(_drain(pool, conn, policy.timeout_delay))
                drains.add(task)
                task.add_done_callback(drains.discard)
            else:
                pool.release(conn, healthy=False)
            out[i] = ("timeout", None)
            continue
        except (OSError, ConnectionError, FrameError, MessageError, ValueCodecError) as exc:
            pool.release(conn, healthy=False)
            out[i] = ("io", exc)
            continue
        except BaseException:  # cancelled mid-answer: the connection holds the rest of it
            pool.release(conn, healthy=False)
            for _, p, c in sent[sent.index((i, pool, conn)) + 1:]:
                p.release(c, healthy=False)
            raise
        pool.release(conn, healthy=True)
        out[i] = ("done", code)
    return out


async def read_keys(cluster: Cluster, pools: Pools, namespace: str, set_name: str, user_keys: list,
                    plan: WirePlan, policy: BatchPolicy, drains: set) -> WireChunk:
    """:func:`aerodf.wire.batch.read_keys` on the event loop."""
    n = len(user_keys)
    if n == 0:
        return make_chunk(plan, np.full(0, -15, dtype=np.int64), [], 0)
    answers = new_answers(plan, n)
    steps = attempts(cluster, {(namespace, set_name): all_rows(n)}, set_digests(set_name, user_keys), plan, policy,
                     user_keys.__getitem__, n, answers)
    loop = asyncio.get_running_loop()
    try:
        step = next(steps)
        while True:
            if step[0] == "wait":
                _, refresh, sleep_s = step
                if refresh:  # blocking info calls: off the loop
                    await loop.run_in_executor(None, cluster.refresh)
                if sleep_s:
                    await asyncio.sleep(sleep_s)
                step = steps.send(None)
            else:
                step = steps.send(await _exchange(pools, step[1], step[2], answers, policy, drains))
    except StopIteration as done:
        return done.value
