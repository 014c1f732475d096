"""Fault injection on the test server (fake only)."""

from __future__ import annotations

import threading
import time

import pytest
from aerospike import exception as ex

pytestmark = pytest.mark.fake_only


def test_delay_beyond_timeout_times_out(client, fake, ns, set_name):
    key = (ns, set_name, 1)
    client.put(key, {"a": 1})
    fake.add_fault("delay", command="read", ms=1000)
    t0 = time.perf_counter()
    with pytest.raises(ex.TimeoutError) as e:
        client.get(key, policy={"total_timeout": 300, "socket_timeout": 300})
    elapsed = time.perf_counter() - t0
    assert e.value.code == 9
    assert 0.25 < elapsed < 0.9


def test_delay_within_timeout_succeeds(client, fake, ns, set_name):
    key = (ns, set_name, 1)
    client.put(key, {"a": 1})
    fake.add_fault("delay", command="read", ms=100, count=1)
    t0 = time.perf_counter()
    assert client.get(key)[2] == {"a": 1}
    assert time.perf_counter() - t0 >= 0.09


def test_drop_without_retry_is_connection_error_then_recovers(client, fake, ns, set_name):
    key = (ns, set_name, 2)
    client.put(key, {"a": 1})
    fake.add_fault("drop", command="read", count=1)
    with pytest.raises(ex.AerospikeError) as e:
        client.get(key, policy={"max_retries": 0})
    assert e.value.code in (-10, -11, 9)  # connection closed by the peer
    assert client.get(key)[2] == {"a": 1}


def test_drop_is_retried_for_reads(client, fake, ns, set_name):
    key = (ns, set_name, 3)
    client.put(key, {"a": 1})
    fake.add_fault("drop", command="read", count=1)
    assert client.get(key, policy={"max_retries": 2})[2] == {"a": 1}


def test_error_code_count_and_skip(client, fake, ns, set_name):
    key = (ns, set_name, 4)
    client.put(key, {"a": 1})
    fake.add_fault("error", command="read", code=14, count=2, skip=1)
    assert client.get(key)[2] == {"a": 1}  # skipped
    for _ in range(2):
        with pytest.raises(ex.AerospikeError) as e:
            client.get(key, policy={"max_retries": 0})
        assert e.value.code == 14
    assert client.get(key)[2] == {"a": 1}  # count used up


def test_error_scoped_to_command_and_set(client, fake, ns, set_name):
    client.put((ns, set_name, 5), {"a": 1})
    client.put((ns, set_name + "x", 5), {"a": 1})
    fake.add_fault("error", command="write", code=18, set=set_name)
    with pytest.raises(ex.AerospikeError) as e:
        client.put((ns, set_name, 5), {"a": 2})
    assert e.value.code == 18
    client.put((ns, set_name + "x", 5), {"a": 2})  # other set unaffected
    assert client.get((ns, set_name, 5))[2] == {"a": 1}  # reads unaffected


def test_batch_error_fails_whole_batch(client, fake, ns, set_name):
    keys = [(ns, set_name, i) for i in range(3)]
    for k in keys:
        client.put(k, {"a": 1})
    fake.add_fault("error", command="batch", code=11, count=1)
    # the official client returns (does not raise) a failed batch
    res = client.batch_read(keys, policy={"max_retries": 0})
    assert res.result == 11
    assert all(r.result != 0 for r in res.batch_records)
    ok = client.batch_read(keys)
    assert ok.result == 0 and all(r.result == 0 for r in ok.batch_records)


def test_probability(client, fake, ns, set_name):
    key = (ns, set_name, 6)
    client.put(key, {"a": 1})
    fake.add_fault("error", command="read", code=14, probability=0.5)
    failures = 0
    for _ in range(100):
        try:
            client.get(key, policy={"max_retries": 0})
        except ex.AerospikeError:
            failures += 1
    assert 20 < failures < 80


def test_peak_in_flight_counts_concurrent_requests(client, fake, ns, set_name):
    key = (ns, set_name, 7)
    client.put(key, {"a": 1})
    fake.reset_stats()
    fake.add_fault("delay", command="read", ms=200)
    threads = [threading.Thread(target=client.get, args=(key,)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    st = fake.stats()
    assert st["peak_in_flight"] >= 4
    assert st["requests"] >= 8
