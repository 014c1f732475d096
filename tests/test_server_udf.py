"""Conformance: UDF modules (register / list / get / remove) and UDF calls.

aerodf's test server runs no Lua: it keeps modules like a real server and
answers calls as a real Aerospike 8.1 does for a module it cannot run. Every
check here holds on both (run on a real one with AERODF_TEST_HOSTS).
"""

from __future__ import annotations

from pathlib import Path

import aerospike
import pytest
from aerospike import exception as ex
from helpers import wait_until

MODULE = """
function hello(rec)
    return "hello"
end
"""


@pytest.fixture
def module(client, tmp_path, set_name):
    path = tmp_path / f"{set_name}_m.lua"
    path.write_text(MODULE)
    client.udf_put(str(path))  # waits, in C, until every node lists the module
    yield path.name
    try:
        client.udf_remove(path.name)
    except ex.AerospikeError:
        pass
    finally:
        Path(path.name).unlink(missing_ok=True)  # the client copies the module into its lua path, "./"


def _names(client) -> list[str]:
    return [m["name"] for m in client.udf_list()]


def test_udf_put_is_listed_and_gettable(client, module):
    assert module in _names(client)
    listed = next(m for m in client.udf_list() if m["name"] == module)
    assert len(listed["hash"]) == 40
    assert client.udf_get(module) == MODULE


def test_udf_remove(client, module):
    client.udf_remove(module)
    assert wait_until(lambda: module not in _names(client), 5)


def test_apply_unknown_module_is_udf_error(client, ns, set_name):
    key = (ns, set_name, 1)
    client.put(key, {"a": 1})
    with pytest.raises(ex.UDFError) as e:
        client.apply(key, f"{set_name}_no_such_module", "hello", [])
    assert e.value.code == 100
    assert client.get(key)[2] == {"a": 1}
    client.put(key, {"a": 2})  # the connection still serves


def test_apply_unknown_module_on_missing_record(client, ns, set_name):
    with pytest.raises(ex.UDFError) as e:
        client.apply((ns, set_name, "nope"), f"{set_name}_no_such_module", "hello", [1, "x"])
    assert e.value.code == 100


def test_apply_in_unknown_namespace(client, set_name):
    with pytest.raises(ex.AerospikeError) as e:
        client.apply(("no_such_ns", set_name, 1), "m", "f", [])
    assert e.value.code == 20


def test_background_query_with_unknown_module_completes(client, ns, set_name):
    for i in range(5):
        client.put((ns, set_name, i), {"a": i})
    q = client.query(ns, set_name)
    q.apply(f"{set_name}_no_such_module", "hello", [])
    job = q.execute_background()

    def done():
        return client.job_info(job, aerospike.JOB_QUERY)["status"] == aerospike.JOB_STATUS_COMPLETED
    assert wait_until(done, 10)
    assert sorted(r[2]["a"] for r in client.query(ns, set_name).results()) == list(range(5))
