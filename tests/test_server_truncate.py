"""Conformance: truncate's checks and its last-update-time semantics.

A real Aerospike 8.1 truncates asynchronously, so every check waits (bounded)
for the records to go; runs against one with AERODF_TEST_HOSTS.
"""

from __future__ import annotations

import time

import pytest
from aerospike import exception as ex
from helpers import wait_until


def _info(client, command: str) -> str:
    try:
        raw = client.info_random_node(command)
    except ex.AerospikeError as e:
        return f"ERROR:{e.code}:"
    return raw.partition("\t")[2].rstrip("\n")


def _keys(client, ns, set_name) -> list:
    return sorted(r[2]["k"] for r in client.query(ns, set_name).results())


def test_truncate_before_a_time_keeps_later_records(client, ns, set_name):
    for k in range(3):
        client.put((ns, set_name, k), {"k": k})
    time.sleep(0.05)
    cut = time.time_ns()
    time.sleep(0.05)
    for k in range(3, 5):
        client.put((ns, set_name, k), {"k": k})
    client.truncate(ns, set_name, cut)
    assert wait_until(lambda: _keys(client, ns, set_name) == [3, 4], 10)
    time.sleep(0.2)
    assert _keys(client, ns, set_name) == [3, 4]


def test_records_written_after_a_truncate_stay(client, ns, set_name):
    client.put((ns, set_name, 1), {"k": 1})
    time.sleep(0.01)
    client.truncate(ns, set_name, 0)
    assert wait_until(lambda: _keys(client, ns, set_name) == [], 10)
    time.sleep(0.01)
    client.put((ns, set_name, 2), {"k": 2})
    assert _keys(client, ns, set_name) == [2]


def test_truncate_of_an_unknown_namespace_is_ok(client, set_name):
    assert _info(client, f"truncate:namespace=no_such_ns;set={set_name}") == "ok"


@pytest.mark.parametrize("args", [
    "namespace=test",                                  # no set
    "namespace=test;set=",                             # empty set name
    "namespace=test;set=s;lut=1000",                   # before the 2010 epoch
    "namespace=test;set=s;lut=abc",                    # not a number: 0
    f"namespace=test;set=s;lut={(int(time.time()) + 3600) * 10**9}",  # in the future
    "namespace=test;set=s;lut=123456789012345678901234567890",         # out of range
    "namespace=test;set=s;lut=",
])
def test_bad_truncate_is_parameter_error(client, args):
    assert _info(client, f"truncate:{args}").startswith("ERROR:4:")


def test_truncate_without_namespace_is_20(client):
    assert _info(client, "truncate:set=s").startswith("ERROR:20:")


def test_truncate_namespace_refuses_a_set(client):
    assert _info(client, "truncate-namespace:namespace=test;set=s").startswith("ERROR:4:")
