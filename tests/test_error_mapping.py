"""Every exception class of each client library is mapped onto aerodf's error tree
at one boundary (httpx's pattern): a library version that adds a class makes this
fail until the class is mapped deliberately."""

from __future__ import annotations

import inspect

import pytest

import aerodf
from aerodf import errors as E


def _classes(module) -> list[type]:
    # the module's own classes: not builtins it re-exports
    return [c for c in vars(module).values() if inspect.isclass(c) and issubclass(c, BaseException)
            and c.__module__ != "builtins"]


def test_every_official_exception_class_is_mapped():
    aex = pytest.importorskip("aerospike.exception")
    from aerodf.transport.official import BY_CLASS, map_error

    by_class = dict(BY_CLASS)
    classes = _classes(aex)
    assert len(classes) > 50
    unmapped = [c.__name__ for c in classes if getattr(c, "code", None) is None and c not in by_class]
    assert unmapped == []
    for cls in classes:
        exc = cls()
        got = map_error(exc, key=7)
        assert isinstance(got, aerodf.AerospikeServerError), cls
        code = getattr(cls, "code", None)
        special = next((t for c, t in BY_CLASS if issubclass(cls, c) and c is not aex.AerospikeError
                        and c not in (aex.RecordError, aex.AdminError)), None)
        want = special or type(E.error_for_code(code, "x"))
        assert type(got) is want, (cls.__name__, code, type(got).__name__)
        assert got.key == 7


def test_every_aerospike_py_exception_class_is_mapped():
    aex = pytest.importorskip("aerospike_py.exception")
    from aerodf.transport.aerospike_py import BY_CLASS, map_error

    classes = _classes(aex)
    assert len(classes) > 15
    assert sorted(c.__name__ for c in classes if c not in BY_CLASS) == []
    for cls in classes:
        got = map_error(cls("something failed"), keys=[1, 2])
        assert isinstance(got, aerodf.AerospikeServerError), cls
        target = BY_CLASS[cls]
        if target is not None:
            assert isinstance(got, target), (cls.__name__, type(got).__name__)
        assert got.keys == [1, 2]


def test_a_non_library_exception_is_still_an_aerodf_error():
    from aerodf.transport.official import map_error

    got = map_error(RuntimeError("boom"), key="k")
    assert isinstance(got, aerodf.AerospikeServerError) and "RuntimeError" in str(got)


def test_one_scan_error_names_every_partition_once():
    # the reasons of failed ranges are kept apart from the partitions they name (no string splitting)
    from aerodf.query import _unread  # the rule under test
    from aerodf.records import unread_message

    a = aerodf.TimeoutError(unread_message("timeout; partitions not read: trick", [0, 1]), code=9,
                            partitions=[0, 1], reason="timeout; partitions not read: trick")
    b = aerodf.TimeoutError(unread_message("timeout", [7]), code=9, partitions=[7], reason="timeout")
    err = _unread([a, b], delivered=5)
    assert isinstance(err, aerodf.TimeoutError) and err.partitions == [0, 1, 7]
    assert str(err).endswith("(2 ranges failed); 5 rows delivered; partitions not read: 0-1, 7")
    assert err.reason.startswith("timeout; partitions not read: trick")
