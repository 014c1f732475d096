"""The 8-byte proto header: ``version | type | 48-bit big-endian length``.

Compressed frames (type 4) carry a u64 big-endian uncompressed size and then a
zlib stream of the complete original frame, header included (C client
``as_command_compress``).
"""

from __future__ import annotations

import struct
import zlib

from .constants import MSG_TYPE_COMPRESSED, PROTO_VERSION

_HDR = struct.Struct(">Q")
PROTO_HEADER_SIZE = 8
# A sane upper bound on one frame: the server's own limit is far below this,
# and it stops a garbage length from making us allocate gigabytes.
MAX_FRAME_SIZE = 128 * 1024 * 1024


class FrameError(ValueError):
    """A frame that does not follow the protocol (bad version, type or size)."""


def pack_header(msg_type: int, length: int) -> bytes:
    """The 8-byte proto header for a payload of ``length`` bytes."""
    return _HDR.pack((PROTO_VERSION << 56) | (msg_type << 48) | length)


def frame(msg_type: int, payload: bytes) -> bytes:
    """A whole frame: header plus payload."""
    return pack_header(msg_type, len(payload)) + payload


def unpack_header(header: bytes) -> tuple[int, int, int]:
    """``(version, type, length)`` of an 8-byte proto header."""
    (word,) = _HDR.unpack(header)
    return word >> 56, (word >> 48) & 0xFF, word & 0xFFFF_FFFF_FFFF


def check_header(header: bytes) -> tuple[int, int]:
    """``(type, length)``, raising :class:`FrameError` on a malformed header."""
    version, msg_type, length = unpack_header(header)
    if version != PROTO_VERSION:
        raise FrameError(f"unsupported proto version {version}")
    if msg_type not in (1, 2, 3, 4):
        raise FrameError(f"unknown message type {msg_type}")
    if length > MAX_FRAME_SIZE:
        raise FrameError(f"frame of {length} bytes exceeds {MAX_FRAME_SIZE}")
    return msg_type, length


def compress_frame(whole_frame: bytes, level: int = 1) -> bytes:
    """Wrap a complete frame (header included) in a type-4 compressed frame."""
    body = struct.pack(">Q", len(whole_frame)) + zlib.compress(whole_frame, level)
    return frame(MSG_TYPE_COMPRESSED, body)


def decompress_payload(payload: bytes) -> tuple[int, bytes]:
    """Unwrap the payload of a type-4 frame into ``(inner type, inner payload)``."""
    if len(payload) < 8:
        raise FrameError("compressed frame too short")
    (size,) = struct.unpack_from(">Q", payload)
    if size > MAX_FRAME_SIZE:
        raise FrameError(f"compressed frame claims {size} bytes")
    try:
        inner = zlib.decompress(payload[8:])
    except zlib.error as exc:
        raise FrameError(f"bad zlib stream: {exc}") from None
    if len(inner) != size or size < PROTO_HEADER_SIZE:
        raise FrameError("compressed frame size mismatch")
    msg_type, length = check_header(inner[:8])
    if length != size - PROTO_HEADER_SIZE or msg_type == MSG_TYPE_COMPRESSED:
        raise FrameError("compressed frame inner header mismatch")
    return msg_type, inner[8:]


def recv_exact(sock, n: int) -> bytes:
    """Read exactly ``n`` bytes from a blocking socket (``ConnectionError`` on EOF)."""
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            raise ConnectionError("connection closed by peer")
        got += k
    return bytes(buf)


def recv_frame(sock) -> tuple[int, bytes]:
    """Read one frame from a blocking socket: ``(type, payload)``, decompressed."""
    msg_type, length = check_header(recv_exact(sock, PROTO_HEADER_SIZE))
    payload = recv_exact(sock, length)
    if msg_type == MSG_TYPE_COMPRESSED:
        return decompress_payload(payload)
    return msg_type, payload


class FrameReader:
    """Frames from a blocking socket, read in large chunks.

    ``recv_frame`` costs two ``recv`` calls per frame (header, payload); under
    threads each is a GIL release and re-acquire, and a re-acquire can wait a
    whole switch interval. This reads whatever has arrived (up to ``chunk``
    bytes) per call, so a small answer is usually one call. Use one reader
    per request: it may hold bytes of the next frame, never of another
    request (Aerospike answers one request per connection at a time)."""

    def __init__(self, sock, chunk: int = 1 << 16) -> None:
        self.sock, self.chunk = sock, chunk
        self.buf = bytearray()
        self.pos = 0

    def _fill(self, need: int) -> None:
        if self.pos:
            del self.buf[:self.pos]
            self.pos = 0
        while len(self.buf) < need:
            data = self.sock.recv(max(self.chunk, need - len(self.buf)))
            if not data:
                raise ConnectionError("connection closed by peer")
            self.buf += data

    def frame(self) -> tuple[int, bytes]:
        """The next frame: ``(type, payload)``, decompressed."""
        if len(self.buf) - self.pos < PROTO_HEADER_SIZE:
            self._fill(PROTO_HEADER_SIZE)
        msg_type, length = check_header(bytes(self.buf[self.pos:self.pos + PROTO_HEADER_SIZE]))
        end = self.pos + PROTO_HEADER_SIZE + length
        if len(self.buf) < end:
            self._fill(PROTO_HEADER_SIZE + length)
            end = PROTO_HEADER_SIZE + length
        payload = bytes(self.buf[end - length:end])
        self.pos = end
        if msg_type == MSG_TYPE_COMPRESSED:
            return decompress_payload(payload)
        return msg_type, payload
