"""Info commands of the test server (server ``as/src/base/thr_info.c``).

Every requested name is answered, in order, echoing the exact request string;
unknown names get an empty value, as the clients expect. ``aerodf-*`` names
are this server's own control commands (fault injection, node stop / start,
statistics) and exist on no real server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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
        return ""
    try:
        return fn(cluster, node, args)
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


def _namespace(cluster, node, args):
    ns = cluster.store.namespaces.get(args)
    if ns is None:
        return "ERROR:20:namespace not found"
    rf = min(cluster.replication_factor, len(cluster.live_nodes()))
    return (
        f"objects={ns.count()};replication-factor={rf};default-ttl={ns.default_ttl};"
        f"max-record-size={ns.max_record_size};strong-consistency=false;nsup-period=0"
    )


def _sets(cluster, node, args):
    want_ns, _, want_set = args.partition("/") if args else ("", "", "")
    out = []
    for ns in cluster.store.namespaces.values():
        if want_ns and ns.name != want_ns:
            continue
        for s, n in sorted(ns.set_names().items()):
            if want_set and s != want_set:
                continue
            out.append(f"ns={ns.name}:set={s}:objects={n}:tombstones=0:truncate_lut=0:stop-writes-count=0")
    return ";".join(out) + (";" if out else "")


def _sindex_list(cluster, node, args):
    out = []
    for ns in cluster.store.namespaces.values():
        for s in ns.sindexes.values():
            out.append(
                f"ns={ns.name}:indexname={s.name}:set={s.set_name or 'NULL'}:bin={s.bin}:"
                f"type={s.ktype.lower()}:indextype={s.itype.lower()}:context=NULL:exp=NULL:state=RW"
            )
    return ";".join(out) + (";" if out else "")


def _sindex_create(cluster, node, args):
    kv = parse_kv(args)
    ns_name = kv.get("namespace") or kv.get("ns")
    ns = cluster.store.namespaces.get(ns_name or "")
    if ns is None:
        return "FAIL:20:namespace not found"
    name = kv.get("indexname")
    if not name:
        return "FAIL:4:missing indexname"
    if "indexdata" in kv:  # servers before 8.1: indexdata=bin,TYPE
        bin_name, _, ktype = kv["indexdata"].partition(",")
    else:
        bin_name, ktype = kv.get("bin", ""), kv.get("type", "")
    ktype = ktype.upper()
    if ktype not in ("NUMERIC", "INTEGER", "STRING", "BLOB", "GEO2DSPHERE"):
        return f"FAIL:4:bad index type {ktype}"
    if name in ns.sindexes:
        return "FAIL:200:Index with the same name already exists"
    ns.sindexes[name] = SIndex(
        name, ns.name, kv.get("set") or None, bin_name, ktype, (kv.get("indextype") or "DEFAULT").upper()
    )
    return "OK"


def _sindex_delete(cluster, node, args):
    kv = parse_kv(args)
    ns = cluster.store.namespaces.get(kv.get("namespace") or kv.get("ns") or "")
    if ns is None:
        return "FAIL:20:namespace not found"
    if ns.sindexes.pop(kv.get("indexname", ""), None) is None:
        return "FAIL:201:Index does not exist"
    return "OK"


def _sindex_stat(cluster, node, args):
    if "=" in args:
        kv = parse_kv(args)
        ns_name, name = kv.get("namespace") or kv.get("ns") or "", kv.get("indexname", "")
    else:
        ns_name, _, name = args.partition("/")
    ns = cluster.store.namespaces.get(ns_name)
    if ns is None or name not in ns.sindexes:
        return "FAIL:201:Index does not exist"
    return "load_pct=100;keys=0;entries=0;memory_used=0;stat_gc_recs=0"


def _sindex_exists(cluster, node, args):
    kv = parse_kv(args)
    ns = cluster.store.namespaces.get(kv.get("namespace") or kv.get("ns") or "")
    return "true" if ns is not None and kv.get("indexname") in ns.sindexes else "false"


def _truncate(cluster, node, args):
    kv = parse_kv(args)
    ns = cluster.store.namespaces.get(kv.get("namespace") or "")
    if ns is None:
        return "ERROR:20:namespace not found"
    lut = int(kv["lut"]) if kv.get("lut") else None
    ns.truncate(kv.get("set") or None, lut)
    return "ok"


def _truncate_namespace(cluster, node, args):
    kv = parse_kv(args)
    ns = cluster.store.namespaces.get(kv.get("namespace") or "")
    if ns is None:
        return "ERROR:20:namespace not found"
    ns.truncate(None, None)
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
    from .handlers import LAST_FILTER

    return LAST_FILTER[0].hex()


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
    "udf-list": lambda c, n, a: "",
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
    "sindex": _sindex_stat,
    "sindex-create": _sindex_create,
    "sindex-delete": _sindex_delete,
    "sindex-stat": _sindex_stat,
    "sindex-exists": _sindex_exists,
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
