"""The aerospike-py transport: what it fixes up in aerospike-py 0.14, pinned.

Each "upstream" test pins a behaviour of aerospike-py itself that the
transport works around; when one fails after an upgrade, the workaround can go.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

import aerodf
from aerodf.transport import resolve_name

ap = pytest.importorskip("aerospike_py")


@pytest.fixture(scope="module")
def pyc(aerospike_server):
    with aerodf.connect(aerospike_server.hosts, transport="aerospike-py") as c:
        yield c


def test_auto_prefers_aerospike_py_and_names_it(aerospike_server):
    assert resolve_name("auto") == "aerospike-py"
    with aerodf.connect(aerospike_server.hosts, transport="auto") as c:
        assert c.transport_name == "aerospike-py"
        assert "transport=aerospike-py" in repr(c)
        assert c.transport.query_via == "official"
    with pytest.raises(aerodf.ConfigError, match="unknown transport"):
        resolve_name("rust")


def test_blob_keys_reach_records_written_by_other_clients(client, pyc, pyclient, set_name):
    client.put(("test", set_name, bytearray(b"\x01\x02")), {"v": 7})
    # upstream: aerospike-py 0.14 hashes a bytes key to a different digest
    with pytest.raises(ap.RecordNotFound):
        pyclient.get(("test", set_name, b"\x01\x02"))
    df = pyc.read_batch([bytearray(b"\x01\x02")], {"v": "int64"}, namespace="test", set=set_name, output="polars")
    assert df["v"].to_list() == [7]
    aerodf.write_frame(pl.DataFrame({"key": [b"\x03"], "v": [3]}), "test", set_name, client=pyc, blob_keys=True)
    assert client.get(("test", set_name, bytearray(b"\x03")))[2] == {"v": 3}
    # bytes keys are string keys, as the official client hashes them, UTF-8 or not
    client.put(("test", set_name, b"\xff\x01"), {"v": 8})
    df = pyc.read_batch([b"\xff\x01"], {"v": "int64"}, namespace="test", set=set_name, output="polars")
    assert df["v"].to_list() == [8]


@pytest.mark.fake_only
def test_rejected_batch_read_raises_instead_of_zero_rows(fake, pyc, pyclient, set_name):
    aerodf.write_frame(pl.DataFrame({"key": list(range(4)), "v": [1, 2, 3, 4]}), "test", set_name, client=pyc)
    keys = [("test", set_name, k) for k in range(4)]
    fake.add_fault("error", command="batch", code=18, count=1)
    # upstream: the error lands on row 0 and rows 1-3 say "OK" with no record
    codes = pyclient.batch_read(keys, ["v"]).to_numpy(np.dtype([("v", "i8")])).result_codes
    assert codes.tolist() == [18, 0, 0, 0]
    fake.add_fault("error", command="batch", code=18, count=1)
    with pytest.raises(aerodf.OverloadError) as e:
        pyc.read_batch(range(4), {"v": "int64"}, namespace="test", set=set_name, max_retries=0)
    assert e.value.keys == [0, 1, 2, 3]


@pytest.mark.fake_only
def test_query_partition_unavailable_is_not_silent(fake, pyc, pyclient, set_name):
    aerodf.write_frame(pl.DataFrame({"key": list(range(20)), "v": list(range(20))}), "test", set_name, client=pyc)
    fake.add_fault("error", command="query", code=11)
    # upstream: aerospike-py ends the query quietly with no records
    assert pyclient.query("test", set_name).results() == []
    with pytest.raises(aerodf.AerospikeServerError) as e:
        aerodf.read_query("test", set_name, {"v": "int64"}, client=pyc)
    assert e.value.partitions


def test_policy_filter_must_be_an_aerospike_py_expression(pyc, set_name):
    from aerospike_helpers import expressions as exp

    with pytest.raises(aerodf.ConfigError, match="aerospike_py.exp"):
        pyc.read_batch([1], {"v": "int64"}, namespace="test", set=set_name, filter=exp.Eq(exp.IntBin("v"), 1))
    aerodf.write_frame(pl.DataFrame({"key": [1, 2], "v": [1, 2]}), "test", set_name, client=pyc)
    df = pyc.read_batch([1, 2], {"v": "int64"}, namespace="test", set=set_name, output="polars",
                        filter=ap.exp.eq(ap.exp.int_bin("v"), ap.exp.int_val(2)))
    assert df["v"].to_list() == [None, 2]
