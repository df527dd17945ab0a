"""Settings in one place: defaults < TOML file < ``SOCKETSVC_*`` environment < command-line flags.

Every setting is a field of :class:`Settings` with its default and a one-line doc; the CLI flags,
the environment variables and the accepted file keys are all derived from these fields, so a new
setting is added in exactly one place.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import socket
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from socketsvc.errors import ConfigError
from socketsvc.suggest import did_you_mean

log = logging.getLogger("socketsvc.config")

ENV_PREFIX = "SOCKETSVC_"
SERIALIZERS = ("auto", "json", "msgpack")
MANAGERS = ("memory", "redis")
REDIS_PROTOCOLS = ("socketsvc", "socket.io", "socket.io-streams")
# redis_prefix when it is left empty: socketsvc's own, or Node's default key for its formats
DEFAULT_PREFIXES = {
    "socketsvc": "socketsvc",
    "socket.io": "socket.io",
    "socket.io-streams": "socket.io",
}
TRANSPORTS = ("polling", "websocket")
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("text", "json")
AUTH_MODES = ("required", "optional", "none")
JWT_ALGORITHMS = ("HS256", "RS256", "ES256")
NAMESPACE_PATTERN = re.compile(r"^/(?:[A-Za-z0-9_.~-]+(?:/[A-Za-z0-9_.~-]+)*(?:/\*)?|\*)?$")
HANDLER_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
# bcrypt as the Admin UI's own server takes it: $2a$/$2b$/$2y$, cost, 22 + 31 characters
BCRYPT_HASH = re.compile(r"^\$2[aby]\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}$")
MAX_WORKERS = 256


def cores() -> int:
    """The CPUs this process may run on (its affinity; a container's CPU quota is not seen)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _doc(text: str, **extra: Any) -> dict[str, Any]:
    return {"doc": text, **extra}


@dataclass(frozen=True)
class Settings:
    """The whole configuration of one socketsvc node; immutable once loaded."""

    host: str = field(default="127.0.0.1", metadata=_doc("interface to listen on"))
    port: int = field(default=8000, metadata=_doc("TCP port to listen on"))
    workers: int = field(
        default=1,
        metadata=_doc(
            "processes serving the port, each a full node sharing rooms, broadcasts, presence "
            "and recovery with the others; auto = one per core",
            auto=cores,
        ),
    )
    serializer: Literal["auto", "json", "msgpack"] = field(
        default="auto",
        metadata=_doc(
            "wire format: auto = each client's own parser, or pin json / msgpack",
            choices=SERIALIZERS,
        ),
    )
    manager: Literal["memory", "redis"] = field(
        default="memory", metadata=_doc("room/broadcast backend", choices=MANAGERS)
    )
    log_level: Literal["debug", "info", "warning", "error"] = field(
        default="info", metadata=_doc("log verbosity", choices=LOG_LEVELS)
    )
    ping_interval: float = field(default=25.0, metadata=_doc("seconds between server pings"))
    ping_timeout: float = field(
        default=20.0, metadata=_doc("seconds to wait for a pong before closing")
    )
    connect_timeout: float = field(
        default=45.0, metadata=_doc("seconds a transport may stay open without joining a namespace")
    )
    max_payload: int = field(
        default=1_000_000, metadata=_doc("largest accepted message or HTTP body, in bytes")
    )
    transports: tuple[str, ...] = field(
        default=TRANSPORTS, metadata=_doc("allowed transports", choices=TRANSPORTS)
    )
    cors_origins: tuple[str, ...] = field(
        default=(), metadata=_doc("origins allowed cross-site; empty = same origin, '*' = any")
    )
    shutdown_grace: float = field(
        default=5.0, metadata=_doc("seconds to disconnect clients on SIGTERM before exiting")
    )
    chat: bool | None = field(
        default=None,
        metadata=_doc(
            "serve the built-in /chat namespace; unset = only when no [namespaces] are declared "
            "(the embedded defaults)"
        ),
    )
    chat_page: bool = field(
        default=True, metadata=_doc("serve the chat page at / (where /chat is served)")
    )
    namespaces: Mapping[str, str] = field(
        default_factory=dict,
        metadata=_doc("extra handler modules: namespace -> 'package.module:Class' (file only)"),
    )
    handler_path: tuple[str, ...] = field(
        default=(),
        metadata=_doc(
            "directories [namespaces] modules are imported from, before the config file's "
            "directory, the working directory and the installed packages"
        ),
    )
    # -- security: see docs/security.md ---------------------------------------------------------
    auth: Literal["required", "optional", "none"] = field(
        default="none",
        metadata=_doc("JWT on connect for namespaces not in namespace_auth", choices=AUTH_MODES),
    )
    namespace_auth: Mapping[str, str] = field(
        default_factory=dict,
        metadata=_doc("per-namespace auth mode: namespace -> required|optional|none (file only)"),
    )
    jwt_secret: str = field(
        default="",
        repr=False,
        metadata=_doc("HS256 shared secret for connect tokens (prefer env)", secret=True),
    )
    jwt_public_key_file: str = field(
        default="", metadata=_doc("PEM public key (RSA or EC P-256) for RS256/ES256 tokens")
    )
    jwt_jwks_file: str = field(
        default="", metadata=_doc("JWKS file of public keys; a token's kid picks the key")
    )
    jwt_algorithms: tuple[str, ...] = field(
        default=(),
        metadata=_doc(
            "accepted token algorithms; empty = implied by the key", choices=JWT_ALGORITHMS
        ),
    )
    jwt_audience: str = field(default="", metadata=_doc("required 'aud' claim; empty = unchecked"))
    jwt_issuer: str = field(default="", metadata=_doc("required 'iss' claim; empty = unchecked"))
    jwt_leeway: float = field(
        default=5.0, metadata=_doc("seconds of clock skew allowed on exp/nbf/iat")
    )
    token_refresh_notice: float = field(
        default=30.0,
        metadata=_doc(
            "seconds before a connection's token expires that the server emits auth:expiring; "
            "0 = no notice (the connection is closed at exp + jwt_leeway unless refreshed)"
        ),
    )
    revoked_hook: str = field(
        default="",
        metadata=_doc(
            "deny-list check 'package.module:function', awaited as revoked(claims) -> bool at "
            "connect and at token refresh; empty = nothing revoked"
        ),
    )
    name_claim: str = field(
        default="name", metadata=_doc("claim /chat takes display names from (falls back to sub)")
    )
    private_room_prefix: str = field(
        default="private:",
        metadata=_doc("/chat rooms with this prefix need rooms_claim to list them"),
    )
    rooms_claim: str = field(
        default="rooms", metadata=_doc("claim listing the private /chat rooms a token may join")
    )
    trusted_proxies: tuple[str, ...] = field(
        default=(), metadata=_doc("proxy IPs/CIDRs whose X-Forwarded-For/-Host/-Proto are believed")
    )
    max_connections_per_ip: int = field(
        default=100, metadata=_doc("open Engine.IO sessions per client IP; 0 = unlimited")
    )
    max_namespaces_per_connection: int = field(
        default=10, metadata=_doc("namespaces one connection may join at once; 0 = unlimited")
    )
    max_rooms_per_connection: int = field(
        default=100, metadata=_doc("rooms one namespace connection may join; 0 = unlimited")
    )
    rate_limit_events: float = field(
        default=20.0, metadata=_doc("events per second per connection (token bucket); 0 = off")
    )
    rate_limit_burst: int = field(
        default=40, metadata=_doc("bucket size; refused events past another burst disconnect")
    )
    max_buffer_bytes: int = field(
        default=4_000_000,
        metadata=_doc("outgoing backlog per connection before it is closed as a slow consumer"),
    )
    keepalive_timeout: float = field(
        default=5.0,
        metadata=_doc(
            "seconds a connection may go without a complete request (new, between requests, "
            "or still sending headers) before it is closed (Node: keepAliveTimeout)"
        ),
    )
    body_timeout: float = field(
        default=30.0,
        metadata=_doc(
            "seconds to receive a request body once its headers are in; then 408 and the "
            "session closed (engine.io: httpRequestBodyTimeout)"
        ),
    )
    # -- connection-state recovery: see README.md ----------------------------------------------
    recovery_window: float = field(
        default=0.0,
        metadata=_doc(
            "seconds a dropped client can come back and get what it missed, for namespaces "
            "not set otherwise (0 = off; /chat defaults to 120)"
        ),
    )
    namespace_recovery: Mapping[str, float] = field(
        default_factory=dict,
        metadata=_doc("per-namespace recovery window: namespace -> seconds (file only)"),
    )
    recovery_max_packets: int = field(
        default=10_000, metadata=_doc("packets kept for recovery per namespace (oldest dropped)")
    )
    recovery_max_bytes: int = field(
        default=16_000_000, metadata=_doc("bytes kept for recovery per namespace (oldest dropped)")
    )
    chat_history: int = field(
        default=100,
        metadata=_doc("messages kept per /chat room for members who join later (0 = none)"),
    )
    chat_retry_window: float = field(
        default=120.0,
        metadata=_doc("seconds a /chat client_id is remembered: a retried send is not repeated"),
    )
    # -- scale-out: see deploy/README.md -------------------------------------------------------
    redis_url: str = field(
        default="redis://127.0.0.1:6379/0",
        metadata=_doc("Redis for manager = redis: rooms, broadcasts and presence across nodes"),
    )
    redis_prefix: str = field(
        default="",
        metadata=_doc(
            "prefix of every Redis key and of the pub/sub channels; same on all nodes "
            "(empty = socketsvc, or socket.io, Node's key, for the socket.io protocols)"
        ),
    )
    redis_protocol: Literal["socketsvc", "socket.io", "socket.io-streams"] = field(
        default="socketsvc",
        metadata=_doc(
            "what nodes say on Redis: socketsvc's own bus, or the formats of Node's "
            "@socket.io/redis-adapter (socket.io) or redis-streams-adapter (socket.io-streams)",
            choices=REDIS_PROTOCOLS,
        ),
    )
    redis_sentinels: tuple[str, ...] = field(
        default=(),
        metadata=_doc(
            "host:port of Redis Sentinels: every Redis use finds the primary through them and "
            "follows a failover (redis_url then gives only the database, user and password)"
        ),
    )
    redis_sentinel_service: str = field(
        default="", metadata=_doc("the primary's name in Sentinel (sentinel monitor NAME ...)")
    )
    redis_sentinel_password: str = field(
        default="",
        repr=False,
        metadata=_doc("password of the Sentinels themselves (prefer env)", secret=True),
    )
    redis_cluster: bool = field(
        default=False,
        metadata=_doc(
            "redis_url names any node of a Redis Cluster: the bus on sharded pub/sub, a channel "
            "per room, and every key under one hash tag (redis_prefix in braces)"
        ),
    )
    redis_failover_timeout: float = field(
        default=30.0,
        metadata=_doc(
            "seconds a node retries a write while Sentinel promotes a replica; emits kept for "
            "recovery wait that long for the new primary before they are delivered locally only"
        ),
    )
    presence_refresh: float = field(
        default=10.0,
        metadata=_doc(
            "seconds between presence refreshes (redis); a crashed node's members vanish "
            "within 3x this"
        ),
    )
    api_key: str = field(
        default="",
        repr=False,
        metadata=_doc(
            "bearer token for POST /api/v1/emit; empty disables the API (prefer env)", secret=True
        ),
    )
    # -- observing a node: see README "Observing a node" -----------------------------------
    node_id: str = field(
        default="",
        metadata=_doc("this node's name in logs, metrics and the Admin UI; empty = host-pid"),
    )
    log_format: Literal["text", "json"] = field(
        default="text",
        metadata=_doc("log lines as text, or one JSON object per line", choices=LOG_FORMATS),
    )
    metrics: bool = field(default=True, metadata=_doc("serve Prometheus metrics at GET /metrics"))
    metrics_token: str = field(
        default="",
        repr=False,
        metadata=_doc("bearer token GET /metrics requires; empty = open (prefer env)"),
    )
    admin_ui: bool = field(
        default=False,
        metadata=_doc("serve the Socket.IO Admin UI at /admin/ and its namespace"),
    )
    admin_namespace: str = field(
        default="/admin", metadata=_doc("namespace the Admin UI connects to")
    )
    admin_username: str = field(default="admin", metadata=_doc("Admin UI user name"))
    admin_password_hash: str = field(
        default="",
        repr=False,
        metadata=_doc("bcrypt hash of the Admin UI password; required with admin_ui"),
    )
    admin_read_only: bool = field(
        default=False,
        metadata=_doc("the Admin UI may look, but not emit, join, leave or disconnect"),
    )

    def __post_init__(self) -> None:
        if not self.redis_prefix and self.redis_protocol in DEFAULT_PREFIXES:
            # a derived default: the one documented place a frozen field is filled in
            object.__setattr__(self, "redis_prefix", DEFAULT_PREFIXES[self.redis_protocol])
        if self.redis_cluster and "{" not in self.redis_prefix:
            # Cluster: a multi-key command or script must stay in one hash slot
            object.__setattr__(self, "redis_prefix", f"{{{self.redis_prefix}}}")
        _validate(self)


def _validate(s: Settings) -> None:
    for f in dataclasses.fields(s):
        choices = f.metadata.get("choices")
        value = getattr(s, f.name)
        values = value if isinstance(value, tuple) else (value,)
        if choices and any(v not in choices for v in values):
            raise ConfigError(f"{f.name}: {value!r} is not one of {', '.join(choices)}")
    if not 0 <= s.port <= 65535:
        raise ConfigError(f"port: {s.port} is not between 0 and 65535")
    if not 1 <= s.workers <= MAX_WORKERS:
        raise ConfigError(f"workers: {s.workers} is not between 1 and {MAX_WORKERS} (or auto)")
    for name in (
        "ping_interval",
        "ping_timeout",
        "connect_timeout",
        "shutdown_grace",
        "presence_refresh",
        "keepalive_timeout",
        "body_timeout",
    ):
        if getattr(s, name) <= 0:
            raise ConfigError(f"{name}: must be a positive number of seconds")
    if s.max_payload < 1024:
        raise ConfigError(f"max_payload: {s.max_payload} is below the minimum of 1024 bytes")
    if not re.fullmatch(r"[A-Za-z0-9_.:{}-]{1,64}", s.redis_prefix):
        raise ConfigError(f"redis_prefix: {s.redis_prefix!r} must be 1-64 of A-Za-z0-9_.:-{{}}")
    if s.manager == "redis" and not s.redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"redis_url: {s.redis_url!r} is not a redis://, rediss:// or unix:// URL")
    _validate_sentinel(s)
    if not s.transports:
        raise ConfigError("transports: at least one transport is required")
    for namespace, target in s.namespaces.items():
        if not NAMESPACE_PATTERN.match(namespace):
            raise ConfigError(
                f"namespaces: {namespace!r} is not a namespace path like '/orders' or '/team/*'"
                + misplaced(namespace, "namespaces")
            )
        if not isinstance(target, str) or not HANDLER_PATH.match(target):
            raise ConfigError(
                f"namespaces.{namespace}: {target!r} is not a 'package.module:Class' path"
            )
    _validate_security(s)
    _validate_recovery(s)
    _validate_observing(s)


