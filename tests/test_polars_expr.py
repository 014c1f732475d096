"""Regression cases for reading polars' serialized expressions (not a stable API).

Each case pins what aerodf reads for one construct under the installed polars;
a new polars minor version that changes the JSON fails here first.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from aerodf.expr import Arith, Between, Cmp, Col, IsIn, IsNull, Length, Lit, Not, Opaque, Or, StrMatch, and_
from aerodf.polars_expr import TimeValue, from_polars

POLARS = ".".join(pl.__version__.split(".")[:2])

CASES = [
    (pl.col("a") > 2, Cmp("gt", Col("a"), Lit(2))),
    (2 < pl.col("a"), Cmp("gt", Col("a"), Lit(2))),
    (pl.col("a") != pl.col("b"), Cmp("ne", Col("a"), Col("b"))),
    ((pl.col("a") > 2) & (pl.col("s") == "x"), and_(Cmp("gt", Col("a"), Lit(2)), Cmp("eq", Col("s"), Lit("x")))),
    ((pl.col("a") < 0) | pl.col("b"), Or((Cmp("lt", Col("a"), Lit(0)), Col("b")))),
    (~(pl.col("a") == 1), Not(Cmp("eq", Col("a"), Lit(1)))),
    (pl.col("a").is_null(), IsNull(Col("a"))),
    (pl.col("a").is_not_null(), Not(IsNull(Col("a")))),
    (pl.col("a").is_in([1, 2, 3]), IsIn(Col("a"), (1, 2, 3))),
    (pl.col("s").is_in(["x", "y"]), IsIn(Col("s"), ("x", "y"))),
    # nulls_equal=True keeps the null rows too: the null is a test of its own, not a value
    (pl.col("a").is_in([1, None], nulls_equal=True), Or((IsIn(Col("a"), (1,)), IsNull(Col("a"))))),
    (pl.col("a").is_in([None], nulls_equal=True), IsNull(Col("a"))),
    (pl.col("a").is_in([1, None]), IsIn(Col("a"), (1, None))),  # a null row stays null: dropped
    (pl.col("a").is_between(1, 5), Between(Col("a"), 1, 5, "both")),
    (pl.col("a").is_between(1, 5, closed="left"), Between(Col("a"), 1, 5, "left")),
    (pl.col("s").str.starts_with("ab"), StrMatch(Col("s"), "starts", "ab")),
    (pl.col("s").str.ends_with("z"), StrMatch(Col("s"), "ends", "z")),
    (pl.col("s").str.contains("a.b", literal=True), StrMatch(Col("s"), "contains", "a.b")),
    (pl.col("s").str.contains("abc"), StrMatch(Col("s"), "contains", "abc")),
    ((pl.col("a") * 2 + 1) > 5, Cmp("gt", Arith("add", Arith("mul", Col("a"), Lit(2)), Lit(1)), Lit(5))),
    (pl.col("l").list.len() > 1, Cmp("gt", Length(Col("l")), Lit(1))),
]


@pytest.mark.parametrize("expr,expected", CASES, ids=[f"polars{POLARS}-{i}" for i in range(len(CASES))])
def test_reads_polars_expression(expr, expected):
    assert from_polars(expr) == expected


def test_regex_contains_is_not_read_as_literal():
    assert isinstance(from_polars(pl.col("s").str.contains("a.*b")), Opaque)


def test_unknown_constructs_are_opaque_not_errors():
    assert isinstance(from_polars(pl.col("s").str.to_uppercase() == "X"), (Opaque, Cmp))
    assert isinstance(from_polars(pl.col("a").cum_sum() > 3), (Opaque, Cmp))


def test_datetime_literal_as_the_source_receives_it():
    import json

    node = {"BinaryExpr": {"left": {"Column": "t"}, "op": "Gt",
                           "right": {"Literal": {"Scalar": {"Datetime": [1704067200000, "Milliseconds", None]}}}}}
    from aerodf.polars_expr import _node

    e = _node(json.loads(json.dumps(node)))
    assert e == Cmp("gt", Col("t"), Lit(TimeValue(1704067200000, "ms")))
    assert e.right.value.to_unit("s") == int(dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc).timestamp())
