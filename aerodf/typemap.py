"""Schema compilers: one visitor per target type system.

Each visitor has one ``visit_<type>`` method per IR type (see
:mod:`aerodf.schema`), the shape pyiceberg's ``schema_to_pyarrow`` uses.
The reverse mappings (pyarrow schema or NumPy dtype to fields) live here too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from .errors import SchemaError
from .types import Bool, Bytes, DataType, Field, Float, Int, List, Map, String, Timestamp, Vector

if TYPE_CHECKING:  # pragma: no cover
    from .schema import Schema


class TypeVisitor:
    def visit(self, t: DataType) -> Any:
        return t.accept(self)


# ----------------------------------------------------------------------------- Arrow


class _ToArrow(TypeVisitor):
    """``strings`` picks the layout of top-level string columns only; strings
    nested in lists and maps stay ``string`` (what the builders produce)."""

    def __init__(self, strings: str = "string") -> None:
        if strings not in ("string", "large_string", "string_view"):
            raise SchemaError(f"strings must be string, large_string or string_view, not {strings!r}")
        self.strings = strings
        self._nested = _ToArrow.__new__(_ToArrow)
        self._nested.strings = "string"
        self._nested._nested = self._nested

    def visit_int(self, t: Int):
        return getattr(pa, str(t))()

    def visit_float(self, t: Float):
        return pa.float32() if t.bits == 32 else pa.float64()

    def visit_bool(self, t: Bool):
        return pa.bool_()

    def visit_string(self, t: String):
        return getattr(pa, self.strings)()

    def visit_bytes(self, t: Bytes):
        return pa.binary()

    def visit_timestamp(self, t: Timestamp):
        return pa.timestamp(t.unit, tz=t.tz)

    def visit_list(self, t: List):
        return pa.list_(self._nested.visit(t.value))

    def visit_map(self, t: Map):
        return pa.map_(self._nested.visit(t.key), self._nested.visit(t.value))

    def visit_vector(self, t: Vector):
        return pa.list_(self._nested.visit(t.value), t.size)


def to_arrow_type(t: DataType, *, strings: str = "string") -> pa.DataType:
    return _ToArrow(strings).visit(t)


def to_arrow_schema(schema: Schema, *, strings: str = "string") -> pa.Schema:
    v = _ToArrow(strings)
    return pa.schema([pa.field(f.name, v.visit(f.type), nullable=f.nullable) for f in schema])


# ----------------------------------------------------------------------------- NumPy


class _ToNumpy(TypeVisitor):
    def visit_int(self, t: Int):
        return np.dtype(str(t))

    def visit_float(self, t: Float):
        return np.dtype(f"float{t.bits}")

    def visit_bool(self, t: Bool):
        return np.dtype(bool)

    def visit_string(self, t: String):
        return np.dtype(object)

    visit_bytes = visit_list = visit_map = visit_string

    def visit_timestamp(self, t: Timestamp):
        return np.dtype(f"datetime64[{t.unit}]")

    def visit_vector(self, t: Vector):
        return (self.visit(t.value), (t.size,))


def to_numpy_field(t: DataType):
    return _ToNumpy().visit(t)


def to_numpy_dtype(schema: Schema) -> np.dtype:
    v = _ToNumpy()
    out = []
    for f in schema:
        d = v.visit(f.type)
        out.append((f.name, *d) if isinstance(d, tuple) else (f.name, d))
    return np.dtype(out)


# ----------------------------------------------------------------------------- polars


class _ToPolars(TypeVisitor):
    def __init__(self) -> None:
        import polars as pl

        self.pl = pl

    def visit_int(self, t: Int):
        return getattr(self.pl, f"{'Int' if t.signed else 'UInt'}{t.bits}")

    def visit_float(self, t: Float):
        return self.pl.Float32 if t.bits == 32 else self.pl.Float64

    def visit_bool(self, t: Bool):
        return self.pl.Boolean

    def visit_string(self, t: String):
        return self.pl.String

    def visit_bytes(self, t: Bytes):
        return self.pl.Binary

    def visit_timestamp(self, t: Timestamp):
        unit = t.unit if t.unit != "s" else "ms"  # polars has no second resolution
        return self.pl.Datetime(unit, t.tz)

    def visit_list(self, t: List):
        return self.pl.List(self.visit(t.value))

    def visit_map(self, t: Map):
        # polars has no map type; Arrow maps arrive as a list of {key, value} structs
        return self.pl.List(self.pl.Struct({"key": self.visit(t.key), "value": self.visit(t.value)}))

    def visit_vector(self, t: Vector):
        return self.pl.Array(self.visit(t.value), t.size)


def to_polars_schema(schema: Schema):
    import polars as pl

    v = _ToPolars()
    return pl.Schema([(f.name, v.visit(f.type)) for f in schema])


# ----------------------------------------------------------------------------- pandas


def to_pandas_dtypes(schema: Schema, *, dtype_backend: str = "pyarrow") -> dict[str, Any]:
    import pandas as pd

    if dtype_backend == "pyarrow":
        arrow = to_arrow_schema(schema)
        return {f.name: pd.ArrowDtype(arrow.field(f.name).type) for f in schema}
    if dtype_backend == "numpy_nullable":
        out = {}
        for f in schema:
            t = f.type
            if isinstance(t, Int):
                out[f.name] = pd.api.types.pandas_dtype(str(t).replace("int", "Int").replace("uInt", "UInt"))
            elif isinstance(t, Float):
                out[f.name] = pd.api.types.pandas_dtype(f"Float{t.bits}")
            elif isinstance(t, Bool):
                out[f.name] = pd.BooleanDtype()
            elif isinstance(t, String):
                out[f.name] = pd.StringDtype()
            elif isinstance(t, Timestamp):
                out[f.name] = pd.api.types.pandas_dtype(f"datetime64[{t.unit}]") if not t.tz else \
                    pd.DatetimeTZDtype(t.unit, t.tz)
            else:
                out[f.name] = np.dtype(object)
        return out
    raise SchemaError(f"dtype_backend must be 'pyarrow' or 'numpy_nullable', not {dtype_backend!r}")


# ----------------------------------------------------------------------------- reverse


def from_arrow_type(t: pa.DataType) -> DataType:
    if pa.types.is_boolean(t):
        return Bool()
    if pa.types.is_integer(t):
        return Int(t.bit_width, pa.types.is_signed_integer(t))
    if pa.types.is_floating(t):
        if t.bit_width == 16:
            raise SchemaError("float16 has no Aerospike representation; use float32")
        return Float(t.bit_width)
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return String()
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return Bytes()
    if pa.types.is_timestamp(t):
        return Timestamp(t.unit, t.tz)
    if pa.types.is_fixed_size_list(t):
        return Vector(from_arrow_type(t.value_type), t.list_size)
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_list_view(t):
        return List(from_arrow_type(t.value_type))
    if pa.types.is_map(t):
        return Map(from_arrow_type(t.key_type), from_arrow_type(t.item_type))
    if pa.types.is_dictionary(t):
        return from_arrow_type(t.value_type)
    raise SchemaError(f"Arrow type {t} has no aerodf equivalent")


def from_arrow_schema(schema: pa.Schema) -> list[Field]:
    return [Field(f.name, from_arrow_type(f.type), f.nullable) for f in schema]


def from_numpy_dtype(dtype: np.dtype) -> list[Field]:
    dtype = np.dtype(dtype)
    if dtype.names is None:
        raise SchemaError("a NumPy dtype needs named fields to be a schema")
    out = []
    for name in dtype.names:
        sub = dtype.fields[name][0]
        shape = sub.shape
        base = sub.base if shape else sub
        if base.kind == "b":
            t: DataType = Bool()
        elif base.kind in "iu":
            t = Int(base.itemsize * 8, base.kind == "i")
        elif base.kind == "f":
            t = Float(base.itemsize * 8)
        elif base.kind == "M":
            unit = np.datetime_data(base)[0]
            t = Timestamp(unit)
        elif base.kind in "US":
            t = String() if base.kind == "U" else Bytes()
        else:
            raise SchemaError(f"NumPy dtype {base} of field {name!r} has no aerodf equivalent")
        if shape:
            if len(shape) != 1:
                raise SchemaError(f"field {name!r}: only 1-d sub-arrays become vectors")
            t = Vector(t, shape[0])
        out.append(Field(name, t, nullable=True))
    return out