def _validate_sentinel(s: Settings) -> None:
    for address in s.redis_sentinels:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) <= 65535:
            raise ConfigError(f"redis_sentinels: {address!r} is not a host:port")
    if s.redis_sentinels and s.redis_url.startswith("unix://"):
        raise ConfigError("redis_url: a unix:// URL cannot name Sentinel's primary; use redis://")
    if s.redis_sentinels and not s.redis_sentinel_service:
        raise ConfigError("redis_sentinel_service: required with redis_sentinels")
    if not s.redis_sentinels:
        for name in ("redis_sentinel_service", "redis_sentinel_password"):
            if getattr(s, name):
                raise ConfigError(f"{name}: set redis_sentinels too (the Sentinels to ask)")
    if s.redis_sentinel_service and not re.fullmatch(r"[^\s/?#]{1,64}", s.redis_sentinel_service):
        raise ConfigError(
            f"redis_sentinel_service: {s.redis_sentinel_service!r} is not a Sentinel master name"
        )
    if s.redis_cluster and s.redis_sentinels:
        raise ConfigError(
            "redis_cluster: a Redis Cluster fails over by itself; drop redis_sentinels"
        )
    if s.redis_cluster and s.redis_protocol != "socketsvc":
        raise ConfigError(f"redis_cluster: not with redis_protocol = {s.redis_protocol!r}")
    if s.redis_cluster and not re.fullmatch(r"rediss?://[^/]*(/0?)?", s.redis_url):
        raise ConfigError(f"redis_url: {s.redis_url!r}: a Redis Cluster has database 0 only")
    if s.redis_failover_timeout <= 0:
        raise ConfigError("redis_failover_timeout: must be a positive number of seconds")


