"""infer_schema: sample records and propose a :class:`~aerodf.Schema`."""

from __future__ import annotations

import warnings
from typing import Any, Iterable

from .client import session
from .errors import ConfigError, SchemaError
from .schema import Bool, Bytes, DataType, Field, Float, Int, List, Map, Schema, String, Vector


class _Conflict(Exception):
    """A bin whose sampled values no single type reads (collected per bin, not raised)."""


def _names(types: set[type]) -> str:
    return ", ".join(sorted(t.__name__ for t in types))


def _scalar_type(types: set[type], where: str, top: bool) -> DataType | None:
    types = types - {type(None)}
    if not types:
        return None
    if types == {bool}:
        return Bool()
    if types == {int}:
        return Int(64)
    if types == {float} or (types <= {int, float} and not top):
        # inside lists and maps a float64 element takes integers too (msgpack is untyped);
        # a top-level float64 field does not (values are never coerced), so there it conflicts
        return Float(64)
    if types == {str}:
        return String()
    if types <= {bytes, bytearray}:
        return Bytes()
    raise _Conflict(f"{where} holds values of several types ({_names(types)})")


def _value_type(values: list[Any], where: str, top: bool = False) -> DataType | None:
    types = set(map(type, values)) - {type(None)}
    if not types:
        return None
    if types == {list}:
        lengths = {len(v) for v in values if v is not None}
        flat = [x for v in values if v is not None for x in v]
        inner = _value_type(flat, f"{where} (elements)")
        if len(lengths) == 1 and lengths.pop() >= 2 and isinstance(inner, (Float, Int)):
            return Vector(inner, len(values[next(i for i, v in enumerate(values) if v is not None)]))
        return List(inner or String())
    if all(issubclass(t, dict) for t in types):  # KeyOrderedDict too
        keys = [k for v in values if v is not None for k in v]
        vals = [x for v in values if v is not None for x in v.values()]
        return Map(_value_type(keys, f"{where} (keys)") or String(), _value_type(vals, f"{where} (values)") or String())
    if any(issubclass(t, (list, dict)) for t in types):
        raise _Conflict(f"{where} mixes lists or maps with other values ({_names(types)})")
    return _scalar_type(types, where, top)


def _check_on_conflict(on_conflict: str) -> None:
    if on_conflict not in ("warn", "raise"):
        raise ConfigError(f"on_conflict must be 'warn' or 'raise', not {on_conflict!r}")


def infer_from_records(records: Iterable[dict[str, Any]], *, on_conflict: str = "warn") -> Schema:
    """A schema proposed from sample records (dicts of bin name to value).

    A bin that no single type reads (ints and strings, or ints and floats at
    the top level) is left out with an :class:`InferenceWarning` naming it
    (``on_conflict="warn"``), or every such bin is named in one
    :class:`~aerodf.SchemaError` (``"raise"``).
    """
    _check_on_conflict(on_conflict)
    records = [r for r in records if r is not None]
    names: dict[str, None] = {}
    for r in records:
        for k in r:
            names.setdefault(k, None)
    fields, conflicts = [], []
    for name in names:
        values = [r.get(name) for r in records]
        try:
            t = _value_type(values, f"bin {name!r}", top=True)
        except _Conflict as exc:
            conflicts.append(str(exc))
            continue
        if t is None:
            continue  # only nulls sampled: nothing to propose
        fields.append(Field(name, t, nullable=True))
    if conflicts:
        text = "; ".join(conflicts) + ": declare their types in the schema (no type reads every sampled value)"
        if on_conflict == "raise" or not fields:
            raise SchemaError(text)
        warnings.warn(f"left out of the proposed schema: {text}", InferenceWarning, stacklevel=3)
    return Schema(fields)


class InferenceWarning(UserWarning):
    """Bins that :func:`infer_schema` left out of its proposal, and why."""


def infer_schema(namespace: str, set: str | None = None, *, keys: Iterable[Any] | None = None,
                 sample: int = 1000, client: Any = None, hosts: Any = None, on_conflict: str = "warn") -> Schema:
    """Sample records and propose a schema that reads its own sample.

    Integers become int64, floats float64, equal-length numeric lists vectors,
    other lists ``list<T>`` (integers mixed with floats inside lists and maps:
    float64), maps ``map<K, V>``. A bin that no single type reads (integers
    and strings, or integers and floats as bin values: a float64 field never
    coerces an integer bin) is left out and named in an
    :class:`InferenceWarning`, or in one :class:`~aerodf.SchemaError` with
    ``on_conflict="raise"``. Review the proposal: narrow widths (int32,
    float32) save memory.

    Parameters
    ----------
    namespace, set
        Where to sample.
    keys
        Sample these user keys; otherwise the first ``sample`` records a scan returns.
    sample
        How many records to look at.
    client, hosts
        An open :class:`~aerodf.Client` or seed hosts.
    on_conflict
        ``"warn"`` (default): leave conflicting bins out, with a warning naming
        each and the types it holds; ``"raise"``: a :class:`~aerodf.SchemaError`
        naming all of them.

    Examples
    --------
    >>> schema = aerodf.infer_schema("test", "users", hosts="127.0.0.1:3000")  # doctest: +SKIP
    >>> print(schema)  # doctest: +SKIP
    """
    _check_on_conflict(on_conflict)  # before connecting
    with session(client, hosts) as client:
        if keys is not None:
            keys = list(keys)[:sample]
            chunk = client.transport.batch_read([(namespace, set or "", k) for k in keys], None,
                                                client.batch_policy)
            records = [b for b in chunk.bins if b is not None]
        else:
            records = client.transport.sample(namespace, set, sample, client.query_policy)
    if not records:
        raise SchemaError(f"no records found to infer a schema from in {namespace}.{set}")
    return infer_from_records(records, on_conflict=on_conflict)
