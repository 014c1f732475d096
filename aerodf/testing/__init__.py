"""aerodf.testing: a wire-compatible Aerospike server for tests and demos.

It speaks the real Aerospike protocol on real TCP sockets, so the official
``aerospike`` client and ``aerospike-py`` talk to it unmodified, as
fakeredis's server does for Redis clients. It runs in its own process.

>>> from aerodf.testing import TestServer
>>> with TestServer(nodes=2) as srv:          # doctest: +SKIP
...     client = aerospike.client({"hosts": srv.hosts}).connect()

See :mod:`aerodf.testing.server` for the command line, and the pytest plugin
(:mod:`aerodf.testing.pytest_plugin`) for the ``aerospike_server`` fixture.
"""

from .lifecycle import ServerHandle, TestServer, hosts_from_env

__all__ = ["TestServer", "ServerHandle", "hosts_from_env"]
