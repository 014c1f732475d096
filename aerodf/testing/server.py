"""A wire-compatible Aerospike test server: one process, one or more nodes.

Run ``python -m aerodf.testing.server --host 127.0.0.1 --port 3000 [--nodes 3]``
(``--port 0`` picks free ports). On start it prints one JSON line with the
node addresses and the control port, e.g.
``{"hosts": [["127.0.0.1", 3000]], "control": 41234}``.

All nodes share one :class:`~aerodf.testing.store.Store` (as a cluster with
synchronous replication would look to a client) and split the 4096 partitions:
partition ``p`` is mastered by live node ``p % n`` and, with replication factor
2, replicated on the next one. Stopping a node closes its listener and its
connections and moves its partitions to the others (a new partition
generation), so clients re-route as they would on a real cluster.

The control port speaks the info protocol and accepts only the ``aerodf-*``
commands (fault rules, node stop/start, statistics); faults never touch it.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import signal
import sys
import time

from aerodf.protocol import resultcodes as RC
from aerodf.protocol.constants import (
    FIELD_NAMESPACE, FIELD_SET, INFO1_COMPRESS_RESPONSE, INFO3_LAST, MSG_TYPE_ADMIN,
    MSG_TYPE_COMPRESSED, MSG_TYPE_DATA, MSG_TYPE_INFO, N_PARTITIONS,
)
from aerodf.protocol.framing import FrameError, check_header, compress_frame, decompress_payload
from aerodf.protocol.info import pack_reply, parse_request
from aerodf.protocol.message import HEADER, Header, MessageError, parse_fields

from . import info as info_cmds
from .faults import FaultBook
from .handlers import Handlers, frame, msg
from .store import Store

DRAIN_AT = 256 * 1024


class Node:
    """One listening node of the test cluster."""

    def __init__(self, cluster: "Cluster", index: int, host: str, port: int) -> None:
        self.cluster = cluster
        self.index = index
        self.host = host
        self.port = port
        self.node_id = f"BB9{index + 1:012X}"
        self.up = False
        self.server: asyncio.base_events.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.requests = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, self.host, self.port, reuse_address=True)
        self.port = self.server.sockets[0].getsockname()[1]
        self.up = True

    async def stop(self) -> None:
        self.up = False
        if self.server is not None:
            self.server.close()
            for w in list(self.writers):
                w.close()
            await self.server.wait_closed()
            self.server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        cluster = self.cluster
        try:
            while True:
                hdr = await reader.readexactly(8)
                msg_type, length = check_header(hdr)
                payload = await reader.readexactly(length)
                if msg_type == MSG_TYPE_COMPRESSED:
                    msg_type, payload = decompress_payload(payload)
                    cluster.compressed_requests += 1
                if msg_type == MSG_TYPE_INFO:
                    fault = cluster.faults.match(self.index, "info", None, None) if cluster.faults.rules else None
                    if fault is not None and not await self._apply_fault(fault, writer):
                        return
                    names = parse_request(payload)
                    writer.write(pack_reply([(n, info_cmds.answer(cluster, self, n)) for n in names]))
                    await writer.drain()
                elif msg_type == MSG_TYPE_DATA:
                    if not await self._data(payload, writer):
                        return
                elif msg_type == MSG_TYPE_ADMIN:
                    return  # no security on this server: like a CE node, close
                else:
                    return
        except (asyncio.IncompleteReadError, ConnectionError, FrameError, OSError, asyncio.CancelledError):
            pass  # a closed, garbled or shut-down connection ends quietly
        finally:
            self.writers.discard(writer)
            writer.close()

    async def _data(self, payload: bytes, writer: asyncio.StreamWriter) -> bool:
        """Serve one data message; False when the connection must close."""
        cluster = self.cluster
        handlers = cluster.handlers
        try:
            if len(payload) < 22 or payload[0] != 22:
                raise MessageError("bad header")
            header = Header(*HEADER.unpack_from(payload)[1:])
            fields, pos = parse_fields(payload, 22, header.n_fields, len(payload))
        except MessageError:
            writer.write(frame([msg(RC.PARAMETER_ERROR, info3=INFO3_LAST)]))
            await writer.drain()
            return False
        kind = handlers.kind(header, fields)
        self.requests += 1
        cluster.requests += 1
        cluster.in_flight += 1
        cluster.peak_in_flight = max(cluster.peak_in_flight, cluster.in_flight)
        try:
            if cluster.faults.rules:
                fault = cluster.faults.match(
                    self.index, kind,
                    fields.get(FIELD_NAMESPACE, b"").decode("utf-8", "replace") or None,
                    fields.get(FIELD_SET, b"").decode("utf-8", "replace") or None,
                )
                if fault is not None:
                    if fault.kind == "error":
                        writer.write(frame([msg(fault.code, info3=INFO3_LAST)]))
                        await writer.drain()
                        return True
                    if not await self._apply_fault(fault, writer):
                        return False
                if not self.up:
                    return False
            compress = bool(header.info1 & INFO1_COMPRESS_RESPONSE)
            pending = 0
            t0 = time.perf_counter()
            for out in handlers.handle(kind, header, fields, payload, pos):
                cluster.serve_seconds += time.perf_counter() - t0
                if compress:
                    out = compress_frame(out)
                writer.write(out)
                pending += len(out)
                if pending >= DRAIN_AT:
                    await writer.drain()
                    pending = 0
                t0 = time.perf_counter()
            cluster.serve_seconds += time.perf_counter() - t0
            await writer.drain()
            return True
        finally:
            cluster.in_flight -= 1

    async def _apply_fault(self, fault, writer) -> bool:
        """Carry out a delay, drop or stall; False when the connection must close."""
        if fault.kind == "delay":
            await asyncio.sleep(fault.ms / 1000)
            return True
        if fault.kind == "drop":
            return False
        if fault.kind == "stall":
            await asyncio.sleep(max(fault.ms, 60_000) / 1000)
            return False
        if fault.kind == "error":  # on info connections: answer nothing useful, close
            return False
        return True


class Cluster:
    """The nodes, their shared store, partition ownership and fault rules."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 3000, nodes: int = 1,
                 namespaces=("test",), replication_factor: int = 2, default_ttl: int = 0,
                 max_record_size: int = 1024 * 1024) -> None:
        self.store = Store(namespaces, default_ttl=default_ttl, max_record_size=max_record_size)
        self.handlers = Handlers(self.store)
        self.faults = FaultBook()
        self.host = host
        self.replication_factor = replication_factor
        self.nodes = [Node(self, i, host, port + i if port else 0) for i in range(nodes)]
        self.partition_gen = 1
        self.peers_gen = 1
        self.cluster_key = 0xA1B2C3D4E5F6
        self.control_port = 0
        self._owners: dict[int, list[list[int]]] = {}
        self.reset_stats()

    def reset_stats(self) -> None:
        self.requests = 0
        self.in_flight = 0
        self.peak_in_flight = 0
        self.serve_seconds = 0.0
        self.compressed_requests = 0
        self.handlers.records_sent = 0
        self.handlers.records_examined = 0
        for n in self.nodes:
            n.requests = 0

    def stats(self) -> dict[str, object]:
        out: dict[str, object] = {
            "requests": self.requests,
            "in_flight": self.in_flight,
            "peak_in_flight": self.peak_in_flight,
            "serve_seconds": f"{self.serve_seconds:.6f}",
            "records_sent": self.handlers.records_sent,
            "records_examined": self.handlers.records_examined,
            "compressed_requests": self.compressed_requests,
            "gc_frozen_objects": gc.get_freeze_count(),
        }
        for n in self.nodes:
            out[f"node{n.index}_requests"] = n.requests
        return out

    def live_nodes(self) -> list[Node]:
        return [n for n in self.nodes if n.up]

    def ownership(self, index: int) -> list[list[int]]:
        """``[master pids, replica pids...]`` of node ``index`` (empty when down)."""
        cached = self._owners.get(index)
        if cached is not None:
            return cached
        live = [n.index for n in self.live_nodes()]
        rf = max(1, min(self.replication_factor, len(live)))
        maps: list[list[int]] = [[] for _ in range(rf)]
        if index in live:
            for pid in range(N_PARTITIONS):
                for r in range(rf):
                    if live[(pid + r) % len(live)] == index:
                        maps[r].append(pid)
        self._owners[index] = maps
        return maps

    def _changed(self) -> None:
        self._owners.clear()
        self.partition_gen += 1
        self.peers_gen += 1

    async def start(self) -> None:
        for n in self.nodes:
            await n.start()
        self._changed()
        ctl = await asyncio.start_server(self._control, self.host, 0)
        self.control_port = ctl.sockets[0].getsockname()[1]
        self._control_server = ctl

    def request_stop(self, index: int) -> None:
        node = self.nodes[index]
        if node.up:
            node.up = False
            self._changed()
            asyncio.get_running_loop().create_task(node.stop())

    def request_start(self, index: int) -> None:
        node = self.nodes[index]
        if not node.up and node.server is None:
            async def go():
                await node.start()
                self._changed()
            asyncio.get_running_loop().create_task(go())

    async def _control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                msg_type, length = check_header(await reader.readexactly(8))
                payload = await reader.readexactly(length)
                if msg_type != MSG_TYPE_INFO:
                    return
                node = (self.live_nodes() or self.nodes)[0]
                replies = []
                for name in parse_request(payload):
                    if name.startswith("aerodf-") or name in ("node", "build", "namespaces", "statistics"):
                        replies.append((name, info_cmds.answer(self, node, name)))
                    else:
                        replies.append((name, ""))
                writer.write(pack_reply(replies))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, FrameError, OSError):
            pass
        finally:
            writer.close()

    def describe(self) -> dict:
        return {"hosts": [[n.host, n.port] for n in self.nodes], "control": self.control_port}