def _validate_recovery(s: Settings) -> None:
    if s.recovery_window < 0:
        raise ConfigError("recovery_window: must not be negative (0 = off)")
    for namespace, seconds in s.namespace_recovery.items():
        if not NAMESPACE_PATTERN.match(namespace):
            raise ConfigError(
                f"namespace_recovery: {namespace!r} is not a namespace path"
                + misplaced(namespace, "namespace_recovery")
            )
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            raise ConfigError(
                f"namespace_recovery.{namespace}: {seconds!r} is not a number of seconds (0 = off)"
            )
    for name in ("recovery_max_packets", "recovery_max_bytes"):
        if getattr(s, name) < 1:
            raise ConfigError(f"{name}: must be at least 1")
    if s.chat_history < 0:
        raise ConfigError("chat_history: must not be negative (0 = no history)")
    if s.chat_retry_window <= 0:
        raise ConfigError("chat_retry_window: must be a positive number of seconds")


def _validate_observing(s: Settings) -> None:
    if not re.fullmatch(r"[A-Za-z0-9_.:#@-]{0,64}", s.node_id):
        raise ConfigError(f"node_id: {s.node_id!r} must be at most 64 of A-Za-z0-9_.:#@-")
    if not s.admin_ui:
        return
    namespace = s.admin_namespace
    if not NAMESPACE_PATTERN.match(namespace) or "*" in namespace or namespace == "/":
        raise ConfigError(f"admin_namespace: {namespace!r} is not a namespace path like '/admin'")
    if namespace in s.namespaces or (namespace == "/chat" and serves_chat(s)):
        raise ConfigError(f"admin_namespace: {namespace!r} is already served by a handler module")
    if not s.admin_username:
        raise ConfigError("admin_username: must not be empty")
    if not BCRYPT_HASH.match(s.admin_password_hash):
        raise ConfigError(
            "admin_password_hash: admin_ui needs a bcrypt hash ($2b$12$...); "
            "`socketsvc hash-password` makes one"
        )


