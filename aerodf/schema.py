"""Typed schemas: one IR, compiled to NumPy, Arrow, polars and pandas types.

Aerospike bins are untyped; a :class:`Schema` says what each column must be.
It can be spelled as a dict of names to type strings, built from
:class:`Field` objects, a pyarrow schema or a NumPy dtype; every output type
(NumPy structured dtype, Arrow schema, polars schema, pandas dtypes) is
compiled from the same IR by one visitor per target, never written twice.

>>> import aerodf
>>> s = aerodf.Schema({"age": "int32", "score": "float64", "name": "string",
...                    "emb": "vector<float32, 4>", "tags": "list<string>"})
>>> s.to_arrow().field("emb").type
FixedSizeListType(fixed_size_list<item: float>[4])
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, Iterable, Iterator, Mapping

from . import typemap
from .errors import SchemaError
from .types import (  # noqa: F401  (the IR, re-exported: aerodf.schema is where users look for it)
    TIME_UNITS, Bool, Bytes, DataType, Field, Float, Int, List, Map, String, Timestamp, Vector, parse_type,
)

# ----------------------------------------------------------------------------- schema


class Schema:
    """An ordered set of :class:`Field` s: the single source of truth for types.

    Build it from a mapping of names to types, an iterable of fields, a
    pyarrow schema, a NumPy structured dtype, or a dataclass / TypedDict class.

    >>> Schema({"id": "int64", "name": "string"}).names
    ['id', 'name']
    """

    __slots__ = ("fields", "_by_name")

    def __init__(self, fields: "SchemaLike") -> None:
        if isinstance(fields, Schema):
            flds = list(fields.fields)
        elif isinstance(fields, Mapping):
            flds = [f if isinstance(f, Field) else Field(str(n), parse_type(f)) for n, f in fields.items()]
        else:
            flds = _from_other(fields)
        names = [f.name for f in flds]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise SchemaError(f"duplicate field names: {sorted(dupes)}")
        bins = [f.bin_name for f in flds]
        dupes = {b for b in bins if bins.count(b) > 1}
        if dupes:
            raise SchemaError(f"several fields read the same bin: {sorted(dupes)}")
        self.fields: tuple[Field, ...] = tuple(flds)
        self._by_name = {f.name: f for f in flds}

    # -- container protocol
    def __iter__(self) -> Iterator[Field]:
        return iter(self.fields)

    def __len__(self) -> int:
        return len(self.fields)

    def __getitem__(self, name: str) -> Field:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no field {name!r} in schema; fields are {self.names}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schema) and self.fields == other.fields

    def __hash__(self) -> int:
        return hash(self.fields)

    def __repr__(self) -> str:
        return "Schema(\n" + "".join(f"    {f},\n" for f in self.fields) + ")"

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields]

    @property
    def bins(self) -> list[str]:
        return [f.bin_name for f in self.fields]

    def select(self, names: Iterable[str]) -> "Schema":
        """The schema of a subset of columns, in the given order."""
        return Schema([self[n] for n in names])

    # -- compilers (one visitor each; see aerodf.typemap)
    def to_arrow(self, *, strings: str = "string"):
        """The pyarrow schema. ``strings="string_view"`` builds string views (free in polars)."""
        return typemap.to_arrow_schema(self, strings=strings)

    def to_numpy(self):
        """The NumPy structured dtype (strings, bytes, lists and maps as objects)."""
        return typemap.to_numpy_dtype(self)

    def to_polars(self):
        """The polars schema (``pl.Schema``)."""
        return typemap.to_polars_schema(self)

    def to_pandas(self, *, dtype_backend: str = "pyarrow") -> dict[str, Any]:
        """pandas dtypes per column for ``dtype_backend`` ``"pyarrow"`` or ``"numpy_nullable"``."""
        return typemap.to_pandas_dtypes(self, dtype_backend=dtype_backend)


SchemaLike = typing.Union[Schema, Mapping[str, Any], Iterable[Field], Any]


def _from_other(obj: Any) -> list[Field]:
    """Fields from a pyarrow schema, a NumPy dtype, a dataclass / TypedDict, or fields."""
    mod = type(obj).__module__
    if mod.startswith("pyarrow"):
        return typemap.from_arrow_schema(obj)
    if mod.startswith("numpy"):
        return typemap.from_numpy_dtype(obj)
    if isinstance(obj, type) and (dataclasses.is_dataclass(obj) or typing.is_typeddict(obj)):
        hints = typing.get_type_hints(obj)
        return [_field_from_hint(n, h) for n, h in hints.items()]
    try:
        items = list(obj)
    except TypeError:
        raise SchemaError(f"cannot build a schema from {type(obj).__name__}") from None
    out = []
    for f in items:
        if isinstance(f, Field):
            out.append(f)
        elif isinstance(f, tuple) and len(f) == 2:
            out.append(Field(f[0], parse_type(f[1])))
        else:
            raise SchemaError(f"expected a Field or (name, type), got {f!r}")
    return out


def _field_from_hint(name: str, hint: Any) -> Field:
    nullable = False
    origin = typing.get_origin(hint)
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        nullable = len(args) < len(typing.get_args(hint))
        hint = args[0] if len(args) == 1 else hint
        origin = typing.get_origin(hint)
    if origin is list:
        (arg,) = typing.get_args(hint) or (str,)
        return Field(name, List(parse_type(arg)), nullable)
    if origin is dict:
        k, v = typing.get_args(hint)
        return Field(name, Map(parse_type(k), parse_type(v)), nullable)
    return Field(name, parse_type(hint), nullable)
