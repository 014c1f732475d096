"""Hypothesis: random typed records written with the client read back equal."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aerodf
from helpers import unique_set

# The official client packs strings as C strings (cut at the first NUL), so
# generate text it can write faithfully.
text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=20)

COLUMNS = {
    "i8": ("int8", st.integers(-128, 127)),
    "u32": ("uint32", st.integers(0, 2**32 - 1)),
    "i64": ("int64", st.integers(-(2**63), 2**63 - 1)),
    "f64": ("float64", st.floats(allow_nan=False)),
    "b": ("bool", st.booleans()),
    "s": ("string", text),
    "r": ("bytes", st.binary(min_size=1, max_size=20)),
    "l": ("list<int64>", st.lists(st.integers(-(2**63), 2**63 - 1), max_size=5)),
    "m": ("map<string, string>", st.dictionaries(text, text, max_size=4)),
    "v": ("vector<float64, 3>", st.lists(st.floats(allow_nan=False), min_size=3, max_size=3)),
}
SCHEMA = aerodf.Schema({k: t for k, (t, _) in COLUMNS.items()})
record = st.fixed_dictionaries({}, optional={k: s for k, (_, s) in COLUMNS.items()})


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(st.one_of(st.none(), record), min_size=0, max_size=30))
def test_written_records_read_back_equal(client, aerospike_server, records):
    set_name = unique_set("hyp")
    for i, rec in enumerate(records):
        if rec:  # None and {} are missing records (an empty record cannot exist)
            client.put(("test", set_name, i), {k: (bytearray(v) if k == "r" else v) for k, v in rec.items()})
    table = aerodf.read_batch(range(len(records)), SCHEMA, namespace="test", set=set_name,
                              hosts=aerospike_server.hosts, output="arrow", chunk_size=7)
    assert table.schema == SCHEMA.to_arrow()
    rows = table.to_pylist()
    for i, rec in enumerate(records):
        for name in SCHEMA.names:
            got = rows[i][name]
            if name == "m" and got is not None:
                got = dict(got)
            exp = (rec or {}).get(name)
            assert got == exp, (i, name, got, exp)