def _validate_security(s: Settings) -> None:
    for namespace, mode in s.namespace_auth.items():
        if not NAMESPACE_PATTERN.match(namespace):
            raise ConfigError(
                f"namespace_auth: {namespace!r} is not a namespace path"
                + misplaced(namespace, "namespace_auth")
            )
        if mode not in AUTH_MODES:
            raise ConfigError(
                f"namespace_auth.{namespace}: {mode!r} is not one of {', '.join(AUTH_MODES)}"
            )
    keys = [k for k in ("jwt_secret", "jwt_public_key_file", "jwt_jwks_file") if getattr(s, k)]
    if len(keys) > 1:
        raise ConfigError(
            f"{keys[1]}: set only one of jwt_secret, jwt_public_key_file, jwt_jwks_file"
        )
    uses_auth = s.auth != "none" or any(m != "none" for m in s.namespace_auth.values())
    if uses_auth and not keys:
        raise ConfigError(
            "auth: tokens need a key: set jwt_secret, jwt_public_key_file or jwt_jwks_file"
        )
    if s.jwt_leeway < 0:
        raise ConfigError("jwt_leeway: must not be negative")
    if s.token_refresh_notice < 0:
        raise ConfigError("token_refresh_notice: must not be negative (0 = no notice)")
    if s.revoked_hook and not HANDLER_PATH.match(s.revoked_hook):
        raise ConfigError(
            f"revoked_hook: {s.revoked_hook!r} is not a 'package.module:function' path"
        )
    for name in (
        "max_connections_per_ip",
        "max_namespaces_per_connection",
        "max_rooms_per_connection",
        "rate_limit_burst",
    ):
        if getattr(s, name) < 0:
            raise ConfigError(f"{name}: must not be negative (0 = unlimited)")
    if s.rate_limit_events < 0:
        raise ConfigError("rate_limit_events: must not be negative (0 = off)")
    if s.rate_limit_events > 0 and s.rate_limit_burst < 1:
        raise ConfigError("rate_limit_burst: must be at least 1 when rate_limit_events is on")
    if s.max_buffer_bytes < s.max_payload:
        raise ConfigError(
            f"max_buffer_bytes: {s.max_buffer_bytes} is below max_payload ({s.max_payload})"
        )


