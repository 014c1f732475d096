"""Info commands of the test server (server ``as/src/base/thr_info.c``).

Every requested name is answered, in order, echoing the exact request string;
an unknown name gets the server's ``ERROR:4:unrecognized command``. ``aerodf-*`` names
are this server's own control commands (fault injection, node stop / start,
statistics) and exist on no real server.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from typing import TYPE_CHECKING

from aerodf.protocol import resultcodes as RC
from aerodf.protocol.constants import CITRUSLEAF_EPOCH
from aerodf.protocol.info import parse_kv, partition_bitmap

from .faults import Fault
from .store import SIndex

if TYPE_CHECKING:  # pragma: no cover
    from .server import Cluster, Node

BUILD = "8.1.0.0"
FEATURES = (
    "batch-any;batch-index;blob-bits;cdt-list;cdt-map;cluster-stable;float;geo;"
    "sindex-exists;peers;pipelining;pquery;pscans;query-show;relaxed-sc;replicas;"
    "replicas-all;replicas-master;truncate-namespace;udf;xdr"
)


def answer(cluster: "Cluster", node: "Node", request: str) -> str:
    name, _, args = request.partition(":")
    if "/" in name and not args:
        name, _, args = name.partition("/")
    fn = _HANDLERS.get(name)
    if fn is None:
        return f"ERROR:{RC.PARAMETER_ERROR}:unrecognized command"
    try:
        return fn(cluster, node, args)
    except InfoError as exc:
        return f"ERROR:{exc.code}:{exc}"
    except (ValueError, KeyError) as exc:
        return f"ERROR:4:{exc}"


def _replicas(cluster, node, args):
    parts = []
    for ns in cluster.store.namespaces:
        maps = cluster.ownership(node.index)
        bitmaps = ",".join(partition_bitmap(pids) for pids in maps)
        parts.append(f"{ns}:0,{len(maps)},{bitmaps}")
    return ";".join(parts)


def _replicas_master(cluster, node, args):
    return ";".join(
        f"{ns}:{partition_bitmap(cluster.ownership(node.index)[0])}" for ns in cluster.store.namespaces
    )


def _peers(cluster, node, args):
    peers = ",".join(
        f"[{n.node_id},,[{n.host}:{n.port}]]" for n in cluster.live_nodes() if n is not node
    )
    return f"{cluster.peers_gen},{node.port},[{peers}]"


def _peers_empty(cluster, node, args):
    return f"{cluster.peers_gen},{node.port},[]"


def _node_objects(cluster, node, ns, set_name: str | None = None) -> tuple[int, int]:
    """(records this node holds as master or replica, as master): a real node counts
    both copies in ``objects``, so the cluster's sum is the set's size times the
    replication factor."""
    maps = cluster.ownership(node.index)
    master = ns.count(set_name, maps[0]) if maps else 0
    return master + sum(ns.count(set_name, m) for m in maps[1:]), master


def _node_bytes(cluster, node, ns, set_name: str, objects: int) -> int:
    """About the bytes this node stores for a set (a real node's ``data_used_bytes``):
    each copy's bins as stored plus a record header, averaged over up to 256 of the
    node's records, so an info call costs the same whatever the set's size."""
    parts = ns.by_set.get(set_name)
    if not parts or not objects:
        return 0
    seen = size = 0
    for m in cluster.ownership(node.index):
        for p in m:
            for rec in parts[p].values():
                size += 36 + len(rec.all_ops())
                seen += 1
                if seen >= 256:
                    return size * objects // seen
    return size * objects // seen if seen else 0


def _namespace(cluster, node, args):
    ns = cluster.store.namespaces.get(args)
    if ns is None:
        return "type=unknown"
    rf = min(cluster.replication_factor, len(cluster.live_nodes()))
    objects, master = _node_objects(cluster, node, ns)
    return (
        f"objects={objects};master_objects={master};effective_replication_factor={rf};"
        f"replication-factor={rf};default-ttl={ns.default_ttl};"
        f"max-record-size={ns.max_record_size};strong-consistency=false;nsup-period=0"
    )


def _sets(cluster, node, args):
    """``sets``, ``sets/<ns>`` (entries led by ``ns=..:set=..``) and ``sets/<ns>/<set>``
    (the one set's entry without them; empty for a set the node does not have,
    ``ns_type=unknown`` for an unknown namespace), counting this node's copies."""
    want_ns, _, want_set = args.partition("/") if args else ("", "", "")
    if want_ns and want_ns not in cluster.store.namespaces:
        return "ns_type=unknown"
    out = []
    for ns in cluster.store.namespaces.values():
        if want_ns and ns.name != want_ns:
            continue
        for s in sorted(ns.set_names()):
            if want_set and s != want_set:
                continue
            n, _ = _node_objects(cluster, node, ns, s)
            head = "" if want_set else f"ns={ns.name}:set={s}:"
            out.append(f"{head}objects={n}:tombstones=0:data_used_bytes={_node_bytes(cluster, node, ns, s, n)}:"
                       f"truncate_lut=0:stop-writes-count=0")
    return ";".join(out) + (";" if out else "")


class InfoError(Exception):
    """Answer an info command with ``ERROR:<code>:<message>`` (server ``as_info_respond_error``)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _param(args: str, names: tuple[str, ...], size: int, *, required: bool = False) -> str | None:
    """One ``name=value`` parameter as the server reads it (``as_info_parameter_get``):
    None when absent; an empty or too long value (``size`` includes the C string's
    terminator) or a missing required one is an error, 20 for the namespace, else 4."""
    value = None
    for item in args.split(";"):
        k, eq, v = item.partition("=")
        if eq and k in names:
            value = v
            break
    code = RC.INVALID_NAMESPACE if names[0] == "namespace" else RC.PARAMETER_ERROR
    if value is None:
        if required:
            raise InfoError(code, f"missing '{names[0]}'")
        return None
    if len(value.encode()) >= size:
        raise InfoError(code, f"'{names[0]}' value too long")
    if not value:
        raise InfoError(code, f"missing '{names[0]}' value")
    return value


_NS = ("namespace", "ns")
_ITYPES = ("default", "list", "mapkeys", "mapvalues")
_KTYPES = {"numeric": "NUMERIC", "string": "STRING", "blob": "BLOB", "geo2dsphere": "GEO2DSPHERE"}


def _index_expression(b64: str):
    """The evaluator of an expression index's base64 expression (8.1 ``exp=``)."""
    from aerodf.protocol.values import ValueCodecError, unpack_raw

    from .expr import ExpError, compile_exp

    try:
        fn, _t = compile_exp(unpack_raw(base64.b64decode(b64, validate=True)))
    except (ValueError, ValueCodecError, ExpError) as exc:
        raise InfoError(RC.PARAMETER_ERROR, f"bad 'exp' - {exc}") from None
    return fn


def _sindex_line(ns_name: str, s: SIndex) -> str:
    # an expression index shows its expression in base64 (the server's b64=true form)
    return (f"ns={ns_name}:indexname={s.name}:set={s.set_name or 'null'}:bin={s.bin or 'null'}:"
            f"type={s.ktype.lower()}:indextype={s.itype.lower()}:context={s.ctx or 'null'}:exp={s.exp or 'null'}:state=RW")


def _sindex_lines(cluster, only: str | None = None) -> str:
    return ";".join(_sindex_line(ns.name, s) for ns in cluster.store.namespaces.values()
                    if only is None or ns.name == only for s in ns.sindexes.values())


def _sindex_list(cluster, node, args):
    ns_name = _param(args, _NS, 128)
    if ns_name is not None and ns_name not in cluster.store.namespaces:
        raise InfoError(RC.INVALID_NAMESPACE, "namespace not found on node")
    return _sindex_lines(cluster, ns_name)


def _sindex(cluster, node, args):
    """The deprecated bare ``sindex[:ns[/indexname]]``: the list, or one index's stats."""
    if not args:
        return _sindex_lines(cluster)
    ns_name, sep, name = args.partition("/")
    if ns_name not in cluster.store.namespaces:
        return "ns_type=unknown"
    if not sep:
        return _sindex_lines(cluster, ns_name)
    if name not in cluster.store.namespaces[ns_name].sindexes:
        raise InfoError(RC.INDEX_NOT_FOUND, "no index")
    return _SINDEX_STATS


_SINDEX_STATS = "entries=0;used_bytes=0;entries_per_bval=0;entries_per_rec=0;load_pct=100;load_time=0;stat_gc_recs=0"


def _sindex_create(cluster, node, args):
    # the checks in the server's order (sindex_manager.c as_sindex_manager_sindex_create)
    name = _param(args, ("indexname",), 64, required=True)
    ns_name = _param(args, _NS, 32, required=True)
    set_name = _param(args, ("set",), 64)
    ctx = _param(args, ("context",), 4096)
    if ctx is not None:
        try:
            from aerodf.protocol.values import unpack_raw

            if not isinstance(unpack_raw(base64.b64decode(ctx, validate=True)), list):
                raise ValueError
        except ValueError:
            raise InfoError(RC.PARAMETER_ERROR, "'context' invalid cdt context") from None
    itype = (_param(args, ("indextype",), 32) or "default").lower()
    if itype not in _ITYPES:
        raise InfoError(RC.PARAMETER_ERROR, "bad 'indextype' - must be one of 'default', 'list', "
                        "'mapkeys', 'mapvalues'")
    indexdata = _param(args, ("indexdata",), 64 + 16)
    ktype = _param(args, ("type",), 32)
    exp = exp_fn = None
    if indexdata is None and ktype is None:
        raise InfoError(RC.PARAMETER_ERROR, "both 'indexdata' and 'type' are missing")
    if indexdata is not None and ktype is not None:
        raise InfoError(RC.PARAMETER_ERROR, "both 'indexdata' and 'type' are specified")
    if ktype is not None:
        if ktype.lower() not in _KTYPES:
            raise InfoError(RC.PARAMETER_ERROR, "bad 'type' - must be one of 'numeric', 'string', "
                            "'blob', 'geo2dsphere'")
        bin_name = _param(args, ("bin",), 16)
        exp = _param(args, ("exp",), 4096)
        if bin_name is not None and exp is not None:
            raise InfoError(RC.PARAMETER_ERROR, "both 'bin' and 'exp' are specified")
        if bin_name is None and exp is None:
            raise InfoError(RC.PARAMETER_ERROR, "both 'bin' and 'exp' are missing")
        if exp is not None:
            if ctx is not None:
                raise InfoError(RC.PARAMETER_ERROR, "both 'context' and 'exp' are specified")
            exp_fn = _index_expression(exp)
    else:
        bin_name, comma, ktype = indexdata.partition(",")
        if not comma:
            raise InfoError(RC.PARAMETER_ERROR, "'indexdata' missing bin type")
        if not bin_name:
            raise InfoError(RC.PARAMETER_ERROR, "'indexdata' missing bin name")
        if len(bin_name.encode()) >= 16:
            raise InfoError(RC.PARAMETER_ERROR, "'indexdata' bin name too long")
        if ktype.lower() not in _KTYPES:
            raise InfoError(RC.PARAMETER_ERROR, "bad 'indexdata' bin type - must be one of 'numeric', "
                            "'string', 'blob', 'geo2dsphere'")
    ktype = _KTYPES[ktype.lower()]
    if itype == "mapkeys" and ktype == "GEO2DSPHERE":
        raise InfoError(RC.PARAMETER_ERROR, "bad 'indexdata' bin type for 'indextype' 'mapkeys' - "
                        "must be one of 'numeric', 'string', 'blob'")
    ns = cluster.store.namespaces.get(ns_name)
    if ns is None:
        raise InfoError(RC.INVALID_NAMESPACE, "namespace not found")
    new = SIndex(name, ns.name, set_name, bin_name or "", ktype, itype.upper(), exp, exp_fn, ctx)
    old = ns.sindexes.get(name)
    if old is not None:
        if old != new:
            raise InfoError(RC.INDEX_FOUND, "'indexname' already exists with different definition")
        return "ok"  # the same index again: servers after 6.0 answer ok
    for other in list(ns.sindexes.values()):
        if (other.set_name, other.bin, other.ktype, other.itype, other.exp, other.ctx) == (
                new.set_name, new.bin, new.ktype, new.itype, new.exp, new.ctx):
            del ns.sindexes[other.name]  # one definition, a new name: the server renames it
    ns.sindexes[name] = new
    return "ok"


def _sindex_delete(cluster, node, args):
    name = _param(args, ("indexname",), 64, required=True)
    ns_name = _param(args, _NS, 32, required=True)
    ns = cluster.store.namespaces.get(ns_name)
    if ns is not None:
        ns.sindexes.pop(name, None)
    return "ok"  # a missing index is no error on servers after 6.0


def _sindex_stat(cluster, node, args):
    name = _param(args, ("indexname",), 64, required=True)
    ns_name = _param(args, _NS, 32, required=True)
    ns = cluster.store.namespaces.get(ns_name)
    if ns is None:
        raise InfoError(RC.INVALID_NAMESPACE, "namespace not found on node")
    if name not in ns.sindexes:
        raise InfoError(RC.INDEX_NOT_FOUND, "no index")
    return _SINDEX_STATS


def _sindex_exists(cluster, node, args):
    name = _param(args, ("indexname",), 64, required=True)
    ns_name = _param(args, _NS, 32, required=True)
    ns = cluster.store.namespaces.get(ns_name)
    if ns is None:
        raise InfoError(RC.INVALID_NAMESPACE, "namespace not found on node")
    return "true" if name in ns.sindexes else "false"


# ---------------------------------------------------------------- UDF modules
# (server udf_cask.c). Modules are registered, listed, fetched and removed like
# on a real server; this server runs no Lua, so applying one answers an error
# (see handlers.Handlers.udf).

_UDF_NAME_SZ = 128


def _raw_param(args: str, name: str) -> str | None:
    for item in args.split(";"):
        k, eq, v = item.partition("=")
        if eq and k == name:
            return v
    return None


def _udf_filename(args: str) -> str | None:
    try:
        name = _param(args, ("filename",), _UDF_NAME_SZ)
    except InfoError:
        return None
    return name


def _udf_put(cluster, node, args):
    name = _udf_filename(args)
    dot = -1 if name is None else name.find(".")
    if dot <= 0 or dot == len(name) - 1:  # no extension, or a dot at either end
        return "error=invalid_filename"
    try:
        length = _param(args, ("content-len",), 11)
    except InfoError:
        length = None
    if length is None or not length.isdigit():
        return "error=invalid_content_len"
    udf_type = _raw_param(args, "udf-type")
    if udf_type is not None and udf_type != "LUA":
        return "error=invalid_udf_type"
    if int(length) % 4:
        return "error=invalid_content_len"
    content = _raw_param(args, "content")
    if content is None or len(content) != int(length):
        return "error=invalid_content"
    if len(content) // 4 * 3 > 1024 * 1024:
        return "error=invalid_udf_content_len,>1M"
    try:
        base64.b64decode(content, validate=True)
    except ValueError:
        return "error=invalid_base64_content"
    cluster.store.udfs[name] = content
    return "ok"


def _udf_list(cluster, node, args):
    out = []
    for name, content in cluster.store.udfs.items():
        # the server hashes its metadata value: the module as a JSON object
        smd = json.dumps({"content64": content, "type": "LUA", "name": name})
        out.append(f"filename={name},hash={hashlib.sha1(smd.encode()).hexdigest()},type=LUA;")
    return "".join(out)


def _udf_get(cluster, node, args):
    name = _udf_filename(args)
    if name is None:
        return "error=invalid_filename"
    content = cluster.store.udfs.get(name)
    if content is None:
        return "error=not_found"
    if not content:
        return "error=empty"
    return f"type=LUA;content={content};"


def _udf_remove(cluster, node, args):
    name = _udf_filename(args)
    if name is None:
        return "error=invalid_filename"
    cluster.store.udfs.pop(name, None)
    return "ok"


def _query_show(cluster, node, args):
    jobs = cluster.handlers.jobs
    trid = _param(args, ("id", "trid"), 26)
    if trid is None:
        return ";".join(jobs.values())
    try:
        n = int(trid, 0)
    except ValueError:
        n = 0
    if n <= 0:
        raise InfoError(RC.PARAMETER_ERROR, "bad id")
    if n not in jobs:
        raise InfoError(RC.KEY_NOT_FOUND, "job not found")
    return jobs[n]


def _strtoul(text: str) -> int:
    """C ``strtoul(text, NULL, 0)``: decimal, 0x hex or 0 octal, up to the first bad character."""
    m = re.match(r"\s*(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)", text)
    if m is None:
        return 0
    digits = m.group(1)
    if digits[:2].lower() == "0x":
        return int(digits, 16)
    return int(digits, 8) if digits.startswith("0") else int(digits)


def _truncate_lut_ns(args: str) -> int:
    """The truncate threshold as UTC nanoseconds at millisecond resolution (server
    truncate.c as_truncate_cmd): records last updated before it go. No ``lut`` means
    now; one before the 2010 epoch, unparseable or in the future is refused."""
    now_ms = time.time_ns() // 1_000_000
    lut = _param(args, ("lut",), 24)
    if lut is None:
        return now_ms * 1_000_000
    lut_ms = _strtoul(lut) // 1_000_000
    if lut_ms <= CITRUSLEAF_EPOCH * 1000:
        raise InfoError(RC.PARAMETER_ERROR, "would truncate to 0")
    if lut_ms > now_ms:
        raise InfoError(RC.PARAMETER_ERROR, "would truncate in the future")
    return lut_ms * 1_000_000


def _truncate(cluster, node, args):
    ns_name = _param(args, ("namespace",), 32, required=True)
    set_name = _param(args, ("set",), 64, required=True)
    before = _truncate_lut_ns(args)
    ns = cluster.store.namespaces.get(ns_name)
    if ns is not None:  # an unknown namespace is no error: the command goes to every node's SMD
        ns.truncate(set_name, before - 1)
    return "ok"


def _truncate_namespace(cluster, node, args):
    ns_name = _param(args, ("namespace",), 32, required=True)
    if _raw_param(args, "set") is not None:
        raise InfoError(RC.PARAMETER_ERROR, "unexpected set name in command")
    before = _truncate_lut_ns(args)
    ns = cluster.store.namespaces.get(ns_name)
    if ns is not None:
        ns.truncate(None, before - 1)
    return "ok"


def _statistics(cluster, node, args):
    total = sum(ns.count() for ns in cluster.store.namespaces.values())
    return f"cluster_size={len(cluster.live_nodes())};objects={total};cluster_integrity=true"


# ---------------------------------------------------------------- aerodf-* control

def _fault_add(cluster, node, args):
    return str(cluster.faults.add(Fault.from_info(parse_kv(args))))


def _fault_clear(cluster, node, args):
    cluster.faults.clear()
    return "ok"


def _fault_list(cluster, node, args):
    return ";".join(f"id={f.id},kind={f.kind},command={f.command},fired={f.fired}" for f in cluster.faults.rules)


def _node_stop(cluster, node, args):
    cluster.request_stop(int(parse_kv(args)["node"]))
    return "ok"


def _node_start(cluster, node, args):
    cluster.request_start(int(parse_kv(args)["node"]))
    return "ok"


def _stats(cluster, node, args):
    return ";".join(f"{k}={v}" for k, v in cluster.stats().items())


def _last_filter(cluster, node, args):
    return cluster.store.last_filter.hex()


def _stats_reset(cluster, node, args):
    cluster.reset_stats()
    return "ok"


def _nodes(cluster, node, args):
    return ";".join(
        f"{n.index}={n.node_id}@{n.host}:{n.port}:{'up' if n.up else 'down'}" for n in cluster.nodes
    )


_CONST = {
    "build": lambda c, n, a: BUILD,
    "version": lambda c, n, a: f"Aerospike Community Edition build {BUILD}",
    "edition": lambda c, n, a: "Aerospike Community Edition",
    "features": lambda c, n, a: FEATURES,
    "node": lambda c, n, a: n.node_id,
    "partition-generation": lambda c, n, a: str(c.partition_gen),
    "peers-generation": lambda c, n, a: str(c.peers_gen),
    "rebalance-generation": lambda c, n, a: str(c.partition_gen),
    "cluster-name": lambda c, n, a: "",
    "cluster-stable": lambda c, n, a: f"{c.cluster_key:X}",
    "cluster-generation": lambda c, n, a: str(c.peers_gen),
    "service-clear-std": lambda c, n, a: f"{n.host}:{n.port}",
    "service": lambda c, n, a: f"{n.host}:{n.port}",
    "services": lambda c, n, a: "",
    "services-alumni": lambda c, n, a: "",
    "namespaces": lambda c, n, a: ";".join(c.store.namespaces),
    "status": lambda c, n, a: "ok",
    "user-agent-set": lambda c, n, a: "ok",
    "partitions": lambda c, n, a: "",
}

_HANDLERS = {
    **_CONST,
    "replicas": _replicas,
    "replicas-all": _replicas,
    "replicas-master": _replicas_master,
    "peers-clear-std": _peers,
    "peers-clear-alt": _peers_empty,
    "peers-tls-std": _peers_empty,
    "peers-tls-alt": _peers_empty,
    "namespace": _namespace,
    "sets": _sets,
    "sindex-list": _sindex_list,
    "sindex": _sindex,
    "sindex-create": _sindex_create,
    "sindex-delete": _sindex_delete,
    "sindex-stat": _sindex_stat,
    "sindex-exists": _sindex_exists,
    "udf-put": _udf_put,
    "udf-list": _udf_list,
    "udf-get": _udf_get,
    "udf-remove": _udf_remove,
    "query-show": _query_show,
    "truncate": _truncate,
    "truncate-namespace": _truncate_namespace,
    "statistics": _statistics,
    "aerodf-fault-add": _fault_add,
    "aerodf-fault-clear": _fault_clear,
    "aerodf-fault-list": _fault_list,
    "aerodf-node-stop": _node_stop,
    "aerodf-node-start": _node_start,
    "aerodf-stats": _stats,
    "aerodf-last-filter": _last_filter,
    "aerodf-stats-reset": _stats_reset,
    "aerodf-nodes": _nodes,
}
