"""aerodf's own view of a cluster: nodes, connection pools, the partition map.

Seeds are asked ``node``, ``peers-clear-std``, ``partition-generation`` and
``replicas``; every peer found is asked the same, until no new node appears.
Each node's ``replicas`` bitmaps say which partitions it holds as master
(index 0) and as each replica, so a namespace's map is an array
``owners[replica, partition] -> node index``. A tend thread re-asks each node
``partition-generation`` and ``peers-generation`` every ``tend_interval``
seconds and rebuilds the map when one changed or a node stopped answering;
a request that cannot reach its node asks for a rebuild at once.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..errors import ClusterConnectionError
from ..protocol.constants import MSG_TYPE_DATA, MSG_TYPE_INFO, N_PARTITIONS
from ..protocol.framing import recv_frame
from ..protocol.info import pack_request, parse_replicas, parse_reply
from .walk import looks_last

log = logging.getLogger("aerodf")
MISSES = 3  # refreshes a node may miss before it leaves the map
_PEER = re.compile(r"\[([^,\[\]]+),[^,\[\]]*,\[([^\]]*)\]\]")


class Node:
    """One server node and its pool of idle connections (LIFO, bounded)."""

    def __init__(self, name: str, host: str, port: int, *, max_conns: int, connect_timeout: float) -> None:
        self.name, self.host, self.port = name, host, port
        self.connect_timeout = connect_timeout
        self._idle: list[socket.socket] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_conns)
        self.partition_generation = -1
        self.peers_generation = -1
        self.failures = 0
        self.drained = 0  # connections saved by timeout_delay (see drain)

    def __repr__(self) -> str:
        return f"<Node {self.name} {self.host}:{self.port}>"

    def acquire(self, timeout: float | None) -> socket.socket:
        """An open connection (idle or new); ClusterConnectionError when none can be had."""
        if not self._slots.acquire(timeout=timeout if timeout is not None else -1):
            raise ClusterConnectionError(f"no free connection to node {self.name} within {timeout}s", code=-7)
        with self._lock:
            if self._idle:
                return self._idle.pop()
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except OSError as exc:
            self._slots.release()
            raise ClusterConnectionError(f"cannot connect to node {self.name} at {self.host}:{self.port}: {exc}",
                                         code=-10) from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def take_slot(self) -> bool:
        """One of the node's ``max_conns`` connection slots if free now (asyncio pools of
        :mod:`aerodf.wire.aio` count against the same bound); give it back with :meth:`give_slot`."""
        return self._slots.acquire(blocking=False)

    def give_slot(self) -> None:
        self._slots.release()

    def release(self, sock: socket.socket, *, healthy: bool) -> None:
        """Return a connection; an unhealthy one (timeout, error mid-stream) is closed."""
        if healthy:
            with self._lock:
                self._idle.append(sock)
        else:
            try:
                sock.close()
            except OSError:  # pragma: no cover
                pass
        self._slots.release()

    def drain(self, sock: socket.socket, reader: Any, delay_ms: int) -> None:
        """After a socket timeout, with the policy's ``timeout_delay``: read the rest of the
        answer in the background for up to ``delay_ms``, then pool the connection (drained)
        or close it. Closing instead costs the server a connection teardown and the next
        request a new connection. The connection's slot stays taken meanwhile."""

        def run() -> None:
            ok = False
            deadline = time.monotonic() + delay_ms / 1000
            try:
                while (left := deadline - time.monotonic()) > 0:
                    sock.settimeout(left)
                    msg_type, payload = reader.frame()
                    if msg_type != MSG_TYPE_DATA:
                        break
                    if looks_last(payload):
                        ok = True
                        break
            except (OSError, ValueError, ConnectionError):  # timeout, reset, a damaged frame
                pass
            if ok:
                self.drained += 1
            self.release(sock, healthy=ok)

        threading.Thread(target=run, name=f"aerodf-drain-{self.name}", daemon=True).start()

    def info(self, *names: str, timeout: float = 1.0) -> dict[str, str]:
        sock = self.acquire(timeout)
        ok = False
        try:
            sock.settimeout(timeout)
            sock.sendall(pack_request(*names))
            msg_type, payload = recv_frame(sock)
            if msg_type != MSG_TYPE_INFO:
                raise ConnectionError(f"info answered with frame type {msg_type}")
            ok = True
            return parse_reply(payload)
        finally:
            self.release(sock, healthy=ok)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for s in idle:
            try:
                s.close()
            except OSError:  # pragma: no cover
                pass


@dataclass
class PartitionMap:
    """``owners[replica, partition]``: index into ``nodes`` (-1: nobody)."""

    nodes: list[Node]
    owners: dict[str, np.ndarray] = field(default_factory=dict)


def _peers(value: str) -> list[tuple[str, int]]:
    """Addresses in a ``peers-clear-std`` answer: ``gen,port,[[id,tls,[ip:port,...]],...]``."""
    parts = value.split(",", 2)
    default_port = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 3000
    out = []
    for _node_id, addrs in _PEER.findall(value):
        for addr in addrs.split(","):
            addr = addr.strip()
            if not addr:
                continue
            host, sep, port = addr.rpartition(":")
            if addr.startswith("["):  # [ipv6]:port
                host = addr[1:addr.index("]")]
                port = addr[addr.index("]") + 2:] or str(default_port)
            elif not sep:
                host, port = addr, str(default_port)
            out.append((host, int(port)))
            break  # the first address of a node is enough
    return out