async def _freeze_heap_periodically(period: float = 1.0) -> None:
    """Keep the stored records out of the cyclic GC's scans.

    Records are acyclic (refcounting frees them), but with millions stored a
    full collection stalls the server for seconds (0.8 s measured at 1M
    records), long enough for clients' tend requests to time out and drop the
    node. ``gc.freeze()`` moves everything alive into the permanent generation:
    collections then scan only the last second's objects.
    """
    while True:
        gc.freeze()
        await asyncio.sleep(period)


async def serve(args: argparse.Namespace) -> None:
    cluster = Cluster(host=args.host, port=args.port, nodes=args.nodes, namespaces=tuple(args.namespace),
                      replication_factor=args.replication_factor, default_ttl=args.default_ttl,
                      max_record_size=args.max_record_size)
    await cluster.start()
    freezer = asyncio.get_running_loop().create_task(_freeze_heap_periodically())
    print(json.dumps(cluster.describe()), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # pragma: no cover
            pass
    await stop.wait()
    freezer.cancel()
    for n in cluster.nodes:
        await n.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m aerodf.testing.server", description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=3000, help="first node's port; 0 picks free ports")
    p.add_argument("--nodes", type=int, default=1)
    p.add_argument("--namespace", action="append", default=None, help="repeatable; default 'test'")
    p.add_argument("--replication-factor", type=int, default=2)
    p.add_argument("--default-ttl", type=int, default=0, help="seconds; 0 = never expire")
    p.add_argument("--max-record-size", type=int, default=1024 * 1024)
    args = p.parse_args(argv)
    if not args.namespace:
        args.namespace = ["test"]
    if args.nodes < 1:
        p.error("--nodes must be at least 1")
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:  # pragma: no cover
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
