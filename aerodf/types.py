"""The type IR: data types, fields and the type spellings.

Types are immutable, hashable values; a :class:`Field` names a column, its
type, its nullability and its bin. :mod:`aerodf.schema` groups fields into a
:class:`~aerodf.Schema`; :mod:`aerodf.typemap` compiles types to Arrow,
NumPy, polars and pandas (one visitor per target). This module depends on
nothing of aerodf but its errors, so every other module can import it.
"""

from __future__ import annotations

import re
import typing
from dataclasses import dataclass
from typing import Any

from .errors import SchemaError
from .protocol.constants import MAX_BIN_NAME

if typing.TYPE_CHECKING:  # pragma: no cover
    from .typemap import TypeVisitor

# ----------------------------------------------------------------------------- types


class DataType:
    """Base of the type IR. Types are immutable, hashable values."""

    def accept(self, visitor: "TypeVisitor") -> Any:
        return getattr(visitor, "visit_" + type(self).__name__.lower())(self)

    @property
    def is_fixed_width(self) -> bool:
        """True for types stored in fixed-width slots (numbers, bool, timestamps, vectors of them)."""
        return False


@dataclass(frozen=True)
class Int(DataType):
    bits: int = 64
    signed: bool = True

    def __post_init__(self) -> None:
        if self.bits not in (8, 16, 32, 64):
            raise SchemaError(f"integer width must be 8, 16, 32 or 64, not {self.bits}")

    @property
    def is_fixed_width(self) -> bool:
        return True

    @property
    def bounds(self) -> tuple[int, int]:
        if self.signed:
            return -(1 << (self.bits - 1)), (1 << (self.bits - 1)) - 1
        return 0, (1 << self.bits) - 1

    def __str__(self) -> str:
        return f"{'' if self.signed else 'u'}int{self.bits}"


@dataclass(frozen=True)
class Float(DataType):
    bits: int = 64

    def __post_init__(self) -> None:
        if self.bits not in (32, 64):
            raise SchemaError(f"float width must be 32 or 64, not {self.bits}")

    @property
    def is_fixed_width(self) -> bool:
        return True

    def __str__(self) -> str:
        return f"float{self.bits}"


@dataclass(frozen=True)
class Bool(DataType):
    @property
    def is_fixed_width(self) -> bool:
        return True

    def __str__(self) -> str:
        return "bool"


@dataclass(frozen=True)
class String(DataType):
    def __str__(self) -> str:
        return "string"


@dataclass(frozen=True)
class Bytes(DataType):
    def __str__(self) -> str:
        return "bytes"


TIME_UNITS = ("s", "ms", "us", "ns")


@dataclass(frozen=True)
class Timestamp(DataType):
    """A timestamp stored in Aerospike as an integer count of ``unit`` since the Unix epoch."""

    unit: str = "ms"
    tz: str | None = None

    def __post_init__(self) -> None:
        if self.unit not in TIME_UNITS:
            raise SchemaError(f"timestamp unit must be one of {TIME_UNITS}, not {self.unit!r}")

    @property
    def is_fixed_width(self) -> bool:
        return True

    def __str__(self) -> str:
        return f"timestamp[{self.unit}{', ' + self.tz if self.tz else ''}]"


@dataclass(frozen=True)
class List(DataType):
    value: DataType

    def __str__(self) -> str:
        return f"list<{self.value}>"


@dataclass(frozen=True)
class Map(DataType):
    key: DataType
    value: DataType

    def __post_init__(self) -> None:
        if not isinstance(self.key, (Int, String, Bytes)):
            raise SchemaError(f"map keys must be integers, strings or bytes, not {self.key}")

    def __str__(self) -> str:
        return f"map<{self.key}, {self.value}>"


@dataclass(frozen=True)
class Vector(DataType):
    """A fixed-size vector (an embedding): a list bin of exactly ``size`` numbers,
    or a blob of ``size`` little-endian values."""

    value: DataType
    size: int

    def __post_init__(self) -> None:
        if not isinstance(self.value, (Int, Float, Bool)):
            raise SchemaError(f"vector elements must be numbers or bools, not {self.value}")
        if self.size <= 0:
            raise SchemaError(f"vector size must be positive, not {self.size}")

    @property
    def is_fixed_width(self) -> bool:
        return True

    def __str__(self) -> str:
        return f"vector<{self.value}, {self.size}>"


# ----------------------------------------------------------------------------- fields


