"""pytest plugin: the ``aerospike_server`` fixture (registered via ``pytest11``).

The fixture is session-scoped and yields a :class:`~aerodf.testing.ServerHandle`
whose ``hosts`` the tests connect to. With ``AERODF_TEST_HOSTS=host:port`` set,
it yields that real cluster and starts nothing; tests marked ``fake_only``
(fault injection, server statistics) are then skipped.
"""

from __future__ import annotations

import pytest

from .lifecycle import ServerHandle, TestServer, hosts_from_env


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "fake_only: needs aerodf's test server; skipped against a real cluster"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if hosts_from_env() is None:
        return
    skip = pytest.mark.skip(reason="needs aerodf's test server (AERODF_TEST_HOSTS is set)")
    for item in items:
        if "fake_only" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def aerospike_server():
    """A running cluster: ``AERODF_TEST_HOSTS`` if set, else aerodf's test server."""
    hosts = hosts_from_env()
    if hosts is not None:
        yield ServerHandle(hosts)
        return
    with TestServer() as srv:
        yield srv


@pytest.fixture(scope="session")
def aerospike_cluster():
    """A three-node test server (fake only): partition routing, replicas, node faults."""
    if hosts_from_env() is not None:
        pytest.skip("multi-node fault tests need aerodf's test server")
    with TestServer(nodes=3) as srv:
        yield srv