class Cluster:
    """Nodes discovered from seeds, and a partition map kept current by a tend thread."""

    def __init__(self, seeds: Sequence[tuple[str, int]], *, connect_timeout: float = 1.0,
                 tend_interval: float = 1.0, max_conns_per_node: int = 64) -> None:
        self.seeds = list(seeds)
        self.connect_timeout = connect_timeout
        self.max_conns = max_conns_per_node
        self.map = PartitionMap([])
        self._lock = threading.Lock()
        self._nodes: dict[str, Node] = {}
        self._misses: dict[str, int] = {}
        self.refreshes = 0
        self.refresh()
        if not self.map.nodes:
            raise ClusterConnectionError(f"no Aerospike node answered at {self.seeds}", code=-10)
        self._stop = threading.Event()
        self._tend = threading.Thread(target=self._tend_loop, args=(tend_interval,), name="aerodf-tend",
                                      daemon=True)
        self._tend.start()

    # ------------------------------------------------------------------ discovery
    def _probe(self, host: str, port: int) -> tuple[Node, dict[str, str]] | None:
        probe = Node("?", host, port, max_conns=1, connect_timeout=self.connect_timeout)
        try:
            reply = probe.info("node", "partition-generation", "peers-generation", "peers-clear-std", "replicas",
                               timeout=self.connect_timeout)
        except (OSError, ConnectionError, ClusterConnectionError, ValueError) as exc:
            log.debug("node %s:%s did not answer: %s", host, port, exc)
            return None
        finally:
            probe.close()
        name = reply.get("node", "")
        if not name:
            return None
        node = self._nodes.get(name)
        if node is None or (node.host, node.port) != (host, port):
            node = Node(name, host, port, max_conns=self.max_conns, connect_timeout=self.connect_timeout)
        return node, reply

    def refresh(self) -> None:
        """Rediscover nodes and rebuild the partition map (safe from any thread)."""
        with self._lock:
            todo = list(self.seeds) + [(n.host, n.port) for n in self._nodes.values()]
            seen: set[tuple[str, int]] = set()
            found: dict[str, tuple[Node, dict[str, str]]] = {}
            while todo:
                addr = todo.pop(0)
                if addr in seen:
                    continue
                seen.add(addr)
                got = self._probe(*addr)
                if got is None:
                    continue
                node, reply = got
                if node.name in found:
                    continue
                found[node.name] = (node, reply)
                todo.extend(a for a in _peers(reply.get("peers-clear-std", "")) if a not in seen)
            # a node that stops answering is dropped only after MISSES refreshes in a row: a
            # busy node missing one info deadline must not empty the map under a running read
            missing = [n for name, n in self._nodes.items() if name not in found]
            for n in missing:
                self._misses[n.name] = self._misses.get(n.name, 0) + 1
            for name in found:
                self._misses.pop(name, None)
            if not found or any(self._misses[n.name] < MISSES for n in missing):
                if not found:
                    log.warning("aerodf wire: no node answered the refresh; keeping the partition map")
                return
            nodes = [n for n, _ in found.values()]
            owners: dict[str, np.ndarray] = {}
            for i, (node, reply) in enumerate(found.values()):
                node.partition_generation = int(reply.get("partition-generation", "-1") or -1)
                node.peers_generation = int(reply.get("peers-generation", "-1") or -1)
                node.failures = 0
                for ns, per_replica in parse_replicas(reply.get("replicas", "")).items():
                    arr = owners.get(ns)
                    if arr is None or arr.shape[0] < len(per_replica):
                        grown = np.full((len(per_replica), N_PARTITIONS), -1, dtype=np.int16)
                        if arr is not None:
                            grown[: arr.shape[0]] = arr
                        arr = owners[ns] = grown
                    for r, pids in enumerate(per_replica):
                        arr[r, pids] = i
            for name, old in self._nodes.items():
                if name not in found or found[name][0] is not old:
                    old.close()
                    self._misses.pop(name, None)
            self._nodes = {n.name: n for n in nodes}
            self.map = PartitionMap(nodes, owners)
            self.refreshes += 1

    def _tend_loop(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.tend()
            except Exception:  # pragma: no cover - the tend thread must not die
                log.exception("aerodf wire: tend failed")

    def tend(self) -> None:
        """One tend round: rebuild when a generation changed or a node stopped answering."""
        stale = False
        for node in list(self.map.nodes):
            try:
                r = node.info("partition-generation", "peers-generation", timeout=self.connect_timeout)
            except (OSError, ConnectionError, ClusterConnectionError, ValueError):
                stale = True
                continue
            if (int(r.get("partition-generation") or -1) != node.partition_generation
                    or int(r.get("peers-generation") or -1) != node.peers_generation):
                stale = True
        if stale:
            self.refresh()

    def owners(self, namespace: str) -> np.ndarray:
        arr = self.map.owners.get(namespace)
        if arr is None:
            raise ClusterConnectionError(f"no node of the cluster holds namespace {namespace!r}", code=20)
        return arr

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            for n in self._nodes.values():
                n.close()
            self._nodes = {}
