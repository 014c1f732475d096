"""How bytes reach the cluster. Only this package imports a client library.

Transports share one interface (:class:`~aerodf.transport.base.Transport`):

``official``
    The official ``aerospike`` client: the default, complete transport.
``aerospike-py`` / ``wire``
    Later additions (optional Rust client; aerodf's own columnar reader).
"""

from __future__ import annotations

from .base import RecordsChunk, Transport

TRANSPORTS = ("official",)


def open_transport(name: str, hosts, **options) -> Transport:
    """Connect a transport by name."""
    if name == "official":
        from .official import OfficialTransport

        return OfficialTransport(hosts, **options)
    from ..errors import ConfigError

    raise ConfigError(f"unknown transport {name!r}; available: {', '.join(TRANSPORTS)}")


__all__ = ["Transport", "RecordsChunk", "open_transport", "TRANSPORTS"]
