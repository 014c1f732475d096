"""Conformance: blob secondary indexes, queries by index name and expression
indexes (Aerospike 8.1); runs against a real server with AERODF_TEST_HOSTS."""

from __future__ import annotations

import aerospike
import pytest
from aerospike import predicates as p
from aerospike_helpers import expressions as exp


@pytest.fixture
def rows(client, ns, set_name):
    for i in range(6):
        client.put((ns, set_name, i), {"i": i, "b": bytes([i % 3]), "g": i % 2})
    return set_name


def _is(recs) -> list[int]:
    return sorted(r[2]["i"] for r in recs)


def test_blob_index_equality_query(client, ns, rows):
    name = f"{rows}_b"
    client.index_blob_create(ns, rows, "b", name)
    try:
        q = client.query(ns, rows)
        q.where(p.equals("b", b"\x01"))
        assert _is(q.results()) == [1, 4]
    finally:
        client.index_remove(ns, name)


def test_query_by_index_name(client, ns, rows):
    name = f"{rows}_g"
    client.index_integer_create(ns, rows, "g", name)
    try:
        q = client.query(ns, rows)
        q.where_with_index_name(name, p.equals(None, 1))
        assert _is(q.results()) == [1, 3, 5]
        q = client.query(ns, rows)
        q.where_with_index_name(f"{rows}_nope", p.equals(None, 1))
        with pytest.raises(aerospike.exception.AerospikeError) as e:
            q.results()
        assert e.value.code == 201
    finally:
        client.index_remove(ns, name)


def test_expression_index_query(client, ns, rows):
    name = f"{rows}_x"
    doubled = exp.Mul(exp.IntBin("i"), 2)
    client.index_expr_create(ns, rows, aerospike.INDEX_TYPE_DEFAULT, aerospike.INDEX_NUMERIC,
                             doubled.compile(), name)
    try:
        q = client.query(ns, rows)
        q.where_with_expr(doubled.compile(), p.range(None, aerospike.INDEX_TYPE_DEFAULT, 4, 8))
        assert _is(q.results()) == [2, 3, 4]
        q = client.query(ns, rows)
        q.where_with_index_name(name, p.equals(None, 10))
        assert _is(q.results()) == [5]
    finally:
        client.index_remove(ns, name)


def test_index_with_a_nested_context(client, ns, set_name):
    from aerospike_helpers import cdt_ctx

    for i in range(4):
        client.put((ns, set_name, i), {"i": i, "m": {"inner": [i % 2, 10 + i]}})
    name = f"{set_name}_ctx"
    ctx = [cdt_ctx.cdt_ctx_map_key("inner"), cdt_ctx.cdt_ctx_list_index(1)]
    client.index_cdt_create(ns, set_name, "m", aerospike.INDEX_TYPE_DEFAULT, aerospike.INDEX_NUMERIC, name, ctx)
    try:
        q = client.query(ns, set_name)
        q.where(p.range("m", aerospike.INDEX_TYPE_DEFAULT, 11, 12), ctx)
        assert _is(q.results()) == [1, 2]
    finally:
        client.index_remove(ns, name)
