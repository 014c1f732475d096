"""Conformance: filter expressions, as the official client encodes them.

Each case is evaluated on one known record through a get with the expression
as its filter: "match" returns the record, "no" answers FILTERED_OUT. Expected
results follow Aerospike's documented semantics (three-valued logic: a missing
bin makes a comparison unknown, and unknown filters the record out).
"""

from __future__ import annotations

import aerospike
import pytest
from aerospike import exception as ex
from aerospike_helpers import expressions as e

REC = {"a": 5, "neg": -7, "f": 2.5, "s": "hello world", "b": True, "l": [1, 2, 3],
       "m": {"x": 1, "y": 2}, "bl": b"\x01\x02"}

CASES = {
    "eq": (e.Eq(e.IntBin("a"), 5), True),
    "ne": (e.NE(e.IntBin("a"), 5), False),
    "gt_float": (e.GT(e.FloatBin("f"), 2.0), True),
    "le_str": (e.LE(e.StrBin("s"), "hello"), False),
    "bool": (e.Eq(e.BoolBin("b"), True), True),
    "blob": (e.Eq(e.BlobBin("bl"), b"\x01\x02"), True),
    "list_eq": (e.Eq(e.ListBin("l"), [1, 2, 3]), True),
    "missing_bin_unknown": (e.Eq(e.IntBin("nope"), 5), False),
    "not_missing_is_unknown": (e.Not(e.Eq(e.IntBin("nope"), 5)), False),
    "or_true_with_unknown": (e.Or(e.Eq(e.IntBin("nope"), 5), e.Eq(e.IntBin("a"), 5)), True),
    "and_false": (e.And(e.Eq(e.IntBin("a"), 5), e.Eq(e.IntBin("a"), 6)), False),
    "exclusive": (e.Exclusive(e.Eq(e.IntBin("a"), 5), e.Eq(e.IntBin("a"), 6)), True),
    "wrong_type_read": (e.Eq(e.StrBin("a"), "5"), False),
    "bin_exists": (e.BinExists("a"), True),
    "bin_not_exists": (e.BinExists("zz"), False),
    "bin_type": (e.Eq(e.BinType("s"), aerospike.AS_BYTES_STRING), True),
    "add": (e.Eq(e.Add(e.IntBin("a"), 10), 15), True),
    "sub": (e.Eq(e.Sub(e.IntBin("a"), 10), -5), True),
    "mul": (e.Eq(e.Mul(e.IntBin("a"), 3), 15), True),
    "div_trunc": (e.Eq(e.Div(e.IntBin("neg"), 2), -3), True),
    "mod": (e.Eq(e.Mod(e.IntBin("neg"), 3), -1), True),
    "abs": (e.Eq(e.Abs(e.IntBin("neg")), 7), True),
    "min_max": (e.And(e.Eq(e.Min(e.IntBin("a"), 3, 9), 3), e.Eq(e.Max(e.IntBin("a"), 3, 9), 9)), True),
    "float_arith": (e.GT(e.Add(e.FloatBin("f"), 0.5), 2.9), True),
    "to_float": (e.Eq(e.ToFloat(e.IntBin("a")), 5.0), True),
    "to_int": (e.Eq(e.ToInt(e.FloatBin("f")), 2), True),
    # flags go to glibc regcomp as given: basic syntax (+ is literal, \\+ the GNU operator)
    # unless REGEX_EXTENDED
    "regex_basic_plus_is_literal": (e.CmpRegex(0, "^hel+o", e.StrBin("s")), False),
    "regex_basic_gnu_plus": (e.CmpRegex(0, "^hel\\+o", e.StrBin("s")), True),
    "regex_basic_group": (e.CmpRegex(0, "^\\(hel\\)\\{1\\}lo", e.StrBin("s")), True),
    "regex_basic_paren_is_literal": (e.CmpRegex(0, "(", e.StrBin("s")), False),
    "regex_extended": (e.CmpRegex(aerospike.REGEX_EXTENDED, "^hel+o", e.StrBin("s")), True),
    "regex_extended_alternation": (e.CmpRegex(aerospike.REGEX_EXTENDED, "^(x|hello) w", e.StrBin("s")), True),
    "regex_icase": (e.CmpRegex(aerospike.REGEX_ICASE, "WORLD$", e.StrBin("s")), True),
    "regex_no": (e.CmpRegex(0, "^world", e.StrBin("s")), False),
    "regex_bracket_class": (e.CmpRegex(aerospike.REGEX_EXTENDED, "^[[:alpha:]]+ [[:lower:]]{5}$", e.StrBin("s")),
                            True),
    "list_size": (e.Eq(e.ListSize(None, e.ListBin("l")), 3), True),
    "map_size": (e.Eq(e.MapSize(None, e.MapBin("m")), 2), True),
    "list_get_by_index": (e.Eq(e.ListGetByIndex(None, aerospike.LIST_RETURN_VALUE, e.ResultType.INTEGER, 1,
                                                e.ListBin("l")), 2), True),
    "map_get_by_key": (e.Eq(e.MapGetByKey(None, aerospike.MAP_RETURN_VALUE, e.ResultType.INTEGER, "y",
                                          e.MapBin("m")), 2), True),
    "cond": (e.Eq(e.Cond(e.GT(e.IntBin("a"), 10), 1, e.GT(e.IntBin("a"), 1), 2, 3), 2), True),
    "let_var": (e.Let(e.Def("x", e.Add(e.IntBin("a"), 1)), e.Eq(e.Var("x"), 6)), True),
    "ttl_never": (e.Eq(e.TTL(), -1), True),
    "void_time_never": (e.Eq(e.VoidTime(), -1), True),
    "since_update": (e.GE(e.SinceUpdateTime(), 0), True),
    "last_update": (e.GT(e.LastUpdateTime(), 1_600_000_000 * 10**9), True),
    "set_name": (e.Eq(e.SetName(), "__SET__"), True),
    "key_exists_not_sent": (e.KeyExists(), False),
    "tombstone": (e.Not(e.IsTombstone()), True),
    "record_size": (e.GT(e.RecordSize(), 0), True),
    "digest_mod": (e.GE(e.DigestMod(2), 0), True),
    "int_and": (e.Eq(e.IntAnd(e.IntBin("a"), 4), 4), True),
    "int_count": (e.Eq(e.IntCount(e.IntBin("a")), 2), True),
}


