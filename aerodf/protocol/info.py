"""The info protocol (proto type 1): newline-separated names and ``name\\tvalue`` replies."""

from __future__ import annotations

import base64

from .constants import MSG_TYPE_INFO, N_PARTITIONS
from .framing import frame


def pack_request(*names: str) -> bytes:
    """An info request frame asking for ``names`` (each ``name`` or ``name:args``)."""
    return frame(MSG_TYPE_INFO, "".join(n + "\n" for n in names).encode())


def parse_request(payload: bytes) -> list[str]:
    """The names of an info request, in order."""
    text = payload.decode("utf-8", "replace")
    return [n for n in text.split("\n") if n]


def pack_reply(pairs: list[tuple[str, str]]) -> bytes:
    """A reply frame echoing each requested name with its value."""
    return frame(MSG_TYPE_INFO, "".join(f"{k}\t{v}\n" for k, v in pairs).encode())


def parse_reply(payload: bytes) -> dict[str, str]:
    """``{name: value}`` of an info reply."""
    out: dict[str, str] = {}
    for line in payload.decode("utf-8", "replace").split("\n"):
        if not line:
            continue
        k, _, v = line.partition("\t")
        out[k] = v
    return out


def partition_bitmap(pids) -> str:
    """Base64 of the 512-byte MSB-first bitmap of ``pids`` (the ``replicas`` format)."""
    bits = bytearray(N_PARTITIONS // 8)
    for pid in pids:
        bits[pid >> 3] |= 0x80 >> (pid & 7)
    return base64.b64encode(bytes(bits)).decode()


def bitmap_partitions(b64: str) -> list[int]:
    """The partition ids set in a base64 ``replicas`` bitmap."""
    bits = base64.b64decode(b64)
    return [i for i in range(N_PARTITIONS) if bits[i >> 3] & (0x80 >> (i & 7))]


def parse_replicas(value: str) -> dict[str, list[list[int]]]:
    """``{namespace: [master pids, replica-1 pids, ...]}`` from a ``replicas`` value."""
    out: dict[str, list[list[int]]] = {}
    for part in value.split(";"):
        if not part:
            continue
        ns, _, rest = part.partition(":")
        items = rest.split(",")
        n = int(items[1])
        out[ns] = [bitmap_partitions(b) for b in items[2 : 2 + n]]
    return out


def parse_kv(value: str, sep: str = ";") -> dict[str, str]:
    """``a=1;b=2`` into a dict."""
    out = {}
    for item in value.split(sep):
        if "=" in item:
            k, _, v = item.partition("=")
            out[k.strip()] = v.strip()
    return out
