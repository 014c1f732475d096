"""Immutable policies in the Aerospike policy model.

Aerospike policies mix networking (timeouts, retries, replica choice),
application behaviour (exists action, generation check, TTL, send key) and a
filter expression. The classic traps are mutating a shared default (every
concurrent call changes) and building a fresh policy (the configured defaults
are lost). Here both are impossible by construction, as with urllib3's
``Retry``: policies are frozen values; a client holds one default per kind;
a per-call override is ``default.replace(**changes)``, a new value.

Times are milliseconds, as in every Aerospike client. Defaults follow the
server clients: reads and batches retry twice, writes never (a retried write
may apply twice) unless ``idempotent=True``; queries retry 5 times.
``total_timeout`` bounds a whole call including retries (0 = no bound) and
each attempt's socket timeout is clipped to what is left of it. Reads and
``socket_timeout=None`` means a third of ``total_timeout`` (30 s without a
total bound), for callers who want a stalled node to leave time for a retry
on the replica whatever budget they give. It is not the default: the server
takes the socket timeout as its own deadline for a batch, and with a third
of the 1 s default, 5 000-key chunks of a 100 000-key read on a loaded
2-core machine failed with TIMEOUT (1 651 records) where the clients'
defaults (30 s, clipped to the 1 s total) read them all.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError


class Replica(enum.IntEnum):
    """Which replica serves a read (values as in the official client)."""

    MASTER = 0
    ANY = 1
    SEQUENCE = 2  # master first, then the next replica on each retry
    PREFER_RACK = 3
    RANDOM = 4


class Exists(enum.Enum):
    """What a write does when the record does (not) exist."""

    UPSERT = "upsert"
    CREATE_ONLY = "create_only"
    UPDATE_ONLY = "update_only"
    REPLACE = "replace"
    REPLACE_ONLY = "replace_only"


class GenerationCheck(enum.Enum):
    """Check-and-set on the record's generation before a write."""

    NONE = "none"
    EQ = "eq"  # write only if the record's generation equals the given one
    GT = "gt"  # write only if the given generation is greater


TTL_NAMESPACE_DEFAULT = 0
TTL_NEVER_EXPIRE = -1
TTL_DONT_UPDATE = -2
# The server refuses a record TTL above ten years (PARAMETER_ERROR) unless it is one
# of the specials; the TTL travels as an unsigned 32-bit field, so a larger Python int
# would wrap around into another, valid-looking TTL.
MAX_TTL = 10 * 365 * 24 * 3600


def check_ttl(ttl: object) -> str | None:
    """Why ``ttl`` is not a record TTL aerodf can send, or None when it is.

    Valid: ``0`` (namespace default), ``1 .. MAX_TTL`` seconds, ``-1`` (never
    expire), ``-2`` (keep the record's TTL).
    """
    if isinstance(ttl, bool) or not isinstance(ttl, int):
        return f"{ttl!r} ({type(ttl).__name__}) is not an integer number of seconds"
    if ttl < TTL_DONT_UPDATE or ttl > MAX_TTL:
        return (f"{ttl} is outside the TTLs the server accepts: 0 (namespace default), 1..{MAX_TTL} seconds "
                f"(ten years), -1 (never expire) or -2 (keep the record's TTL)")
    return None


def _nonneg_int(cls_name: str, name: str, v: Any) -> None:
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise ConfigError(f"{cls_name}.{name} must be a non-negative integer (milliseconds or count), not {v!r}")


