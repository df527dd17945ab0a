"""The checks of a whole set of settings, run as :class:`~.settings.Settings` is built: the first
bad one raises :class:`ConfigError` naming the setting (the CLI exits with status 2 on it).
A value of the wrong type never gets here: sources.py's ``cast`` names it first.
"""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING

from socketsvc.errors import ConfigError

from .choices import AUTH_MODES
from .derived import serves_chat

if TYPE_CHECKING:
    from .settings import Settings

NAMESPACE_PATTERN = re.compile(r"^/(?:[A-Za-z0-9_.~-]+(?:/[A-Za-z0-9_.~-]+)*(?:/\*)?|\*)?$")
HANDLER_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
# bcrypt as the Admin UI's own server takes it: $2a$/$2b$/$2y$, cost, 22 + 31 characters
BCRYPT_HASH = re.compile(r"^\$2[aby]\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}$")
MAX_WORKERS = 256


def validate(s: Settings) -> None:
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
                + misplaced(namespace, "namespaces", s)
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
                + misplaced(namespace, "namespace_recovery", s)
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
                + misplaced(namespace, "namespace_auth", s)
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


def misplaced(key: str, table: str, settings: Settings) -> str:
    """The hint for a setting written below a ``[table]`` header, where TOML puts it in the
    table: empty when ``key`` is no setting."""
    if key not in {f.name for f in dataclasses.fields(settings)}:
        return ""
    return f" (`{key}` is a setting: in TOML it belongs above the [{table}] header)"
