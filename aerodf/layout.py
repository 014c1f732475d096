"""The row layout every reader returns: ``[key] + fields + [generation, ttl]``.

One home for the key column's name rule (``with_key=True`` names it ``"key"``,
a string names it so), the metadata columns and their types, and the output
schemas (Arrow, polars) built from them, so batch reads, scans, the polars
source and the engine adapters lay rows out the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from .errors import ConfigError

META_COLUMNS = ("generation", "ttl")
META_ARROW = (pa.field("generation", pa.uint32()), pa.field("ttl", pa.int64()))
KEY_TYPES = {"int64": pa.int64(), "string": pa.string(), "bytes": pa.binary()}


def key_type_of(name: str) -> pa.DataType:
    """The Arrow type of a stored-key column: ``"int64"``, ``"string"`` or ``"bytes"``."""
    if name not in KEY_TYPES:
        raise ConfigError(f"key_type must be one of {sorted(KEY_TYPES)}, not {name!r}")
    return KEY_TYPES[name]


def key_name_of(with_key: bool | str) -> str | None:
    """The key column's name: ``"key"`` for ``with_key=True``, the string given, or None."""
    return with_key if isinstance(with_key, str) else ("key" if with_key else None)


@dataclass(frozen=True)
class RowLayout:
    """``[key_name] + the schema's columns + [generation, ttl if with_meta]``."""

    key_name: str | None = None
    with_meta: bool = False

    @classmethod
    def of(cls, schema: Any, with_key: bool | str, with_meta: bool) -> "RowLayout":
        """The layout for these options; raises when a key or metadata column would
        shadow a field of ``schema``."""
        layout = cls(key_name_of(with_key), bool(with_meta))
        clash = [n for n in layout.extra_names if n in schema]
        if clash:
            raise ConfigError(f"column(s) {clash} exist in the schema; pass with_key='other_name'")
        return layout

    @property
    def extra_names(self) -> list[str]:
        """The columns the layout adds around the schema's."""
        return ([self.key_name] if self.key_name else []) + (list(META_COLUMNS) if self.with_meta else [])

    def names(self, columns: list[str]) -> list[str]:
        """The output column names around ``columns`` (the schema's, in order)."""
        inner = [c for c in columns if c != "key" and c not in META_COLUMNS]
        return ([self.key_name] if self.key_name else []) + inner + (list(META_COLUMNS) if self.with_meta else [])

    def arrow_schema(self, schema: Any, key_type: pa.DataType | None, *, strings: str = "string",
                     key_nullable: bool = True) -> pa.Schema:
        """The Arrow schema of the rows (``key_type``: the key column's type)."""
        fields = [pa.field(self.key_name, key_type, nullable=key_nullable)] if self.key_name else []
        fields.extend(schema.to_arrow(strings=strings))
        if self.with_meta:
            fields += list(META_ARROW)
        return pa.schema(fields)

    def polars_schema(self, schema: Any, key_type: str) -> Any:
        """The polars schema of the rows (``key_type``: ``"int64"``, ``"string"`` or ``"bytes"``)."""
        import polars as pl

        fields = list(schema.to_polars().items())
        if self.key_name:
            fields.insert(0, (self.key_name, {"int64": pl.Int64, "string": pl.String, "bytes": pl.Binary}[key_type]))
        if self.with_meta:
            fields += [("generation", pl.UInt32), ("ttl", pl.Int64)]
        return pl.Schema(fields)
