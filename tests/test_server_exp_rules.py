"""Conformance: the expression builder's type checks and Unknown / map literals.

A real Aerospike 8.1 rejects ill-typed expressions when it builds them
(PARAMETER_ERROR, server exp.c), and the connection keeps serving; runs
against one with AERODF_TEST_HOSTS.
"""

from __future__ import annotations

import pytest
from aerospike import exception as ex
from aerospike_helpers import expressions as exp


@pytest.fixture
def key(client, ns, set_name):
    k = (ns, set_name, 1)
    client.put(k, {"i": 4, "f": 2.5, "m": {"a": 1}})
    return k


def _get(client, key, expr):
    return client.get(key, policy={"expressions": expr.compile()})[2]


def _code(client, key, expr) -> int:
    with pytest.raises(ex.AerospikeError) as e:
        _get(client, key, expr)
    return e.value.code


@pytest.mark.parametrize("expr", [
    exp.Eq(exp.Floor(exp.IntBin("i")), 4),
    exp.Eq(exp.Ceil(exp.IntBin("i")), 4),
    exp.Eq(exp.Pow(exp.IntBin("i"), 2), 16),
    exp.Eq(exp.Log(exp.IntBin("i"), 2), 2),
    exp.Eq(exp.Mod(exp.FloatBin("f"), 2.0), 0.5),
    exp.Eq(exp.ToInt(exp.IntBin("i")), 4),
    exp.Eq(exp.ToFloat(exp.FloatBin("f")), 2.5),
    exp.Or(exp.IntBin("i"), exp.Eq(exp.IntBin("i"), 4)),
    exp.And(exp.Eq(exp.IntBin("i"), 4), exp.FloatBin("f")),
    exp.Not(exp.IntBin("i")),
])
def test_ill_typed_expression_is_parameter_error(client, key, expr):
    assert _code(client, key, expr) == 4
    assert _get(client, key, exp.Eq(exp.IntBin("i"), 4))["i"] == 4  # the connection serves on


def test_float_math_is_evaluated(client, key):
    assert _get(client, key, exp.Eq(exp.Floor(exp.FloatBin("f")), 2.0))["i"] == 4
    assert _get(client, key, exp.Eq(exp.Ceil(exp.FloatBin("f")), 3.0))["i"] == 4
    assert _get(client, key, exp.Eq(exp.Pow(exp.FloatBin("f"), 2.0), 6.25))["i"] == 4
    assert _get(client, key, exp.Eq(exp.ToInt(exp.FloatBin("f")), 2))["i"] == 4
    assert _get(client, key, exp.Eq(exp.ToFloat(exp.IntBin("i")), 4.0))["i"] == 4
    assert _get(client, key, exp.Eq(exp.Mod(exp.IntBin("i"), 3), 1))["i"] == 4


def test_unknown_in_cond_filters_out(client, key):
    hit = exp.Cond(exp.Eq(exp.IntBin("i"), 4), True, exp.Unknown())
    assert _get(client, key, hit)["i"] == 4
    miss = exp.Cond(exp.Eq(exp.IntBin("i"), 5), True, exp.Unknown())
    assert _code(client, key, miss) == 27


def test_unknown_in_let_filters_out(client, key):
    expr = exp.Let(exp.Def("x", exp.IntBin("i")),
                   exp.Cond(exp.GT(exp.Var("x"), 10), True, exp.Unknown()))
    assert _code(client, key, expr) == 27


def test_map_literal_against_an_unordered_map_is_unknown(client, key):
    # the literal builds; an unordered map bin compares neither equal nor unequal
    assert _code(client, key, exp.Eq(exp.MapBin("m"), {"a": 1})) == 27
    assert _code(client, key, exp.NE(exp.MapBin("m"), {"a": 1})) == 27
    assert _code(client, key, exp.NE(exp.MapBin("m"), {"a": 2})) == 27
    assert _get(client, key, exp.Eq(exp.IntBin("i"), 4))["i"] == 4


def test_geo_point_within_region(client, ns, set_name):
    from aerospike import GeoJSON

    client.put((ns, set_name, "in"), {"i": 1, "loc": GeoJSON({"type": "Point", "coordinates": [-122.0, 37.5]})})
    client.put((ns, set_name, "out"), {"i": 2, "loc": GeoJSON({"type": "Point", "coordinates": [-121.0, 38.5]})})
    square = GeoJSON({"type": "Polygon", "coordinates": [[[-122.5, 37.0], [-121.5, 37.0], [-121.5, 38.0],
                                                          [-122.5, 38.0], [-122.5, 37.0]]]})
    circle = GeoJSON({"type": "AeroCircle", "coordinates": [[-122.0, 37.5], 1000.0]})
    for region in (square, circle):
        expr = exp.CmpGeo(exp.GeoBin("loc"), region).compile()
        got = [r[2]["i"] for r in client.query(ns, set_name).results({"expressions": expr})]
        assert got == [1]