@dataclass(frozen=True, slots=True)
class Policy:
    """Networking fields shared by every policy kind (all times in ms)."""

    connect_timeout: int = 1000
    socket_timeout: int | None = 30000
    total_timeout: int = 1000
    max_retries: int = 2
    sleep_between_retries: int = 0
    replica: Replica = Replica.SEQUENCE
    timeout_delay: int = 0
    compress: bool = False
    filter: Any = None  # an Aerospike filter expression (the client library's compiled form)

    def __post_init__(self) -> None:
        name = type(self).__name__
        for f in ("connect_timeout", "socket_timeout", "total_timeout", "max_retries",
                  "sleep_between_retries", "timeout_delay"):
            if f == "socket_timeout" and self.socket_timeout is None:
                continue  # a third of total_timeout (ReadPolicy, BatchPolicy)
            _nonneg_int(name, f, getattr(self, f))
        if not isinstance(self.replica, Replica):
            try:
                object.__setattr__(self, "replica", Replica[str(self.replica).upper()]
                                   if isinstance(self.replica, str) else Replica(self.replica))
            except (KeyError, ValueError):
                raise ConfigError(f"{name}.replica must be one of {[r.name.lower() for r in Replica]}") from None
        if not isinstance(self.compress, bool):
            raise ConfigError(f"{name}.compress must be a bool")

    def replace(self, **changes: Any) -> "Policy":
        """A copy with ``changes`` applied; the original is untouched.

        >>> BatchPolicy().replace(total_timeout=250).total_timeout
        250
        """
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ConfigError(f"{type(self).__name__} has no field(s) {sorted(unknown)}")
        return dataclasses.replace(self, **changes)

    def socket_ms(self) -> int:
        """The socket timeout in force: the field, or (when it is None) a third of
        ``total_timeout`` (30 000 without a total bound).

        >>> BatchPolicy(total_timeout=900).socket_ms(), BatchPolicy(socket_timeout=50).socket_ms()
        (300, 50)
        """
        if self.socket_timeout is None:
            return max(1, self.total_timeout // 3) if self.total_timeout else 30000
        return self.socket_timeout

    def attempt_socket_timeout(self, remaining_total: int | None = None) -> int:
        """The socket timeout of one attempt: clipped to what is left of total_timeout."""
        remaining = self.total_timeout if remaining_total is None else remaining_total
        sock = self.socket_ms()
        if self.total_timeout and (sock == 0 or sock > remaining):
            return max(1, remaining)
        return sock


@dataclass(frozen=True, slots=True)
class ReadPolicy(Policy):
    """Single-record reads."""


@dataclass(frozen=True, slots=True)
class BatchPolicy(Policy):
    """Batch reads. ``concurrent`` lets the client query nodes in parallel.

    """

    concurrent: bool = False
    allow_inline: bool = True
    respond_all_keys: bool = True


@dataclass(frozen=True, slots=True)
class WritePolicy(Policy):
    """Writes: never retried unless ``idempotent`` (a retried write may apply twice)."""

    max_retries: int = 0
    send_key: bool = True
    exists: Exists = Exists.UPSERT
    generation_check: GenerationCheck = GenerationCheck.NONE
    ttl: int = TTL_NAMESPACE_DEFAULT
    durable_delete: bool = False
    idempotent: bool = False

    def __post_init__(self) -> None:
        Policy.__post_init__(self)
        name = type(self).__name__
        if not isinstance(self.exists, Exists):
            try:
                object.__setattr__(self, "exists", Exists(self.exists))
            except ValueError:
                raise ConfigError(f"{name}.exists must be one of {[e.value for e in Exists]}") from None
        if not isinstance(self.generation_check, GenerationCheck):
            try:
                object.__setattr__(self, "generation_check", GenerationCheck(self.generation_check))
            except ValueError:
                raise ConfigError(f"{name}.generation_check must be none, eq or gt") from None
        why = check_ttl(self.ttl)
        if why is not None:
            raise ConfigError(f"{name}.ttl: {why}")
        if self.max_retries and not self.idempotent:
            raise ConfigError(
                f"{name}: a write retried after a timeout may apply twice; set idempotent=True to allow max_retries"
            )


@dataclass(frozen=True, slots=True)
class QueryPolicy(Policy):
    """Queries and scans: no total bound by default, 5 retries per partition."""

    total_timeout: int = 0
    max_retries: int = 5
    records_per_second: int = 0
    short_query: bool = False


POLICY_KINDS = {"read": ReadPolicy, "batch": BatchPolicy, "write": WritePolicy, "query": QueryPolicy}


def resolve(default: Policy, policy: Policy | None, overrides: dict[str, Any]) -> Policy:
    """The policy of one call: ``policy`` (or the client's ``default``) with ``overrides``.

    Always a new value or an existing immutable one; never a mutation.
    """
    base = default if policy is None else policy
    if not isinstance(base, type(default)):
        raise ConfigError(f"expected a {type(default).__name__}, got {type(base).__name__}")
    return base.replace(**overrides) if overrides else base
