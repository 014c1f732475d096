"""Conformance: info commands (secondary-index admin, UDF modules, unknown names).

Each answer is checked as a real Aerospike 8.1 server gives it; runs against one
with AERODF_TEST_HOSTS.
"""

from __future__ import annotations

import pytest
from aerospike import exception as ex


def _info(client, command: str) -> str:
    """The value of one info command on one node (without the echoed name); an
    ``ERROR:<code>:...`` answer (which the client raises) as ``ERROR:<code>:``."""
    try:
        raw = client.info_random_node(command)
    except ex.AerospikeError as e:
        return f"ERROR:{e.code}:"
    return raw.partition("\t")[2].rstrip("\n")


def _entries(value: str) -> list[dict[str, str]]:
    return [dict(p.split("=", 1) for p in item.split(":") if "=" in p) for item in value.split(";") if item]


@pytest.fixture
def index(client, ns, set_name):
    name = f"{set_name}_i"
    client.index_integer_create(ns, set_name, "i", name)
    yield name
    client.index_remove(ns, name)


def test_sindex_list_entry(client, ns, set_name, index):
    listed = {e["indexname"]: e for e in _entries(_info(client, "sindex-list:"))}
    assert listed[index] == {
        "ns": ns, "indexname": index, "set": set_name, "bin": "i", "type": "numeric",
        "indextype": "default", "context": "null", "exp": "null", "state": "RW",
    }
    assert not _info(client, "sindex-list:").endswith(";")


def test_bare_sindex_lists_like_sindex_list(client, ns, set_name, index):
    bare = _info(client, "sindex")
    assert bare == _info(client, "sindex-list:")
    assert index in {e["indexname"] for e in _entries(bare)}
    assert index in {e["indexname"] for e in _entries(_info(client, f"sindex:{ns}"))}
    assert _info(client, "sindex:no_such_ns") == "ns_type=unknown"


def test_sindex_list_of_unknown_namespace(client):
    assert _info(client, "sindex-list:ns=no_such_ns").startswith("ERROR:20:")


def test_sindex_stat_and_exists(client, ns, set_name, index):
    stats = dict(kv.split("=", 1) for kv in _info(client, f"sindex-stat:ns={ns};indexname={index}").split(";"))
    assert stats["load_pct"] == "100"
    assert "entries" in stats
    assert _info(client, f"sindex-stat:ns={ns};indexname={index}_nope").startswith("ERROR:201:")
    assert _info(client, f"sindex-exists:ns={ns};indexname={index}") == "true"
    assert _info(client, f"sindex-exists:ns={ns};indexname={index}_nope") == "false"


def test_create_identical_index_again_is_ok(client, ns, set_name, index):
    client.index_integer_create(ns, set_name, "i", index)  # no error: same definition
    assert _info(client, f"sindex-create:ns={ns};set={set_name};indexname={index};bin=i;type=numeric") == "ok"
    answer = _info(client, f"sindex-create:ns={ns};set={set_name};indexname={index};bin=j;type=numeric")
    assert answer.startswith("ERROR:200:")
    with pytest.raises(ex.IndexFoundError):
        client.index_string_create(ns, set_name, "i", index)


def test_drop_missing_index_is_ok(client, ns, set_name):
    client.index_remove(ns, f"{set_name}_never_made")  # no error on servers after 6.0
    assert _info(client, f"sindex-delete:ns={ns};indexname={set_name}_never_made") == "ok"


def test_create_with_128_character_set_name_fails_4(client, ns, set_name):
    with pytest.raises(ex.AerospikeError) as e:
        client.index_integer_create(ns, "s" * 128, "i", f"{set_name}_long")
    assert e.value.code == 4
    assert _info(client, f"sindex-create:ns={ns};set={'s' * 64};indexname={set_name}_l;bin=i;type=numeric") \
        .startswith("ERROR:4:")


@pytest.mark.parametrize("args, code", [
    ("set=s;indexname=x;bin=i;type=numeric", 20),  # no namespace
    ("ns=test;set=s;bin=i;type=numeric", 4),  # no index name
    ("ns=test;set=s;indexname=x;bin=i", 4),  # no type
    ("ns=test;set=s;indexname=x;bin=i;type=float", 4),
    ("ns=test;set=s;indexname=x;bin=i;type=numeric;indextype=tree", 4),
    ("ns=test;set=s;indexname=x;bin=i;type=numeric;indexdata=i,numeric", 4),
    ("ns=test;set=s;indexname=x;indexdata=i", 4),
])
def test_sindex_create_bad_arguments(client, args, code):
    assert _info(client, f"sindex-create:{args}").startswith(f"ERROR:{code}:")


def test_unknown_info_command_is_an_error(client):
    assert _info(client, "no-such-command") == "ERROR:4:"
    assert _info(client, "no-such-command:x=1") == "ERROR:4:"
    assert _info(client, "build") != ""  # the connection serves on