FIELDS = {f.name: f for f in dataclasses.fields(Settings)}


def serves_chat(settings: Settings) -> bool:
    """Whether the built-in ``/chat`` runs: ``chat`` when set, else only on the embedded
    defaults (an app that declares its own ``[namespaces]`` opts in with ``chat = true``)."""
    return not settings.namespaces if settings.chat is None else settings.chat


def node_name(settings: Settings) -> str:
    """The node's id in logs, metrics and the Admin UI: ``node_id``, else ``<host>-<pid>``."""
    return settings.node_id or f"{socket.gethostname()}-{os.getpid()}"


def is_table(name: str) -> bool:
    """Whether a setting is a table (``[namespaces]``), which only the TOML file can set."""
    kind = field_type(name)
    return kind is Mapping or typing.get_origin(kind) in (Mapping, dict)


def field_type(name: str) -> Any:
    """The runtime type of a setting, with ``Literal`` reduced to ``str``."""
    hint = typing.get_type_hints(Settings)[name]
    if typing.get_origin(hint) is Literal:
        return str
    if hint == bool | None:  # unset has a meaning of its own (chat)
        return bool
    return hint


def cast(name: str, raw: Any, source: str) -> Any:
    """Turn a raw value from a file, the environment or a flag into the setting's type."""
    kind = field_type(name)
    origin = typing.get_origin(kind)
    auto = FIELDS[name].metadata.get("auto")
    if auto is not None and isinstance(raw, str) and raw.strip().lower() == "auto":
        return auto()
    try:
        if kind is bool:
            return _cast_bool(raw)
        if kind in (int, float):
            if isinstance(raw, bool):
                raise ValueError
            if isinstance(raw, str):
                return kind(raw.strip())
            if kind is int and isinstance(raw, float) and not raw.is_integer():
                raise ValueError
            return kind(raw)
        if kind is str:
            if not isinstance(raw, str):
                raise ValueError
            return raw
        if origin is tuple:
            items = raw.split(",") if isinstance(raw, str) else raw
            if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
                raise ValueError
            return tuple(i.strip() for i in items if i.strip())
        if origin in (Mapping, dict) or kind is Mapping:
            if not isinstance(raw, Mapping):
                raise ValueError
            return dict(raw)
    except (TypeError, ValueError):
        pass
    else:
        raise AssertionError(f"no cast for setting {name}")  # pragma: no cover
    expected = _type_name(kind) + (" or 'auto'" if auto is not None else "")
    raise ConfigError(f"{name}: {raw!r} from {source} is not a valid {expected}")


