"""Arrow table -> the requested output (pandas, polars, NumPy), copying only
where the target type forces it (see shared/INTEROP.md for what is free)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from .errors import ConfigError

OUTPUTS = ("pandas", "polars", "arrow", "numpy")
DTYPE_BACKENDS = ("pyarrow", "numpy_nullable", "numpy")


def check_output(output: str, dtype_backend: str) -> None:
    if output not in OUTPUTS:
        raise ConfigError(f"output must be one of {OUTPUTS}, not {output!r}")
    if dtype_backend not in DTYPE_BACKENDS:
        raise ConfigError(f"dtype_backend must be one of {DTYPE_BACKENDS}, not {dtype_backend!r}")


def strings_for(output: str) -> str:
    """The Arrow string layout that the output takes without copying."""
    return "string_view" if output == "polars" else "string"


def convert(table: pa.Table, output: str, *, dtype_backend: str = "pyarrow") -> Any:
    if output == "arrow":
        return table
    if output == "polars":
        import polars as pl

        return pl.from_arrow(table, rechunk=False)
    if output == "pandas":
        import pandas as pd

        if dtype_backend == "pyarrow":
            return table.to_pandas(types_mapper=pd.ArrowDtype)
        if dtype_backend == "numpy_nullable":
            return _numpy_nullable(table)
        # integers with nulls stay exact as Python ints in an object column (pandas' own
        # default, float64, would turn 2**63 - 1 into 9.223372036854776e18)
        return table.to_pandas(integer_object_nulls=True)
    if output == "numpy":
        return to_numpy(table)
    raise ConfigError(f"output must be one of {OUTPUTS}, not {output!r}")


def _numpy_nullable(table: pa.Table) -> Any:
    """pandas' masked dtypes. Floats are built from values + validity: pandas'
    own conversion would mask a stored NaN too, making it a missing bin."""
    import pandas as pd

    mapping = {
        pa.int8(): pd.Int8Dtype(), pa.int16(): pd.Int16Dtype(), pa.int32(): pd.Int32Dtype(),
        pa.int64(): pd.Int64Dtype(), pa.uint8(): pd.UInt8Dtype(), pa.uint16(): pd.UInt16Dtype(),
        pa.uint32(): pd.UInt32Dtype(), pa.uint64(): pd.UInt64Dtype(), pa.bool_(): pd.BooleanDtype(),
        pa.string(): pd.StringDtype(),
    }
    df = table.to_pandas(types_mapper=mapping.get)
    for i, col in enumerate(table.columns):
        if pa.types.is_floating(col.type):
            arr = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
            mask = np.asarray(arr.is_null()) if arr.null_count else np.zeros(len(arr), dtype=bool)
            data = arr.fill_null(pa.scalar(0, arr.type)) if arr.null_count else arr
            df.isetitem(i, pd.arrays.FloatingArray(data.to_numpy(zero_copy_only=False), mask))
    return df


def to_numpy(table: pa.Table) -> np.ndarray:
    """A structured array (a masked one when any value is null)."""
    from .typemap import from_arrow_type, to_numpy_field

    fields, cols, masks = [], [], []
    for name, col in zip(table.column_names, table.columns):
        t = from_arrow_type(col.type)
        d = to_numpy_field(t)
        fields.append((name, *d) if isinstance(d, tuple) else (name, d))
        arr = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
        mask = np.asarray(arr.is_null()) if arr.null_count else np.zeros(len(arr), dtype=bool)
        if pa.types.is_fixed_size_list(arr.type):
            size = arr.type.list_size
            child = np.asarray(arr.values)[arr.offset * size : (arr.offset + len(arr)) * size]
            values = child.reshape(len(arr), size)
        elif isinstance(d, np.dtype) and d.kind == "O":
            values = np.empty(len(arr), dtype=object)
            values[:] = arr.to_pylist()
        else:
            filled = arr.fill_null(pa.scalar(0 if not pa.types.is_boolean(arr.type) else False, arr.type)) \
                if arr.null_count and not pa.types.is_timestamp(arr.type) else arr
            values = filled.to_numpy(zero_copy_only=False)
        cols.append(values)
        masks.append(mask)
    out = np.empty(table.num_rows, dtype=fields)
    for (name, *_), values in zip(fields, cols):
        out[name] = values
    if any(m.any() for m in masks):
        full = np.zeros(table.num_rows, dtype=[(f[0], bool) for f in fields])
        for f, m in zip(fields, masks):
            full[f[0]] = m
        return np.ma.MaskedArray(out, mask=full)
    return out
