"""``aerodf.scan``: a polars LazyFrame over a set, with pushdown.

The LazyFrame is a polars IO source (``register_io_source``). polars hands
the source the columns it needs, the predicate and a row limit, and applies
none of them again itself, so the source re-applies the predicate (through
:func:`aerodf.iter_batches`'s re-check, skipped where the server's filter is
exact, :attr:`aerodf.expr.Plan.exact`), selects the columns and stops at the
limit; what it pushes to the server is an optimisation:

- columns -> only those bins are requested;
- predicate -> the server filter (and index filter) of :mod:`aerodf.expr`;
- ``head(n)`` with no filter before it -> a server-side max_records and an
  early stop. ``lf.head(n).filter(p)`` hands the source both ``n_rows`` and
  the predicate, meaning "first n rows, then filter" (as scan_parquet does),
  so then nothing is pushed and n raw records are read before filtering.

``aerodf.explain(lf)`` shows polars' plan and what aerodf pushes to the server.
"""

from __future__ import annotations

import itertools
import re
import threading
import weakref
from typing import Any, Iterator

from .layout import RowLayout, key_name_of
from .client import Client
from .errors import ConfigError
from .policy import QueryPolicy, resolve
from .schema import Schema


class _SourceState:
    """Per-scan state; ``dry`` (a list) makes the source record its plan and read nothing."""

    def __init__(self) -> None:
        self.dry: list | None = None


# explain() finds a plan's sources by the token in their explain name; polars calls
# sources on its own threads, so a thread-local switch would not reach them.
_SOURCES: "weakref.WeakValueDictionary[str, _SourceState]" = weakref.WeakValueDictionary()
_tokens = itertools.count(1)
_explain_lock = threading.Lock()


def scan(
    namespace: str,
    set: str | None,
    schema: Any,
    *,
    client: Client | None = None,
    hosts: Any = None,
    max_in_flight: int | None = None,
    batch_size: int = 10_000,
    with_key: bool | str = False,
    key_type: str = "int64",
    with_meta: bool = False,
    on_type_error: str = "raise",
    policy: Any = None,
    **policy_overrides: Any,
):
    """A polars LazyFrame over a set whose filters, columns and head run on the server.

    Parameters are those of :func:`aerodf.iter_batches`; filters come from the
    LazyFrame itself (``.filter``), columns from ``.select``, the limit from
    ``.head``. ``policy`` / ``**policy_overrides`` (``total_timeout=500``, ...)
    apply to every collect of the frame.

    Examples
    --------
    >>> lf = aerodf.scan("test", "users", schema, hosts="127.0.0.1:3000")  # doctest: +SKIP
    >>> lf.filter(pl.col("age") > 30).select("name").head(10).collect()
    >>> print(aerodf.explain(lf.filter(pl.col("age") > 30)))
    """
    import polars as pl
    from polars.io.plugins import register_io_source

    schema = schema if isinstance(schema, Schema) else Schema(schema)
    if client is None and hosts is None:
        raise ConfigError("scan needs client= or hosts=")
    resolve(QueryPolicy(), policy, policy_overrides)  # a wrong option fails here, not at collect()
    key_name = key_name_of(with_key)
    full_schema = RowLayout(key_name, with_meta).polars_schema(schema, key_type)
    state = _SourceState()
    token = f"#{next(_tokens)}"
    _SOURCES[token] = state

    def source(with_columns: list[str] | None, predicate: Any, n_rows: int | None,
               batch_size_hint: int | None) -> Iterator[pl.DataFrame]:
        from .query import stream_batches

        cols = list(with_columns) if with_columns is not None else list(full_schema.names())
        head_first = n_rows is not None and predicate is not None
        value_cols = [c for c in cols if c in schema]
        kwargs = dict(columns=value_cols, client=client, hosts=hosts, max_in_flight=max_in_flight,
                      batch_size=batch_size, with_key=key_name if key_name in cols else False, key_type=key_type,
                      with_meta=with_meta and ("generation" in cols or "ttl" in cols),
                      on_type_error=on_type_error, strings="string_view", policy=policy,
                      **policy_overrides)
        if state.dry is not None:
            # explain(): plan only, read nothing
            from .expr import plan as make_plan
            from .polars_expr import from_polars

            pushed = make_plan(from_polars(predicate), schema) if predicate is not None and not head_first else None
            state.dry.append({"columns": cols, "bins": schema.select(
                [c for c in schema.names if c in cols or (predicate is not None and c in _pred_cols(predicate))]
            ).bins, "n_rows": n_rows, "head_first": head_first, "plan": pushed})
            yield pl.DataFrame(schema=pl.Schema([(c, full_schema[c]) for c in cols]))
            return
        if predicate is not None and not head_first:
            needed = _pred_cols(predicate)
            kwargs["columns"] = value_cols + [c for c in schema.names if c in needed and c not in value_cols]
        stream = stream_batches(namespace, set, schema,
                              where=None if head_first else predicate,
                              max_records=n_rows, **kwargs)
        emitted = 0
        for batch in stream:
            df = pl.from_arrow(batch, rechunk=False)
            # polars does not apply the predicate again. Passed as where=, stream_batches
            # has applied it already (or skipped it where the server's filter is exact);
            # read head-first, it is applied here, to the first n_rows records
            if head_first:
                df = df.filter(predicate)
            df = df.select(cols)
            if n_rows is not None and emitted + df.height > n_rows:
                df = df.head(n_rows - emitted)
            emitted += df.height
            if df.height:
                yield df
            if n_rows is not None and emitted >= n_rows:
                return

    source.state = state  # keeps the state alive as long as the LazyFrame's source
    return register_io_source(
        source, schema=full_schema, explain_name=f"aerodf.scan({namespace}.{set}){token}",
        explain_detail="server pushdown per conjunct; aerodf.explain(lf) shows what is pushed",
    )


def _pred_cols(predicate: Any) -> set[str]:
    try:
        return set(predicate.meta.root_names())
    except Exception:  # pragma: no cover - very old polars
        return set()


def explain(lf: Any) -> str:
    """polars' optimized plan plus what aerodf pushes to the server for it.

    Nothing is read: the scan source runs in a dry mode that only records its
    plan.
    """
    text = lf.explain()
    states = [st for tok in re.findall(r"aerodf\.scan\([^)]*\)(#\d+)", text)
              if (st := _SOURCES.get(tok)) is not None]
    plans: list = []
    with _explain_lock:
        for st in states:
            st.dry = plans
        try:
            lf.collect()
        finally:
            for st in states:
                st.dry = None
    lines = [text, "", "aerodf pushdown:"]
    for p in plans:
        lines.append(f"  bins requested: {p['bins']}")
        if p["n_rows"] is not None:
            lines.append(f"  max_records: {p['n_rows']}" + (" (head before filter: nothing else pushed)"
                                                              if p["head_first"] else ""))
        if p["plan"] is not None:
            lines.extend("  " + line for line in p["plan"].describe().splitlines())
        else:
            lines.append("  filter: none pushed")
        if p["bins"] and not (p["plan"] is not None and p["plan"].keeps_only_records_with(p["bins"])):
            lines.append("  records holding none of these bins: read in a second, metadata-only pass "
                         "(a set of at most 16 MiB is read whole in one pass instead)")
    return "\n".join(lines)

