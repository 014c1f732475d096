"""The shared wire codec: digests, particles, msgpack dialect, framing."""

from __future__ import annotations

import aerospike
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aerodf.protocol import constants as C
from aerodf.protocol.digest import _pure_ripemd160, compute_digest, partition_id, ripemd160
from aerodf.protocol.framing import FrameError, check_header, compress_frame, decompress_payload, frame
from aerodf.protocol.info import bitmap_partitions, parse_replicas, partition_bitmap
from aerodf.protocol.message import pack_field, pack_message, pack_op, parse_message
from aerodf.protocol.values import ValueCodecError, decode_particle, encode_particle, packb, unpackb

# The official client cannot send an empty blob key, and cuts string keys at
# the first NUL (it passes them as C strings): generate only keys it can send.
keys = st.one_of(st.integers(-(2**63), 2**63 - 1),
                 st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40),
                 st.binary(min_size=1, max_size=40))
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1),
                    st.floats(allow_nan=False), st.text(max_size=30), st.binary(max_size=30))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=6), st.dictionaries(st.one_of(st.text(max_size=8), st.integers(-(2**63), 2**63 - 1)), inner, max_size=6)),
    max_leaves=20)


@settings(max_examples=200)
@given(set_name=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=20), key=keys)
def test_digest_matches_official_client(set_name, key):
    # blob keys are bytearray for both (the official client hashes ``bytes`` as a string key)
    key = bytearray(key) if isinstance(key, bytes) else key
    assert compute_digest(set_name, key) == bytes(aerospike.calc_digest("test", set_name, key))


@settings(max_examples=50)
@given(key=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40))
def test_bytes_keys_hash_as_string_keys_like_the_official_client(key):
    """calc_digest refuses bytes, but put/get/batch hash them as string keys (checked
    against a server in tests/test_read_batch.py); aerodf does the same."""
    assert compute_digest("s", key.encode()) == compute_digest("s", key) \
        == bytes(aerospike.calc_digest("test", "s", key))
    assert compute_digest("s", bytearray(key.encode())) != compute_digest("s", key)


@given(st.binary(max_size=300))
def test_pure_ripemd160_matches_hashlib(data):
    assert _pure_ripemd160(data) == ripemd160(data)


def test_partition_id_is_low_12_bits_little_endian():
    assert partition_id(bytes([0xFF, 0xFF] + [0] * 18)) == 4095
    assert partition_id(bytes([0x01, 0x10] + [0] * 18)) == 1


@given(values)
def test_msgpack_dialect_round_trip(v):
    assert unpackb(packb([v])) == [v]


def test_msgpack_dialect_matches_captured_bytes():
    # captured from the official client: [1, "x", {"k": 2.5}]
    assert packb([1, "x", {"k": 2.5}]).hex() == "9301a2037881a2036bcb4004000000000000"


@given(scalars)
def test_particle_round_trip(v):
    ptype, data = encode_particle(v)
    assert decode_particle(ptype, data) == v


def test_particle_rejects_unrepresentable():
    with pytest.raises(ValueCodecError):
        encode_particle(2**64)
    with pytest.raises(ValueCodecError):
        encode_particle(object())


def test_message_round_trip():
    raw = pack_message([pack_field(C.FIELD_NAMESPACE, b"test"), pack_field(C.FIELD_SET, b"s")],
                       [pack_op(C.OP_WRITE, C.PT_INTEGER, "bin", b"\x00" * 7 + b"\x05")],
                       info2=C.INFO2_WRITE, generation=7, record_ttl=100)
    msg_type, length = check_header(raw[:8])
    assert msg_type == C.MSG_TYPE_DATA and length == len(raw) - 8
    msg, end = parse_message(raw[8:])
    assert end == len(raw) - 8
    assert msg.header.info2 == C.INFO2_WRITE and msg.header.generation == 7
    assert msg.fields == {C.FIELD_NAMESPACE: b"test", C.FIELD_SET: b"s"}
    assert msg.ops[0].name == "bin" and decode_particle(msg.ops[0].particle_type, msg.ops[0].value) == 5


def test_compression_round_trip_and_bad_input():
    inner = frame(C.MSG_TYPE_DATA, b"x" * 1000)
    outer = compress_frame(inner)
    t, n = check_header(outer[:8])
    assert t == C.MSG_TYPE_COMPRESSED and n < 200
    assert decompress_payload(outer[8:]) == (C.MSG_TYPE_DATA, b"x" * 1000)
    with pytest.raises(FrameError):
        decompress_payload(b"\x00" * 8 + b"garbage")
    with pytest.raises(FrameError):
        check_header(b"\x05\x03\x00\x00\x00\x00\x00\x00")


@given(st.sets(st.integers(0, 4095)))
def test_partition_bitmap_round_trip(pids):
    b64 = partition_bitmap(pids)
    assert len(b64) == 684
    assert bitmap_partitions(b64) == sorted(pids)
    assert parse_replicas(f"test:0,1,{b64}") == {"test": [sorted(pids)]}


def test_frame_reader_splits_chunks_into_frames_and_unwraps_compression():
    import socket as _socket

    from aerodf.protocol.framing import FrameReader, compress_frame, frame

    a, b = _socket.socketpair()
    try:
        frames = [frame(3, b"x" * 10), compress_frame(frame(3, b"y" * 5000)), frame(3, b""), frame(1, b"info")]
        a.sendall(b"".join(frames))
        r = FrameReader(b, chunk=7)  # chunks smaller than a header: frames span many reads
        assert r.frame() == (3, b"x" * 10)
        assert r.frame() == (3, b"y" * 5000)
        assert r.frame() == (3, b"")
        assert r.frame() == (1, b"info")
        a.close()
        with pytest.raises(ConnectionError):
            r.frame()
    finally:
        b.close()
