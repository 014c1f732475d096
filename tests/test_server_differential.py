"""Differential state machine: aerodf's test server against a model, and against a real server.

Random steps over a small key space (puts, deletes, increments, appends,
list appends, ordered-list and key-ordered-map writes, single and batch
reads, scans naming bins, expression-filtered queries, truncates) run through the official client against aerodf's test
server, and each answer (value or result code) is checked against a plain
Python model of Aerospike's rules. When a real cluster is named by
``AERODF_REAL_HOSTS=host:port``, every step also runs there and the two
servers' answers must agree step by step (fakeredis-style). The number of
steps scales with ``AERODF_DIFF_EXAMPLES`` (examples of up to 25 steps).
"""

from __future__ import annotations

import os
import time

import aerospike
import pytest
from aerospike import exception as aex
from aerospike_helpers import expressions as exp
from aerospike_helpers.operations import list_operations as lops
from aerospike_helpers.operations import map_operations as mops
from aerospike_helpers.operations import operations as ops
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule, run_state_machine_as_test

from aerodf.testing import TestServer
from aerodf.testing.lifecycle import hosts_from_env
from helpers import unique_set

KEYS = st.integers(0, 5)
BINS = ["a", "s", "l", "m"]
VALUES = {
    "a": st.one_of(st.integers(-1000, 1000), st.floats(-100, 100, allow_nan=False)),
    "s": st.text("xyz", max_size=4),
    "l": st.lists(st.integers(-5, 5), max_size=3),
    "m": st.dictionaries(st.sampled_from(["p", "q"]), st.integers(0, 9), max_size=2),
}
RECORD = st.fixed_dictionaries({}, optional={b: VALUES[b] for b in BINS}).filter(bool)
EXAMPLES = int(os.environ.get("AERODF_DIFF_EXAMPLES", "12" if os.environ.get("CI") else "30"))

BIN_INCOMPATIBLE_TYPE = 12
KEY_NOT_FOUND = 2
OP_NOT_APPLICABLE = 26


@pytest.fixture(scope="module")
def servers():
    """(test-server client, real client or None)."""
    with TestServer() as srv:
        fake = aerospike.client({"hosts": srv.hosts, "policies": {"total_timeout": 5000}}).connect()
        real = None
        hosts = hosts_from_env(os.environ.get("AERODF_REAL_HOSTS")) if os.environ.get("AERODF_REAL_HOSTS") else None
        if hosts:
            real = aerospike.client({"hosts": hosts, "policies": {"total_timeout": 5000}}).connect()
        yield fake, real
        fake.close()
        if real is not None:
            real.close()


def _norm(v):
    """Answers in a comparable form (bytearrays, tuples and key order do not matter; a
    key-ordered map, which the official client returns as a KeyOrderedDict, stays marked)."""
    if isinstance(v, aerospike.KeyOrderedDict):
        return ("key-ordered", [(k, _norm(x)) for k, x in v.items()])
    if isinstance(v, dict):
        return {k: _norm(x) for k, x in sorted(v.items(), key=lambda kv: repr(kv[0]))}
    if isinstance(v, (list, tuple)):
        return [_norm(x) for x in v]
    return v


def _as_read(rec: dict) -> dict:
    """A model record as the official client reads it back (a key-ordered map sorted)."""
    out = dict(rec)
    if "om" in out:
        out["om"] = aerospike.KeyOrderedDict(sorted(out["om"].items()))
    return out


def _done(_answer) -> None:
    """A write's answer: done (the client libraries return 0 or None)."""
    return None


def _call(fn):
    try:
        return ("ok", _norm(fn()))
    except aex.AerospikeError as exc:
        return ("err", exc.code)