def _cast_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if isinstance(raw, str) and raw.strip().lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError


def _type_name(kind: Any) -> str:
    origin = typing.get_origin(kind)
    if origin is tuple:
        return "list of strings"
    if origin in (Mapping, dict) or kind is Mapping:
        return "table"
    if isinstance(kind, type | types.GenericAlias):
        return {"int": "integer", "float": "number", "bool": "boolean (true/false)"}.get(
            kind.__name__, kind.__name__
        )
    return str(kind)  # pragma: no cover


def read_file(path: str | Path) -> dict[str, Any]:
    """Settings from a TOML file; unknown keys are errors so typos never pass silently."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"config: cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config: {path} is not valid TOML: {exc}") from None
    values: dict[str, Any] = {}
    for key, raw in data.items():
        if key not in FIELDS:
            tables = [name for name in FIELDS if is_table(name)]
            if isinstance(raw, dict):
                hint = did_you_mean(key, tables, "[{}]")
                raise ConfigError(f"[{key}]: unknown table in {path}{hint}")
            hint = did_you_mean(key, [n for n in FIELDS if n not in tables])
            raise ConfigError(f"{key}: unknown setting in {path}{hint}")
        values[key] = cast(key, raw, str(path))
    return values


def misplaced(key: str, table: str) -> str:
    """The hint for a setting written below a ``[table]`` header, where TOML puts it in the
    table: empty when ``key`` is no setting."""
    if key not in FIELDS:
        return ""
    return f" (`{key}` is a setting: in TOML it belongs above the [{table}] header)"


# Variables of socketsvc's own scripts (scripts/test, scripts/serve), not settings.
SCRIPT_VARIABLES = frozenset({"pythons", "venv"})


def read_env(environ: Mapping[str, str]) -> dict[str, Any]:
    """Settings from ``SOCKETSVC_<NAME>`` variables; unknown ones only warn (shared envs)."""
    values: dict[str, Any] = {}
    for var, raw in environ.items():
        if not var.startswith(ENV_PREFIX) or var == ENV_PREFIX + "CONFIG":
            continue
        key = var[len(ENV_PREFIX) :].lower()
        if key not in FIELDS or is_table(key):
            if not key.startswith("test_") and key not in SCRIPT_VARIABLES:
                names = [ENV_PREFIX + n.upper() for n in FIELDS if not is_table(n)]
                hint = did_you_mean(var, names)
                log.warning("ignoring unknown environment variable %s%s", var, hint)
            continue
        values[key] = cast(key, raw, f"environment variable {var}")
    return values


def load(
    config_file: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Merge every source in precedence order into one validated :class:`Settings`.

    ``config_file`` falls back to ``$SOCKETSVC_CONFIG``; ``overrides`` are the values given as
    command-line flags (already typed). Any bad value raises :class:`ConfigError` naming it.
    """
    environ = os.environ if environ is None else environ
    config_file = config_file or environ.get(ENV_PREFIX + "CONFIG") or None
    values: dict[str, Any] = {}
    here = Path(config_file).resolve().parent if config_file else None
    if config_file and here is not None:
        values.update(read_file(config_file))
        # In the file, a relative handler_path is relative to the file.
        values["handler_path"] = tuple(str(here / p) for p in values.get("handler_path", ()))
    values.update(read_env(environ))
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    # From the environment or a flag, relative to the working directory.
    values["handler_path"] = tuple(os.path.abspath(p) for p in values.get("handler_path", ()))
    if here is not None:
        # Handler modules beside the config file are found however socketsvc was started.
        values["handler_path"] = (*values["handler_path"], str(here))
    return Settings(**values)


def search_path(settings: Settings) -> list[str]:
    """Where handler modules are looked for, before the installed packages: ``handler_path``
    (which ends with the config file's directory when there is one), then the working
    directory."""
    seen: dict[str, None] = {}
    for entry in (*settings.handler_path, os.getcwd()):
        seen.setdefault(os.path.abspath(entry), None)
    return list(seen)
