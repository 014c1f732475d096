"""Fault injection rules for reliability tests.

A rule matches data requests (or info requests with ``command="info"``) by
node, command kind, namespace and set; it fires for the next ``count``
matches (after skipping ``skip``), or forever, each time with
``probability``. Kinds: ``delay`` (answer ``ms`` later), ``drop`` (close the
connection without answering), ``error`` (answer result ``code``), ``stall``
(never answer until the client gives up; the connection is then closed).
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field

KINDS = ("delay", "drop", "error", "stall")
COMMANDS = ("any", "read", "write", "batch", "query", "udf", "info")


@dataclass
class Fault:
    kind: str
    command: str = "any"
    node: int | None = None
    ms: int = 0
    code: int = 0
    count: int | None = None
    skip: int = 0
    probability: float = 1.0
    namespace: str | None = None
    set_name: str | None = None
    id: int = 0
    fired: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"fault kind must be one of {KINDS}, not {self.kind!r}")
        if self.command not in COMMANDS:
            raise ValueError(f"fault command must be one of {COMMANDS}, not {self.command!r}")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError("probability must be within [0, 1]")

    @classmethod
    def from_info(cls, args: dict[str, str]) -> "Fault":
        """Build from ``kind=delay;command=batch;ms=300;count=2;node=1`` arguments."""
        def opt_int(k):
            return int(args[k]) if args.get(k, "") not in ("", "any") else None

        return cls(
            kind=args.get("kind", ""),
            command=args.get("command", "any"),
            node=opt_int("node"),
            ms=int(args.get("ms", 0)),
            code=int(args.get("code", 0)),
            count=opt_int("count"),
            skip=int(args.get("skip", 0)),
            probability=float(args.get("probability", 1.0)),
            namespace=args.get("namespace") or None,
            set_name=args.get("set") or None,
        )


@dataclass
class FaultBook:
    rules: list[Fault] = field(default_factory=list)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    rng: random.Random = field(default_factory=lambda: random.Random(0))

    def add(self, fault: Fault) -> int:
        fault.id = next(self._ids)
        self.rules.append(fault)
        return fault.id

    def clear(self) -> None:
        self.rules.clear()

    def match(self, node: int, command: str, namespace: str | None, set_name: str | None) -> Fault | None:
        """The first rule that fires for this request (consuming one of its count)."""
        for rule in self.rules:
            if rule.node is not None and rule.node != node:
                continue
            if rule.command == "any" and command == "info":
                continue
            if rule.command not in ("any", command):
                continue
            if rule.namespace is not None and rule.namespace != namespace:
                continue
            if rule.set_name is not None and rule.set_name != set_name:
                continue
            if rule.skip > 0:
                rule.skip -= 1
                continue
            if rule.count is not None and rule.count <= 0:
                continue
            if rule.probability < 1.0 and self.rng.random() >= rule.probability:
                continue
            if rule.count is not None:
                rule.count -= 1
            rule.fired += 1
            return rule
        return None
