"""How bytes reach the cluster. Only this package imports a client library.

Transports share one interface (:class:`~aerodf.transport.base.Transport`):

``official``
    The official ``aerospike`` client: the default, complete transport.
``aerospike-py``
    The optional Rust-core client (``pip install aerodf[aerospike-py]``):
    native async for :mod:`aerodf.aio`; scans through the official client.
``wire``
    aerodf's own protocol client (:mod:`aerodf.wire`): batch reads and scans
    of any schema decoded straight into Arrow columns (the
    :class:`~aerodf.transport.base.ColumnarReads` capability); the rest
    through the official client (:class:`~aerodf.transport.base.Delegating`).
``auto``
    ``aerospike-py`` when it is installed, else ``official``.
"""

from __future__ import annotations

from ..records import RecordsChunk
from .base import Transport

TRANSPORTS = ("official", "aerospike-py", "wire", "auto")


def available() -> list[str]:
    """The transports whose client library is installed."""
    import importlib.util

    return [name for name, mod in (("official", "aerospike"), ("aerospike-py", "aerospike_py"))
            if importlib.util.find_spec(mod) is not None]


def resolve_name(name: str) -> str:
    """A transport's canonical name (``auto`` resolved); raises ConfigError."""
    from ..errors import ConfigError

    canonical = {"official": "official", "aerospike-py": "aerospike-py", "aerospike_py": "aerospike-py",
                 "wire": "wire", "auto": "auto"}.get(name)
    if canonical is None:
        raise ConfigError(f"unknown transport {name!r}; choose from {', '.join(TRANSPORTS)}")
    have = available()
    if canonical == "auto":
        return "aerospike-py" if "aerospike-py" in have else "official"
    if canonical == "wire":
        canonical_needs = "official"  # the wire transport delegates what it does not cover
        if canonical_needs not in have:
            raise ConfigError("transport 'wire' needs the official client for what it does not cover")
        return canonical
    if canonical not in have:
        extra = "aerospike-py" if canonical == "aerospike-py" else "the default install"
        raise ConfigError(f"transport {canonical!r} needs its client library: pip install 'aerodf[{extra}]'"
                          if canonical == "aerospike-py" else f"transport {canonical!r} is not installed ({extra})")
    return canonical


def open_transport(name: str, hosts, **options) -> Transport:
    """Connect a transport by name (``official``, ``aerospike-py`` or ``auto``)."""
    name = resolve_name(name)
    if name == "aerospike-py":
        from .aerospike_py import AerospikePyTransport

        return AerospikePyTransport(hosts, **options)
    if name == "wire":
        from .wire import WireTransport

        return WireTransport(hosts, **options)
    from .official import OfficialTransport

    return OfficialTransport(hosts, **options)


__all__ = ["TRANSPORTS", "RecordsChunk", "Transport", "available", "open_transport", "resolve_name"]
