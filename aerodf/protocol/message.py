"""The data message (proto type 3): a 22-byte header, fields, then ops.

Header, big-endian: ``header size (22) | info1 | info2 | info3 | info4 |
result code | generation u32 | record ttl u32 | transaction ttl u32 |
n_fields u16 | n_ops u16``.  A field is ``u32 size (type byte included) |
u8 type | data``; an op is ``u32 size | u8 op | u8 particle type | u8 0 |
u8 name length | name | value``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import NamedTuple

from .constants import MSG_HEADER_SIZE, MSG_TYPE_DATA
from .framing import pack_header

HEADER = struct.Struct(">BBBBBBIIIHH")
FIELD_HEADER = struct.Struct(">IB")
OP_HEADER = struct.Struct(">IBBBB")


class MessageError(ValueError):
    """A data message whose fields or ops overrun it or are malformed."""


class Header(NamedTuple):
    info1: int
    info2: int
    info3: int
    info4: int
    result_code: int
    generation: int
    record_ttl: int
    transaction_ttl: int
    n_fields: int
    n_ops: int


class Op(NamedTuple):
    op: int
    particle_type: int
    name: str
    value: bytes


@dataclass
class Message:
    """A decoded data message: header, fields by type, ops in order."""

    header: Header
    fields: dict[int, bytes] = field(default_factory=dict)
    ops: list[Op] = field(default_factory=list)


def pack_message_header(
    *,
    info1: int = 0,
    info2: int = 0,
    info3: int = 0,
    info4: int = 0,
    result_code: int = 0,
    generation: int = 0,
    record_ttl: int = 0,
    transaction_ttl: int = 0,
    n_fields: int = 0,
    n_ops: int = 0,
) -> bytes:
    return HEADER.pack(
        MSG_HEADER_SIZE, info1, info2, info3, info4, result_code,
        generation & 0xFFFFFFFF, record_ttl & 0xFFFFFFFF, transaction_ttl & 0xFFFFFFFF,
        n_fields, n_ops,
    )


def pack_answer_header(code: int = 0, gen: int = 0, void: int = 0, index: int = 0, n_fields: int = 0,
                       n_ops: int = 0, info3: int = 0, info1: int = 0, info2: int = 0) -> bytes:
    """A server answer's header, positional (one per record a scan or batch sends):
    ``index`` is the batch index, sent where a request carries its transaction TTL."""
    return HEADER.pack(MSG_HEADER_SIZE, info1, info2, info3, 0, code, gen, void, index, n_fields, n_ops)


def pack_field(field_type: int, data: bytes) -> bytes:
    return FIELD_HEADER.pack(len(data) + 1, field_type) + data


def pack_op(op: int, particle_type: int, name: str | bytes, value: bytes) -> bytes:
    bname = name.encode() if isinstance(name, str) else name
    return OP_HEADER.pack(4 + len(bname) + len(value), op, particle_type, 0, len(bname)) + bname + value


def pack_message(fields: list[bytes], ops: list[bytes], **header) -> bytes:
    """A whole type-3 frame from packed fields and ops."""
    body = b"".join(
        (pack_message_header(n_fields=len(fields), n_ops=len(ops), **header), *fields, *ops)
    )
    return pack_header(MSG_TYPE_DATA, len(body)) + body


def parse_fields(buf: bytes | memoryview, pos: int, n_fields: int, end: int) -> tuple[dict[int, bytes], int]:
    """Read ``n_fields`` fields starting at ``pos``; returns ``(fields, next pos)``."""
    fields: dict[int, bytes] = {}
    unpack = FIELD_HEADER.unpack_from
    for _ in range(n_fields):
        if pos + 5 > end:
            raise MessageError("field header overruns message")
        size, ftype = unpack(buf, pos)
        if size < 1 or pos + 4 + size > end:
            raise MessageError(f"field {ftype} of size {size} overruns message")
        fields[ftype] = bytes(buf[pos + 5 : pos + 4 + size])
        pos += 4 + size
    return fields, pos


def parse_ops(buf: bytes | memoryview, pos: int, n_ops: int, end: int) -> tuple[list[Op], int]:
    """Read ``n_ops`` ops starting at ``pos``; returns ``(ops, next pos)``."""
    ops: list[Op] = []
    unpack = OP_HEADER.unpack_from
    for _ in range(n_ops):
        if pos + 8 > end:
            raise MessageError("op header overruns message")
        size, op, ptype, _unused, name_len = unpack(buf, pos)
        if size < 4 + name_len or pos + 4 + size > end:
            raise MessageError(f"op of size {size} overruns message")
        name_start = pos + 8
        value_start = name_start + name_len
        try:
            name = bytes(buf[name_start:value_start]).decode()
        except UnicodeDecodeError:
            raise MessageError("bin name is not UTF-8") from None
        ops.append(Op(op, ptype, name, bytes(buf[value_start : pos + 4 + size])))
        pos += 4 + size
    return ops, pos


def parse_message(payload: bytes | memoryview, pos: int = 0, end: int | None = None) -> tuple[Message, int]:
    """Decode one data message from ``payload[pos:end]``; returns ``(message, next pos)``."""
    if end is None:
        end = len(payload)
    if pos + MSG_HEADER_SIZE > end:
        raise MessageError("message shorter than its header")
    raw = HEADER.unpack_from(payload, pos)
    if raw[0] != MSG_HEADER_SIZE:
        raise MessageError(f"header size {raw[0]} != {MSG_HEADER_SIZE}")
    header = Header(*raw[1:])
    fields, pos = parse_fields(payload, pos + MSG_HEADER_SIZE, header.n_fields, end)
    ops, pos = parse_ops(payload, pos, header.n_ops, end)
    return Message(header, fields, ops), pos
