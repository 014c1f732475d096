"""Particles (bin values on the wire) and Aerospike's msgpack dialect.

Scalars travel as typed particles: INTEGER is 8 bytes big-endian signed,
FLOAT an 8-byte big-endian double, STRING UTF-8, BLOB raw bytes, BOOL one byte.
Lists and maps are msgpack, in a dialect where every string or blob is a
msgpack *str* whose first byte is its particle type (0x03 string, 0x04 blob),
ordered maps start with an ext-typed flags entry, and floats are always
float64 (aerospike-common ``as_msgpack.c``, server ``msgpack_in.c``).
"""

from __future__ import annotations

import struct
from typing import Any

import msgpack

from .constants import (
    BLOB_TYPES, PT_BLOB, PT_BOOL, PT_FLOAT, PT_GEOJSON, PT_INTEGER, PT_LIST,
    PT_MAP, PT_NULL, PT_STRING,
)

_I64 = struct.Struct(">q")
_F64 = struct.Struct(">d")
INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1


class ValueCodecError(ValueError):
    """A value that cannot be represented as, or decoded from, a particle."""


class GeoJSON(str):
    """A GeoJSON string bin (particle type 23)."""


class RawParticle(bytes):
    """The bytes of a particle type aerodf does not interpret (HyperLogLog = 18, or a
    type unknown to this codec), with its ``particle_type``. No field type reads it,
    so the column builders report it as a type error naming key and bin (or a null)
    instead of the codec failing the whole answer."""

    particle_type: int

    def __new__(cls, particle_type: int, data: bytes) -> "RawParticle":
        obj = super().__new__(cls, data)
        obj.particle_type = particle_type
        return obj

    def __repr__(self) -> str:
        return f"RawParticle({self.particle_type}, {bytes(self)!r})"


# ---------------------------------------------------------------- particles

def encode_particle(value: Any) -> tuple[int, bytes]:
    """``(particle type, bytes)`` for a Python value."""
    if value is None:
        return PT_NULL, b""
    if value is True or value is False:
        return PT_BOOL, b"\x01" if value else b"\x00"
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise ValueCodecError(f"integer {value} does not fit a signed 64-bit bin")
        return PT_INTEGER, _I64.pack(value)
    if isinstance(value, float):
        return PT_FLOAT, _F64.pack(value)
    if isinstance(value, GeoJSON):
        return PT_GEOJSON, b"\x00\x00\x00" + value.encode()
    if isinstance(value, str):
        return PT_STRING, value.encode()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return PT_BLOB, bytes(value)
    if isinstance(value, (list, tuple)):
        return PT_LIST, packb(list(value))
    if isinstance(value, dict):
        return PT_MAP, packb(value)
    raise ValueCodecError(f"cannot encode a value of type {type(value).__name__}")


def decode_particle(ptype: int, data: bytes) -> Any:
    """The Python value of a particle."""
    if ptype == PT_INTEGER:
        if len(data) == 8:
            return _I64.unpack(data)[0]
        return int.from_bytes(data, "big", signed=True)
    if ptype == PT_FLOAT:
        if len(data) != 8:
            raise ValueCodecError(f"float particle of {len(data)} bytes")
        return _F64.unpack(data)[0]
    if ptype == PT_STRING:
        return data.decode()
    if ptype == PT_BOOL:
        return data != b"\x00" and data != b""
    if ptype in (PT_LIST, PT_MAP):
        return unpackb(data)
    if ptype in BLOB_TYPES:
        return bytes(data)
    if ptype == PT_GEOJSON:
        if len(data) < 3:
            raise ValueCodecError("short geojson particle")
        ncells = struct.unpack_from(">H", data, 1)[0]
        return GeoJSON(data[3 + 8 * ncells :].decode())
    if ptype == PT_NULL:
        return None
    return RawParticle(ptype, bytes(data))


# ------------------------------------------------------------ msgpack dialect

def pack_str_header(out: bytearray, n: int) -> None:
    if n < 32:
        out.append(0xA0 | n)
    elif n < 256:
        out += b"\xd9" + bytes((n,))
    elif n < 65536:
        out += b"\xda" + n.to_bytes(2, "big")
    else:
        out += b"\xdb" + n.to_bytes(4, "big")


_ARRAY, _MAP = (0x90, b"\xdc", b"\xdd"), (0x80, b"\xde", b"\xdf")  # fix, 16-bit, 32-bit count headers


