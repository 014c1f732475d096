"""Key digests and partition ids.

``digest = RIPEMD160(set || key type byte || key bytes)`` with key types
INTEGER (8-byte big-endian), STRING (UTF-8; Python ``bytes`` too, as the
official client hashes them) and BLOB (``bytearray``); the partition id is the
low 12 bits of the first two digest bytes read little-endian (C ``as_key.c``,
``as_partition.h``). hashlib offers ripemd160 where OpenSSL still ships it; a
pure-Python implementation covers systems where it is disabled as legacy.
"""

from __future__ import annotations

import hashlib
import struct

from .constants import N_PARTITIONS, PT_BLOB, PT_INTEGER, PT_STRING

__all__ = ["key_bytes", "compute_digest", "partition_id", "ripemd160"]


def key_bytes(key: int | str | bytes | bytearray) -> tuple[int, bytes]:
    """``(particle type, bytes)`` of a user key, as hashed and as sent.

    The official Python client's rule: ``bytes`` is a *string* key (its bytes
    hashed and sent with particle type STRING, as ``str(..)`` of them would be);
    ``bytearray`` (or ``memoryview``) is a *blob* key. Every aerodf transport
    follows it, so a record written by the official client with ``b"k"`` is
    found by ``read_batch([b"k"])``; ask for blob keys with ``bytearray(b"k")``.
    """
    if isinstance(key, bool):
        raise TypeError("a bool is not a valid Aerospike user key")
    if isinstance(key, int):
        return PT_INTEGER, struct.pack(">q", key)
    if isinstance(key, str):
        return PT_STRING, key.encode()
    if isinstance(key, bytes):
        return PT_STRING, key
    if isinstance(key, (bytearray, memoryview)):
        return PT_BLOB, bytes(key)
    raise TypeError(f"user keys are int, str or bytes, not {type(key).__name__}")


def compute_digest(set_name: str | bytes, key: int | str | bytes) -> bytes:
    """The 20-byte digest of a user key in a set."""
    ktype, kbytes = key_bytes(key)
    s = set_name.encode() if isinstance(set_name, str) else set_name
    return ripemd160(s + bytes((ktype,)) + kbytes)


def partition_id(digest: bytes) -> int:
    """The partition (0..4095) a digest belongs to."""
    return (digest[0] | (digest[1] << 8)) & (N_PARTITIONS - 1)


# ------------------------------------------------------------------ ripemd160

def _hashlib_ripemd160(data: bytes) -> bytes:
    return hashlib.new("ripemd160", data).digest()


_KL = [0x00000000, 0x5A827999, 0x6ED9EBA1, 0x8F1BBCDC, 0xA953FD4E]
_KR = [0x50A28BE6, 0x5C4DD124, 0x6D703EF3, 0x7A6D76E9, 0x00000000]
_RL = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
    7, 4, 13, 1, 10, 6, 15, 3, 12, 0, 9, 5, 2, 14, 11, 8,
    3, 10, 14, 4, 9, 15, 8, 1, 2, 7, 0, 6, 13, 11, 5, 12,
    1, 9, 11, 10, 0, 8, 12, 4, 13, 3, 7, 15, 14, 5, 6, 2,
    4, 0, 5, 9, 7, 12, 2, 10, 14, 1, 3, 8, 11, 6, 15, 13,
]
_RR = [
    5, 14, 7, 0, 9, 2, 11, 4, 13, 6, 15, 8, 1, 10, 3, 12,
    6, 11, 3, 7, 0, 13, 5, 10, 14, 15, 8, 12, 4, 9, 1, 2,
    15, 5, 1, 3, 7, 14, 6, 9, 11, 8, 12, 2, 10, 0, 4, 13,
    8, 6, 4, 1, 3, 11, 15, 0, 5, 12, 2, 13, 9, 7, 10, 14,
    12, 15, 10, 4, 1, 5, 8, 7, 6, 2, 13, 14, 0, 3, 9, 11,
]
_SL = [
    11, 14, 15, 12, 5, 8, 7, 9, 11, 13, 14, 15, 6, 7, 9, 8,
    7, 6, 8, 13, 11, 9, 7, 15, 7, 12, 15, 9, 11, 7, 13, 12,
    11, 13, 6, 7, 14, 9, 13, 15, 14, 8, 13, 6, 5, 12, 7, 5,
    11, 12, 14, 15, 14, 15, 9, 8, 9, 14, 5, 6, 8, 6, 5, 12,
    9, 15, 5, 11, 6, 8, 13, 12, 5, 12, 13, 14, 11, 8, 5, 6,
]
_SR = [
    8, 9, 9, 11, 13, 15, 15, 5, 7, 7, 8, 11, 14, 14, 12, 6,
    9, 13, 15, 7, 12, 8, 9, 11, 7, 7, 12, 7, 6, 15, 13, 11,
    9, 7, 15, 11, 8, 6, 6, 14, 12, 13, 5, 14, 13, 13, 7, 5,
    15, 5, 8, 11, 14, 14, 6, 14, 6, 9, 12, 9, 12, 5, 15, 8,
    8, 5, 12, 9, 12, 5, 14, 6, 8, 13, 6, 5, 15, 13, 11, 11,
]
_M = 0xFFFFFFFF


def _f(j: int, x: int, y: int, z: int) -> int:
    if j < 16:
        return x ^ y ^ z
    if j < 32:
        return (x & y) | (~x & z)
    if j < 48:
        return (x | ~y) ^ z
    if j < 64:
        return (x & z) | (y & ~z)
    return x ^ (y | ~z)


def _rol(x: int, n: int) -> int:
    x &= _M
    return ((x << n) | (x >> (32 - n))) & _M


def _pure_ripemd160(data: bytes) -> bytes:
    """RIPEMD-160 in pure Python (the specification's reference algorithm)."""
    h = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0]
    msg = bytes(data) + b"\x80"
    msg += b"\x00" * ((56 - len(msg) % 64) % 64)
    msg += struct.pack("<Q", (len(data) * 8) & 0xFFFFFFFFFFFFFFFF)
    for off in range(0, len(msg), 64):
        x = struct.unpack_from("<16I", msg, off)
        al, bl, cl, dl, el = h
        ar, br, cr, dr, er = h
        for j in range(80):
            r = j // 16
            t = _rol(al + _f(j, bl, cl, dl) + x[_RL[j]] + _KL[r], _SL[j]) + el
            al, el, dl, cl, bl = el, dl, _rol(cl, 10), bl, t & _M
            t = _rol(ar + _f(79 - j, br, cr, dr) + x[_RR[j]] + _KR[r], _SR[j]) + er
            ar, er, dr, cr, br = er, dr, _rol(cr, 10), br, t & _M
        t = (h[1] + cl + dr) & _M
        h[1] = (h[2] + dl + er) & _M
        h[2] = (h[3] + el + ar) & _M
        h[3] = (h[4] + al + br) & _M
        h[4] = (h[0] + bl + cr) & _M
        h[0] = t
    return struct.pack("<5I", *h)


try:
    _hashlib_ripemd160(b"")
    ripemd160 = _hashlib_ripemd160
except (ValueError, TypeError):  # pragma: no cover - depends on the OpenSSL build
    ripemd160 = _pure_ripemd160


def prefixed_hasher(prefix: bytes):
    """A RIPEMD-160 object already fed ``prefix`` (``.copy()`` it per key), or None
    where hashlib lacks RIPEMD-160 (then use :func:`ripemd160`)."""
    if ripemd160 is not _hashlib_ripemd160:
        return None
    h = hashlib.new("ripemd160")
    h.update(prefix)
    return h
