"""The test server survives garbage and stays flat under load (fake only)."""

from __future__ import annotations

import os
import random
import socket

import pytest

from aerodf.protocol import constants as C
from aerodf.protocol.digest import compute_digest
from aerodf.protocol.framing import frame, recv_frame
from aerodf.protocol.info import pack_request, parse_reply
from aerodf.protocol.message import pack_field, pack_message, pack_op, parse_message

pytestmark = pytest.mark.fake_only


def _get_request(ns: str, set_name: str, key) -> bytes:
    fields = [pack_field(C.FIELD_NAMESPACE, ns.encode()), pack_field(C.FIELD_SET, set_name.encode()),
              pack_field(C.FIELD_DIGEST, compute_digest(set_name, key))]
    return pack_message(fields, [], info1=C.INFO1_READ | C.INFO1_GET_ALL)


def _alive(host, port) -> bool:
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(pack_request("node"))
        _, payload = recv_frame(s)
    return parse_reply(payload)["node"] != ""


def _send_garbage(host, port, data: bytes) -> None:
    with socket.create_connection((host, port), timeout=5) as s:
        s.settimeout(2)
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            while s.recv(65536):
                pass
        except OSError:
            pass  # the server may close on us: that is an allowed answer


def _mutations(rng: random.Random):
    valid = _get_request("test", "fuzz", 1)
    body = valid[8:]
    yield b""
    yield b"\x00" * 8
    yield b"\x02\x03" + (2**40).to_bytes(6, "big")  # absurd length
    yield b"\x07\x03" + len(body).to_bytes(6, "big") + body  # bad version
    yield b"\x02\x09" + len(body).to_bytes(6, "big") + body  # unknown type
    yield b"\x02\x04" + (20).to_bytes(6, "big") + b"\x00" * 20  # bad compressed frame
    yield valid[: len(valid) // 2]  # truncated
    yield frame(3, body[:10])  # short data header
    yield frame(3, bytes([22]) + body[1:21] + b"\xff\xff" + body[23:])  # too many fields
    yield frame(3, bytes([99]) + body[1:])  # bad header size
    # an unknown field type and an unknown op type
    yield pack_message([pack_field(250, b"x"), pack_field(C.FIELD_NAMESPACE, b"test"),
                        pack_field(C.FIELD_DIGEST, b"\x01" * 20)], [pack_op(99, 1, "a", b"\x00" * 8)],
                       info2=C.INFO2_WRITE)
    yield pack_message([pack_field(C.FIELD_NAMESPACE, b"test"), pack_field(C.FIELD_BATCH_INDEX, b"\x00\x00\xff\xff\x0d")],
                       [], info1=C.INFO1_READ | C.INFO1_BATCH)
    yield pack_message([pack_field(C.FIELD_NAMESPACE, b"test"), pack_field(C.FIELD_FILTER_EXP, b"\xc1\xff")], [],
                       info1=C.INFO1_READ)
    for _ in range(150):
        data = bytearray(valid)
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        yield bytes(data)
    for _ in range(50):
        yield bytes(rng.randrange(256) for _ in range(rng.randint(1, 200)))


def test_malformed_frames_never_crash_the_server(fake):
    host, port = fake.hosts[0]
    rng = random.Random(1234)
    for i, data in enumerate(_mutations(rng)):
        _send_garbage(host, port, data)
        if i % 25 == 0:
            assert _alive(host, port), f"server died after mutation {i}"
    assert _alive(host, port)
    assert fake.process.poll() is None


def test_malformed_data_message_gets_an_error_code(fake):
    host, port = fake.hosts[0]
    bad_expression = pack_message(
        [pack_field(C.FIELD_NAMESPACE, b"test"), pack_field(C.FIELD_DIGEST, b"\x01" * 20),
         pack_field(C.FIELD_FILTER_EXP, b"\x93\x01\x02")],  # [EQ, 2] lacks an argument
        [], info1=C.INFO1_READ | C.INFO1_GET_ALL)
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(bad_expression)
        _, payload = recv_frame(s)
    msg, _ = parse_message(payload)
    assert msg.header.result_code == 4


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs /proc")
def test_memory_and_file_handles_flat_over_100k_requests(client, fake):
    client.put(("test", "flat", 1), {"a": 1, "s": "x" * 100})
    host, port = fake.hosts[0]
    pid = fake.process.pid
    req = _get_request("test", "flat", 1)

    def burst(n_requests: int, n_connections: int) -> None:
        for _ in range(n_connections):
            with socket.create_connection((host, port)) as s:
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                for _ in range(n_requests // n_connections):
                    s.sendall(req)
                    _, payload = recv_frame(s)
                    assert payload[5] == 0  # result code OK

    burst(10_000, 100)  # warm up allocator and caches
    rss0, fds0 = _rss_kb(pid), _fds(pid)
    burst(100_000, 1_000)
    rss1, fds1 = _rss_kb(pid), _fds(pid)
    assert fds1 <= fds0 + 2, (fds0, fds1)
    assert rss1 - rss0 < 8 * 1024, f"RSS grew {rss1 - rss0} kB over 100k requests"