class Differential(RuleBasedStateMachine):
    clients: tuple = ()

    def __init__(self) -> None:
        super().__init__()
        self.set = unique_set("diff")
        self.model: dict[int, dict] = {}
        self.steps = 0

    # -- running a step everywhere
    def both(self, fn) -> tuple:
        """Run ``fn(client)`` on the test server (and the real one); they must agree."""
        self.steps += 1
        fake, real = self.clients
        got = _call(lambda: fn(fake))
        if real is not None:
            want = _call(lambda: fn(real))
            assert got == want, f"test server answered {got}, real server {want}"
        return got

    def key(self, k: int) -> tuple:
        return ("test", self.set, k)

    # -- writes
    @rule(k=KEYS, bins=RECORD)
    def put(self, k, bins):
        got = self.both(lambda c: _done(c.put(self.key(k), bins)))
        assert got == ("ok", None)
        self.model.setdefault(k, {}).update(bins)

    @rule(k=KEYS)
    def remove(self, k):
        got = self.both(lambda c: _done(c.remove(self.key(k))))
        if k in self.model:
            assert got == ("ok", None)
            del self.model[k]
        else:
            assert got == ("err", KEY_NOT_FOUND)

    @rule(k=KEYS, by=st.integers(-10, 10))
    def increment(self, k, by):
        got = self.both(lambda c: _done(c.increment(self.key(k), "a", by)))
        cur = self.model.get(k, {}).get("a")
        if cur is None or type(cur) is int:
            assert got == ("ok", None)
            self.model.setdefault(k, {})["a"] = (cur or 0) + by
        else:
            assert got == ("err", BIN_INCOMPATIBLE_TYPE)

    @rule(k=KEYS, text=st.text("xyz", min_size=1, max_size=3))
    def append(self, k, text):
        got = self.both(lambda c: _done(c.append(self.key(k), "s", text)))
        cur = self.model.get(k, {}).get("s")
        if cur is None or isinstance(cur, str):
            assert got == ("ok", None)
            self.model.setdefault(k, {})["s"] = (cur or "") + text
        else:
            assert got == ("err", BIN_INCOMPATIBLE_TYPE)

    @rule(k=KEYS, v=st.integers(-5, 5))
    def list_append(self, k, v):
        got = self.both(lambda c: c.operate(self.key(k), [lops.list_append("l", v)])[2])
        cur = self.model.get(k, {}).get("l")
        if cur is None or isinstance(cur, list):
            new = (cur or []) + [v]
            assert got == ("ok", {"l": len(new)})
            self.model.setdefault(k, {})["l"] = new
        else:
            assert got == ("err", BIN_INCOMPATIBLE_TYPE)

    @rule(k=KEYS, vs=st.lists(st.integers(-5, 5), min_size=1, max_size=3))
    def ordered_list_append(self, k, vs):
        # bin "ol" is created as an ordered list; appends keep it sorted
        got = self.both(lambda c: c.operate(self.key(k), [
            lops.list_append_items("ol", vs, {"list_order": aerospike.LIST_ORDERED})])[2])
        new = sorted(self.model.get(k, {}).get("ol", []) + vs)
        assert got == ("ok", {"ol": len(new)})
        self.model.setdefault(k, {})["ol"] = new

    @rule(k=KEYS, v=st.integers(-5, 5))
    def ordered_list_insert_is_refused(self, k, v):
        if self.model.get(k, {}).get("ol") is None:
            return  # (an insert would create a plain list)
        got = self.both(lambda c: c.operate(self.key(k), [lops.list_insert("ol", 0, v)])[2])
        assert got == ("err", OP_NOT_APPLICABLE)

    @rule(k=KEYS, key=st.sampled_from(["p", "q", "r", "a"]), v=st.integers(0, 9))
    def key_ordered_map_put(self, k, key, v):
        got = self.both(lambda c: c.operate(self.key(k), [
            mops.map_put("om", key, v, {"map_order": aerospike.MAP_KEY_ORDERED})])[2])
        cur = dict(self.model.get(k, {}).get("om", {}))
        cur[key] = v
        assert got == ("ok", {"om": len(cur)})
        self.model.setdefault(k, {})["om"] = cur

    @rule(k=KEYS)
    def touch_read(self, k):
        got = self.both(lambda c: c.operate(self.key(k), [ops.read("a")])[2])
        if k not in self.model:
            assert got == ("err", KEY_NOT_FOUND)
        else:
            rec = self.model[k]
            assert got == ("ok", _norm({"a": rec["a"]} if "a" in rec else {}))

    @rule()
    def truncate(self):
        # truncate deletes by last-update time: writes of the same millisecond could go too
        time.sleep(0.01)
        got = self.both(lambda c: _done(c.truncate("test", self.set, 0)))
        assert got == ("ok", None)
        for c in filter(None, self.clients):
            end = time.monotonic() + 10
            while c.query("test", self.set).results() and time.monotonic() < end:
                time.sleep(0.05)
        time.sleep(0.01)
        self.model.clear()

    # -- reads
    @rule(k=KEYS)
    def get(self, k):
        got = self.both(lambda c: c.get(self.key(k))[2])
        if k in self.model:
            assert got == ("ok", _norm(_as_read(self.model[k])))
        else:
            assert got == ("err", KEY_NOT_FOUND)

    @rule(keys=st.lists(KEYS, min_size=1, max_size=4), names=st.lists(st.sampled_from(BINS), min_size=1,
                                                                        max_size=2, unique=True))
    def batch_read(self, keys, names):
        def read(c):
            res = c.batch_read([self.key(k) for k in keys], names).batch_records
            return [(r.result, None if r.record is None else r.record[2]) for r in res]

        status, got = self.both(read)
        assert status == "ok"
        for k, (code, bins) in zip(keys, got):
            if k in self.model:
                assert code == 0
                assert (bins or {}) == _norm({b: v for b, v in self.model[k].items() if b in names})
            else:
                assert code == KEY_NOT_FOUND and bins is None

    @rule(names=st.lists(st.sampled_from(BINS), min_size=1, max_size=2, unique=True))
    def scan_naming_bins(self, names):
        def scan(c):
            q = c.query("test", self.set)
            q.select(*names)
            return sorted(repr(_norm(r[2])) for r in q.results())

        status, got = self.both(scan)
        assert status == "ok"
        # records without any of the named bins are left out of the answer
        want = sorted(repr(_norm({b: v for b, v in rec.items() if b in names}))
                      for rec in self.model.values() if any(b in rec for b in names))
        assert got == want

    @rule(v=st.integers(-1000, 1000))
    def query_int_filter(self, v):
        def query(c):
            q = c.query("test", self.set)
            pol = {"expressions": exp.GT(exp.IntBin("a"), v).compile()}
            return sorted(repr(_norm(r[2])) for r in q.results(pol))

        status, got = self.both(query)
        assert status == "ok"
        want = sorted(repr(_norm(_as_read(rec))) for rec in self.model.values()
                      if type(rec.get("a")) is int and rec["a"] > v)
        assert got == want


@pytest.mark.slow
def test_test_server_follows_aerospike_rules(servers):
    Differential.clients = servers
    total = {"steps": 0}

    class Counted(Differential):
        def teardown(self):
            total["steps"] += self.steps

    run_state_machine_as_test(Counted, settings=settings(max_examples=EXAMPLES, stateful_step_count=25,
                                                         deadline=None, suppress_health_check=list(HealthCheck)))
    print(f"differential state machine: {total['steps']} steps"
          f"{' against the test server and a real server' if servers[1] is not None else ''}")
    assert total["steps"] >= EXAMPLES