@dataclass(frozen=True)
class Field:
    """A column: its name, type, whether it may hold nulls, and the bin it reads.

    Parameters
    ----------
    name
        Column name in the output frame.
    type
        A :class:`DataType` or its spelling (``"int32"``, ``"list<string>"`` ...).
    nullable
        Whether a missing bin (or record) may become null. When False, a
        missing value raises :class:`aerodf.MissingValueError`.
    bin
        The Aerospike bin name, when it differs from ``name`` (bins are at
        most 15 bytes).
    """

    name: str
    type: DataType
    nullable: bool = True
    bin: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise SchemaError(f"field names are non-empty strings, not {self.name!r}")
        if not isinstance(self.type, DataType):
            object.__setattr__(self, "type", parse_type(self.type))
        bin_name = self.bin_name
        if len(bin_name.encode()) > MAX_BIN_NAME:
            raise SchemaError(
                f"bin name {bin_name!r} of field {self.name!r} is longer than Aerospike's {MAX_BIN_NAME} bytes; "
                f"pass bin= to map the column to a shorter bin"
            )

    @property
    def bin_name(self) -> str:
        return self.bin if self.bin is not None else self.name

    def __str__(self) -> str:
        extra = "" if self.nullable else " not null"
        if self.bin is not None:
            extra += f" (bin {self.bin!r})"
        return f"{self.name}: {self.type}{extra}"


# ----------------------------------------------------------------------------- parsing

_SCALARS: dict[str, DataType] = {
    **{f"int{b}": Int(b, True) for b in (8, 16, 32, 64)},
    **{f"uint{b}": Int(b, False) for b in (8, 16, 32, 64)},
    "int": Int(64), "integer": Int(64), "long": Int(64),
    "float32": Float(32), "float64": Float(64), "float": Float(64), "double": Float(64),
    "bool": Bool(), "boolean": Bool(),
    "string": String(), "str": String(), "utf8": String(),
    "bytes": Bytes(), "binary": Bytes(), "blob": Bytes(),
}
_PY_TYPES: dict[Any, DataType] = {int: Int(64), float: Float(64), bool: Bool(), str: String(), bytes: Bytes()}


def _split_args(s: str) -> list[str]:
    """Split ``a, map<b, c>, 3`` at top-level commas."""
    out, depth, cur = [], 0, []
    for ch in s:
        if ch in "<[(":
            depth += 1
        elif ch in ">])":
            depth -= 1
        if ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur).strip())
    return out


def parse_type(spec: Any) -> DataType:
    """A :class:`DataType` from a spelling, a Python type, or an existing type.

    Spellings: ``int8`` … ``int64``, ``uint8`` … ``uint64``, ``float32``,
    ``float64``, ``bool``, ``string``, ``bytes``, ``timestamp[ms]`` (unit s, ms,
    us or ns; ``timestamp[ms, UTC]`` with a zone), ``list<T>``, ``map<K, V>``,
    ``vector<float32, 128>`` (or ``float32[128]``). Python types ``int``,
    ``float``, ``bool``, ``str`` and ``bytes`` are accepted too.
    """
    if isinstance(spec, DataType):
        return spec
    if spec in _PY_TYPES:
        return _PY_TYPES[spec]
    if not isinstance(spec, str):
        raise SchemaError(f"cannot read a type from {spec!r}")
    s = spec.strip()
    low = s.lower()
    if low in _SCALARS:
        return _SCALARS[low]
    m = re.fullmatch(r"(timestamp|datetime)\[(\w+)(?:\s*,\s*([^\]]+))?\]", s, re.IGNORECASE)
    if m:
        return Timestamp(m.group(2).lower(), m.group(3).strip() if m.group(3) else None)
    if low in ("timestamp", "datetime"):
        return Timestamp("ms")
    m = re.fullmatch(r"(\w+)\[(\d+)\]", s)
    if m:
        return Vector(parse_type(m.group(1)), int(m.group(2)))
    m = re.fullmatch(r"(\w+)\s*<(.*)>", s, re.DOTALL)
    if m:
        kind, args = m.group(1).lower(), _split_args(m.group(2))
        if kind == "list" and len(args) == 1:
            return List(parse_type(args[0]))
        if kind == "map" and len(args) == 2:
            return Map(parse_type(args[0]), parse_type(args[1]))
        if kind in ("vector", "array", "fixed_size_list") and len(args) == 2 and args[1].isdigit():
            return Vector(parse_type(args[0]), int(args[1]))
    raise SchemaError(f"unknown type {spec!r}; see aerodf.schema.parse_type for the spellings")
