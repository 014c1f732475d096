"""Start, control and stop the test server from Python.

:class:`TestServer` runs ``python -m aerodf.testing.server`` in a child
process (clients hold the GIL in places; a benchmark must not share an
interpreter with its server), waits until every node answers, and offers the
control commands (faults, node stop / start, statistics) as methods.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from typing import Any

from aerodf.protocol.framing import recv_frame
from aerodf.protocol.info import pack_request, parse_kv, parse_reply

ENV_HOSTS = "AERODF_TEST_HOSTS"


def info_request(host: str, port: int, *names: str, timeout: float = 5.0) -> dict[str, str]:
    """Send one info request and return ``{name: value}``."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(pack_request(*names))
        _, payload = recv_frame(s)
    return parse_reply(payload)


def hosts_from_env(value: str | None = None) -> list[tuple[str, int]] | None:
    """Parse ``AERODF_TEST_HOSTS`` (``host:port[,host:port...]``); None when unset."""
    value = os.environ.get(ENV_HOSTS) if value is None else value
    if not value:
        return None
    out = []
    for item in value.split(","):
        host, _, port = item.strip().rpartition(":")
        out.append((host or "127.0.0.1", int(port or 3000)))
    return out


class ServerHandle:
    """Where a cluster is, and (for the test server) how to control it."""

    def __init__(self, hosts: list[tuple[str, int]], control: int | None = None) -> None:
        self.hosts = hosts
        self.control_port = control

    @property
    def is_fake(self) -> bool:
        """True for aerodf's test server, which supports fault injection and stats."""
        return self.control_port is not None

    @property
    def seed(self) -> str:
        """``host:port`` of the first node."""
        h, p = self.hosts[0]
        return f"{h}:{p}"

    def control(self, *names: str) -> dict[str, str]:
        if self.control_port is None:
            raise RuntimeError("control commands exist only on aerodf's test server")
        return info_request(self.hosts[0][0], self.control_port, *names)

    def _one(self, name: str) -> str:
        value = self.control(name)[name]
        if value.startswith(("ERROR", "FAIL")):
            raise RuntimeError(f"{name}: {value}")
        return value

    # ---------------------------------------------------------------- faults

    def add_fault(self, kind: str, *, command: str = "any", node: int | None = None, ms: int = 0,
                  code: int = 0, count: int | None = None, skip: int = 0, probability: float = 1.0,
                  namespace: str | None = None, set: str | None = None) -> int:
        """Inject a fault (see :mod:`aerodf.testing.faults`); returns its id."""
        args = {"kind": kind, "command": command, "ms": ms, "code": code, "skip": skip,
                "probability": probability}
        if node is not None:
            args["node"] = node
        if count is not None:
            args["count"] = count
        if namespace:
            args["namespace"] = namespace
        if set:
            args["set"] = set
        return int(self._one("aerodf-fault-add:" + ";".join(f"{k}={v}" for k, v in args.items())))

    def clear_faults(self) -> None:
        self._one("aerodf-fault-clear")

    # ---------------------------------------------------------------- nodes

    def stop_node(self, node: int, *, wait: float = 5.0) -> None:
        """Stop node ``node``: its listener and connections close, partitions move."""
        self._one(f"aerodf-node-stop:node={node}")
        self._wait_node(node, False, wait)

    def start_node(self, node: int, *, wait: float = 5.0) -> None:
        self._one(f"aerodf-node-start:node={node}")
        self._wait_node(node, True, wait)

    def nodes(self) -> dict[int, dict[str, Any]]:
        out = {}
        for item in self._one("aerodf-nodes").split(";"):
            idx, _, rest = item.partition("=")
            node_id, _, where = rest.partition("@")
            addr, _, state = where.rpartition(":")
            host, _, port = addr.rpartition(":")
            out[int(idx)] = {"id": node_id, "host": host, "port": int(port), "up": state == "up"}
        return out

    def _wait_node(self, node: int, up: bool, wait: float) -> None:
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.nodes()[node]["up"] == up:
                if up:
                    h, p = self.hosts[node]
                    try:
                        info_request(h, p, "node", timeout=1.0)
                    except OSError:
                        time.sleep(0.02)
                        continue
                return
            time.sleep(0.02)
        raise TimeoutError(f"node {node} did not go {'up' if up else 'down'}")

    # ---------------------------------------------------------------- stats

    def stats(self) -> dict[str, float]:
        """Requests, peak in-flight requests, serving seconds, records sent/examined."""
        return {k: float(v) for k, v in parse_kv(self._one("aerodf-stats")).items()}

    def reset_stats(self) -> None:
        """Zero the counters :meth:`stats` reports.

        Requests still being served (one held by a ``delay`` fault, say, whose client
        has gone) keep counting when they finish: call :meth:`wait_idle` first when a
        count must cover only what comes next.
        """
        self._one("aerodf-stats-reset")

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Block until no node is serving a data request (``stats()["in_flight"] == 0``).

        Examples
        --------
        >>> server.clear_faults(); server.wait_idle(); server.reset_stats()  # doctest: +SKIP
        """
        deadline = time.monotonic() + timeout
        while self.stats()["in_flight"] > 0:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the test server still serves requests after {timeout} s")
            time.sleep(0.02)

    def last_filter(self) -> bytes:
        """The newest filter expression (field 43) any node received, as sent."""
        return bytes.fromhex(self._one("aerodf-last-filter"))


class TestServer(ServerHandle):
    """The test server in a child process; a context manager.

    Parameters
    ----------
    nodes
        Number of nodes (consecutive ports from ``port``; free ports when 0).
    host, port
        Where to listen.
    namespaces
        Namespace names (default ``("test",)``).
    replication_factor
        2 gives each partition a replica on the next node.
    default_ttl
        Namespace default TTL in seconds (0 = never expire).
    startup_timeout
        Seconds to wait for every node to answer.

    Examples
    --------
    >>> with TestServer() as srv:  # doctest: +SKIP
    ...     print(srv.hosts)
    [('127.0.0.1', 40123)]
    """

    __test__ = False  # not a pytest test class

    def __init__(self, *, nodes: int = 1, host: str = "127.0.0.1", port: int = 0,
                 namespaces: tuple[str, ...] = ("test",), replication_factor: int = 2,
                 default_ttl: int = 0, max_record_size: int = 1024 * 1024,
                 startup_timeout: float = 30.0) -> None:
        super().__init__([], None)
        self._argv = [sys.executable, "-m", "aerodf.testing.server", "--host", host, "--port", str(port),
                      "--nodes", str(nodes), "--replication-factor", str(replication_factor),
                      "--default-ttl", str(default_ttl), "--max-record-size", str(max_record_size)]
        for ns in namespaces:
            self._argv += ["--namespace", ns]
        self._startup_timeout = startup_timeout
        self.process: subprocess.Popen | None = None

    def start(self) -> "TestServer":
        if self.process is not None:
            return self
        self.process = subprocess.Popen(self._argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        line = self.process.stdout.readline()  # type: ignore[union-attr]
        if not line:
            code = self.process.wait(timeout=5)
            self.process = None
            raise RuntimeError(f"test server exited with code {code} before it started")
        desc = json.loads(line)
        self.hosts = [(h, int(p)) for h, p in desc["hosts"]]
        self.control_port = int(desc["control"])
        deadline = time.monotonic() + self._startup_timeout
        for host, port in self.hosts:
            while True:
                try:
                    info_request(host, port, "node", timeout=1.0)
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        self.stop()
                        raise TimeoutError("test server did not answer in time") from None
                    time.sleep(0.02)
        return self

    def stop(self) -> None:
        proc, self.process = self.process, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()

    def __enter__(self) -> "TestServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def __del__(self) -> None:  # a forgotten server must not outlive the test run
        try:
            self.stop()
        except Exception:
            pass
