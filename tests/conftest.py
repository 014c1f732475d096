"""Shared fixtures: clients connected to the ``aerospike_server`` fixture's cluster.

``aerospike_server`` comes from aerodf's pytest plugin: aerodf's own test
server, or the real cluster named by ``AERODF_TEST_HOSTS``.
"""

from __future__ import annotations

import os

import pytest

NAMESPACE = os.environ.get("AERODF_TEST_NAMESPACE", "test")


def pytest_collection_modifyitems(config, items) -> None:
    """CI runs the short form of the scale-out engine tests: those of tests/test_scale_*.py
    marked ``slow`` are skipped when ``CI`` is set, unless ``AERODF_ENGINE_TESTS=full``."""
    if not os.environ.get("CI") or os.environ.get("AERODF_ENGINE_TESTS") == "full":
        return
    skip = pytest.mark.skip(reason="long form of the engine tests (CI is set; AERODF_ENGINE_TESTS=full runs it)")
    for item in items:
        if "slow" in item.keywords and item.fspath.basename.startswith("test_scale_"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def ns() -> str:
    return NAMESPACE


@pytest.fixture
def set_name(request) -> str:
    """A set name of this test's own, so tests never see each other's records."""
    from helpers import unique_set

    return unique_set("t")


@pytest.fixture(scope="session")
def client(aerospike_server):
    aerospike = pytest.importorskip("aerospike")
    import tempfile

    # udf_put copies each module into the client's Lua path (by default the working directory)
    lua = tempfile.mkdtemp(prefix="aerodf-test-lua-")
    c = aerospike.client({"hosts": aerospike_server.hosts, "policies": {"total_timeout": 5000},
                          "lua": {"user_path": lua}}).connect()
    yield c
    c.close()


@pytest.fixture(scope="session")
def pyclient(aerospike_server):
    aerospike_py = pytest.importorskip("aerospike_py")
    c = aerospike_py.client({"hosts": aerospike_server.hosts}).connect()
    yield c
    c.close()


def _transports() -> list:
    from aerodf.transport import available

    have = available() + ["wire"]
    return [pytest.param(name, marks=() if name in have else pytest.mark.skip(reason=f"{name} not installed"))
            for name in ("official", "aerospike-py", "wire")]


@pytest.fixture(scope="session", params=_transports())
def transport(request) -> str:
    """Each transport in turn: suites using it run once per client library."""
    return request.param


@pytest.fixture
def fake(aerospike_server):
    """The test server's control handle (tests using it are fake-only)."""
    if not aerospike_server.is_fake:
        pytest.skip("needs aerodf's test server")
    aerospike_server.clear_faults()
    yield aerospike_server
    aerospike_server.clear_faults()
