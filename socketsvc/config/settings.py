"""The settings: one field of :class:`Settings` per setting, with its default, its one-line
doc and, for a choice, the values it may take. The CLI flags, the environment variables and
the file keys (sources.py) are all derived from these fields, so a new setting is added in
exactly one place; checks.py checks a whole set of them once it is built.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .checks import validate
from .choices import (
    AUTH_MODES,
    DEFAULT_PREFIXES,
    JWT_ALGORITHMS,
    LOG_FORMATS,
    LOG_LEVELS,
    MANAGERS,
    REDIS_PROTOCOLS,
    SERIALIZERS,
    TRANSPORTS,
)
from .derived import cores


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
        validate(self)


FIELDS = {f.name: f for f in dataclasses.fields(Settings)}