@pytest.fixture(scope="module")
def rec_key(client):
    key = ("test", "expr_cases", "r")
    client.put(key, REC)
    return key


@pytest.mark.parametrize("name", list(CASES))
def test_expression(client, rec_key, name):
    expression, expected = CASES[name]
    if name == "set_name":
        expression = e.Eq(e.SetName(), rec_key[1])
    policy = {"expressions": expression.compile()}
    if expected:
        assert client.get(rec_key, policy=policy)[2] == REC
    else:
        with pytest.raises(ex.FilteredOut):
            client.get(rec_key, policy=policy)


def test_key_expression_with_stored_key(client):
    key = ("test", "expr_cases", 42)
    client.put(key, {"a": 1}, policy={"key": aerospike.POLICY_KEY_SEND})
    assert client.get(key, policy={"expressions": e.Eq(e.KeyInt(), 42).compile()})[2] == {"a": 1}
    assert client.get(key, policy={"expressions": e.KeyExists().compile()})[2] == {"a": 1}


@pytest.mark.parametrize("flags,pattern", [(aerospike.REGEX_EXTENDED, "("), (aerospike.REGEX_EXTENDED, "a{"),
                                           (0, "\\("), (0, "[z-a]")])
def test_invalid_regex_is_parameter_error(client, rec_key, flags, pattern):
    with pytest.raises(ex.AerospikeError) as err:
        client.get(rec_key, policy={"expressions": e.CmpRegex(flags, pattern, e.StrBin("s")).compile()})
    assert err.value.code == 4


def test_regex_flags_are_glibcs_not_the_clients(client, set_name):
    # the server hands the flags to regcomp unchanged: glibc's REG_NEWLINE is 4 (the clients'
    # REGEX_NOSUB), 8 is glibc's REG_NOSUB (the clients' REGEX_NEWLINE) and changes no match
    key = ("test", set_name, "nl")
    client.put(key, {"s": "first\nsecond"})

    def matches(flags: int, pattern: str) -> bool:
        try:
            client.get(key, policy={"expressions": e.CmpRegex(flags, pattern, e.StrBin("s")).compile()})
            return True
        except ex.FilteredOut:
            return False

    assert not matches(0, "^second")
    assert matches(4, "^second") and matches(4, "first$")
    assert not matches(8, "^second")
    assert matches(0, "t.s") and not matches(4, "t.s")  # REG_NEWLINE: . does not match a newline


def test_regex_pattern_and_subject_end_at_nul(pyclient, set_name):
    # the server reads both as C strings (aerospike-py sends and stores the NULs; the
    # official client would cut them itself): "head\0tail" is "head" to regexec
    from aerospike_py import exception as pex
    from aerospike_py import exp as x

    key = ("test", set_name, "nul")
    pyclient.put(key, {"s": "head\x00tail"})
    assert pyclient.get(key).bins == {"s": "head\x00tail"}

    def matches(pattern: str) -> bool:
        try:
            pyclient.get(key, policy={"filter_expression": x.regex_compare(pattern, 0, x.string_bin("s"))})
            return True
        except pex.FilteredOut:
            return False

    assert matches("^head$")
    assert not matches("tail")
    assert matches("ad\x00zzz")  # the pattern "ad"


def test_ill_typed_expression_is_parameter_error(client, rec_key):
    # comparing an integer bin with a float literal is rejected by the server
    with pytest.raises(ex.AerospikeError) as err:
        client.get(rec_key, policy={"expressions": e.Eq(e.IntBin("a"), 5.0).compile()})
    assert err.value.code == 4
