"""Conformance over raw wire messages: requests the clients refuse to build, and
operations or expressions aerodf's test server does not implement.

Whatever the request, the server answers with a result code (the real server's
for that request) and the connection keeps serving: never a drop, never a hang.
Runs against a real Aerospike 8.1 with AERODF_TEST_HOSTS.
"""

from __future__ import annotations

import socket

import pytest

from aerodf.protocol import constants as C
from aerodf.protocol.digest import compute_digest
from aerodf.protocol.framing import recv_frame
from aerodf.protocol.message import pack_field, pack_message, pack_op, parse_message


def _fields(ns: str, set_name: str, key) -> list[bytes]:
    return [pack_field(C.FIELD_NAMESPACE, ns.encode()), pack_field(C.FIELD_SET, set_name.encode()),
            pack_field(C.FIELD_DIGEST, compute_digest(set_name, key))]


@pytest.fixture
def conn(aerospike_server):
    host, port = aerospike_server.hosts[0]
    with socket.create_connection((host, port), timeout=5) as s:
        yield s


def _ask(s, message: bytes) -> int:
    s.sendall(message)
    _, payload = recv_frame(s)
    msg, _ = parse_message(payload)
    return msg.header.result_code


def _write(s, ns, set_name, key, *ops) -> int:
    return _ask(s, pack_message(_fields(ns, set_name, key), list(ops), info2=C.INFO2_WRITE))


def _read(s, ns, set_name, key, *ops, info1=C.INFO1_READ) -> int:
    return _ask(s, pack_message(_fields(ns, set_name, key), list(ops), info1=info1))


def test_append_or_prepend_of_nil_is_parameter_error(client, conn, ns, set_name):
    client.put((ns, set_name, 1), {"s": "ab"})
    assert _write(conn, ns, set_name, 1, pack_op(C.OP_APPEND, C.PT_NULL, "s", b"")) == 4
    assert _write(conn, ns, set_name, 1, pack_op(C.OP_PREPEND, C.PT_NULL, "s", b"")) == 4
    assert _write(conn, ns, set_name, 1, pack_op(C.OP_APPEND, C.PT_NULL, "new", b"")) == 4
    assert client.get((ns, set_name, 1))[2] == {"s": "ab"}


def test_unknown_op_code_is_parameter_error_and_the_connection_serves_on(client, conn, ns, set_name):
    client.put((ns, set_name, 1), {"a": 1})
    assert _write(conn, ns, set_name, 1, pack_op(99, C.PT_INTEGER, "a", b"\x00" * 8)) == 4
    assert _read(conn, ns, set_name, 1, info1=C.INFO1_READ | C.INFO1_GET_ALL) == 0


def test_write_without_ops_is_parameter_error(conn, ns, set_name):
    assert _write(conn, ns, set_name, 1) == 4


def test_read_without_ops_or_get_all_is_parameter_error(client, conn, ns, set_name):
    client.put((ns, set_name, 1), {"a": 1})
    assert _read(conn, ns, set_name, 1) == 4
    assert _read(conn, ns, set_name, 2) == 2  # a missing record answers first
    assert _read(conn, ns, set_name, 1, info1=C.INFO1_READ | C.INFO1_NOBINDATA) == 0


def test_bad_cdt_op_and_bad_expression_keep_the_connection(client, conn, ns, set_name):
    client.put((ns, set_name, 1), {"l": [1, 2]})
    bad_list_op = b"\x91\x32"  # [50]: no such list op
    bad_map_op = b"\x91\xcc\xc8"  # [200]: no such map op, and on a list bin a type clash
    assert _write(conn, ns, set_name, 1, pack_op(C.OP_CDT_MODIFY, C.PT_BLOB, "l", bad_list_op)) == 4
    assert _write(conn, ns, set_name, 1, pack_op(C.OP_CDT_MODIFY, C.PT_BLOB, "l", bad_map_op)) == 12
    assert _write(conn, ns, set_name, 1, pack_op(C.OP_CDT_MODIFY, C.PT_BLOB, "none", bad_list_op)) == 4
    assert _read(conn, ns, set_name, 1, pack_op(C.OP_CDT_READ, C.PT_BLOB, "none", bad_map_op)) == 0
    filt = pack_field(C.FIELD_FILTER_EXP, b"\x92\xcc\xc8\x01")  # [200, 1]: no such expression op
    code = _ask(conn, pack_message(_fields(ns, set_name, 1) + [filt], [],
                                   info1=C.INFO1_READ | C.INFO1_GET_ALL))
    assert code == 4
    assert _read(conn, ns, set_name, 1, info1=C.INFO1_READ | C.INFO1_GET_ALL) == 0
