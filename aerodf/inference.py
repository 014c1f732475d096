"""infer_schema: sample records and propose a :class:`~aerodf.Schema`."""

from __future__ import annotations

from typing import Any, Iterable

from .errors import SchemaError
from .schema import Bool, Bytes, DataType, Field, Float, Int, List, Map, Schema, String, Vector


def _scalar_type(types: set[type], where: str) -> DataType | None:
    types = types - {type(None)}
    if not types:
        return None
    if types == {bool}:
        return Bool()
    if types == {int}:
        return Int(64)
    if types <= {int, float}:
        return Float(64)
    if types == {str}:
        return String()
    if types <= {bytes, bytearray}:
        return Bytes()
    raise SchemaError(f"{where} holds values of several types ({', '.join(sorted(t.__name__ for t in types))}); "
                      f"declare its type in the schema")


def _value_type(values: list[Any], where: str) -> DataType | None:
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
    if types == {dict}:
        keys = [k for v in values if v is not None for k in v]
        vals = [x for v in values if v is not None for x in v.values()]
        return Map(_value_type(keys, f"{where} (keys)") or String(), _value_type(vals, f"{where} (values)") or String())
    if types & {list, dict}:
        raise SchemaError(f"{where} mixes lists or maps with other values; declare its type in the schema")
    return _scalar_type(types, where)


def infer_from_records(records: Iterable[dict[str, Any]]) -> Schema:
    """A schema proposed from sample records (dicts of bin name to value)."""
    records = [r for r in records if r is not None]
    names: dict[str, None] = {}
    for r in records:
        for k in r:
            names.setdefault(k, None)
    fields = []
    for name in names:
        values = [r.get(name) for r in records]
        t = _value_type(values, f"bin {name!r}")
        if t is None:
            continue  # only nulls sampled: nothing to propose
        fields.append(Field(name, t, nullable=True))
    return Schema(fields)


def infer_schema(namespace: str, set: str | None = None, *, keys: Iterable[Any] | None = None,
                 sample: int = 1000, client: Any = None, hosts: Any = None) -> Schema:
    """Sample records and propose a schema.

    Integers become int64, floats float64 (integers mixed with floats too),
    equal-length numeric lists vectors, other lists ``list<T>``, maps
    ``map<K, V>``. Review the proposal: narrow widths (int32, float32) save
    memory, and a bin that holds several types needs a decision.

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
    """
    from .client import Client

    owns = client is None
    if owns:
        client = Client(hosts)
    try:
        if keys is not None:
            keys = list(keys)[:sample]
            chunk = client.transport.batch_read([(namespace, set or "", k) for k in keys], None,
                                                client.batch_policy)
            records = [b for b in chunk.bins if b is not None]
        else:
            records = client.transport.sample(namespace, set, sample, client.query_policy)
    finally:
        if owns:
            client.close()
    if not records:
        raise SchemaError(f"no records found to infer a schema from in {namespace}.{set}")
    return infer_from_records(records)