def pack_count_header(out: bytearray, n: int, kind: tuple[int, bytes, bytes]) -> None:
    fix, c16, c32 = kind
    if n < 16:
        out.append(fix | n)
    elif n < 65536:
        out += c16 + n.to_bytes(2, "big")
    else:
        out += c32 + n.to_bytes(4, "big")


def pack_array_header(out: bytearray, n: int) -> None:
    pack_count_header(out, n, _ARRAY)


def pack_int(out: bytearray, v: int) -> None:
    if 0 <= v < 128:
        out.append(v)
    elif -32 <= v < 0:
        out.append(v & 0xFF)
    elif 0 <= v < 256:
        out += b"\xcc" + bytes((v,))
    elif 0 <= v < 65536:
        out += b"\xcd" + v.to_bytes(2, "big")
    elif 0 <= v < (1 << 32):
        out += b"\xce" + v.to_bytes(4, "big")
    elif 0 <= v < (1 << 64):
        out += b"\xcf" + v.to_bytes(8, "big")
    elif -128 <= v:
        out += b"\xd0" + v.to_bytes(1, "big", signed=True)
    elif -32768 <= v:
        out += b"\xd1" + v.to_bytes(2, "big", signed=True)
    elif -(1 << 31) <= v:
        out += b"\xd2" + v.to_bytes(4, "big", signed=True)
    elif INT64_MIN <= v:
        out += b"\xd3" + v.to_bytes(8, "big", signed=True)
    else:
        raise ValueCodecError(f"integer {v} does not fit 64 bits")


def _pack_into(out: bytearray, v: Any) -> None:
    if v is None:
        out.append(0xC0)
    elif v is True:
        out.append(0xC3)
    elif v is False:
        out.append(0xC2)
    elif isinstance(v, int):
        pack_int(out, v)
    elif isinstance(v, float):
        out += b"\xcb" + _F64.pack(v)
    elif isinstance(v, str):
        b = v.encode()
        pack_str_header(out, len(b) + 1)
        out.append(PT_GEOJSON if isinstance(v, GeoJSON) else PT_STRING)
        out += b
    elif isinstance(v, (bytes, bytearray, memoryview)):
        b = bytes(v)
        pack_str_header(out, len(b) + 1)
        out.append(PT_BLOB)
        out += b
    elif isinstance(v, msgpack.ExtType):  # before tuple: ExtType is a namedtuple
        out += msgpack.packb(v)
    elif isinstance(v, (list, tuple)):
        pack_array_header(out, len(v))
        for item in v:
            _pack_into(out, item)
    elif isinstance(v, dict):
        pack_count_header(out, len(v), _MAP)
        for k, item in v.items():
            _pack_into(out, k)
            _pack_into(out, item)
    else:
        raise ValueCodecError(f"cannot encode a value of type {type(v).__name__} in a list or map")


def packb(value: Any) -> bytes:
    """Encode a value in Aerospike's msgpack dialect."""
    out = bytearray()
    _pack_into(out, value)
    return bytes(out)


def from_raw(v: Any) -> Any:
    if isinstance(v, bytes):
        if not v:
            return b""
        t = v[0]
        if t == PT_STRING:
            return v[1:].decode("utf-8", "surrogateescape")
        if t == PT_GEOJSON:
            return GeoJSON(v[1:].decode())
        return v[1:]
    if isinstance(v, list):
        if v and isinstance(v[0], msgpack.ExtType):
            v = v[1:]  # an ordered list's flags element (server: ext of length 0, type = flags)
        return [from_raw(x) for x in v]
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            if isinstance(k, msgpack.ExtType):
                continue  # ordered-map flags entry, or a wildcard
            k = from_raw(k)
            if isinstance(k, list):
                k = tuple(k)
            out[k] = from_raw(x)
        return out
    return v


def unpackb(data: bytes) -> Any:
    """Decode Aerospike-dialect msgpack into Python lists, dicts and scalars."""
    try:
        raw = msgpack.unpackb(data, raw=True, strict_map_key=False, use_list=True)
    except (ValueError, msgpack.UnpackException, TypeError) as exc:
        raise ValueCodecError(f"bad msgpack: {exc}") from None
    return from_raw(raw)


def unpack_raw(data: bytes) -> Any:
    """Decode msgpack without interpreting the particle prefixes (expressions)."""
    try:
        return msgpack.unpackb(data, raw=True, strict_map_key=False, use_list=True)
    except (ValueError, msgpack.UnpackException, TypeError) as exc:
        raise ValueCodecError(f"bad msgpack: {exc}") from None
