"""Who is connecting: JWT verification for the Socket.IO connect step.

A client sends ``{"token": "<jwt>"}`` as its Socket.IO auth payload. Each namespace has a mode:

- ``required``: no token is ``unauthorized``; a bad one is ``token_expired`` or ``token_invalid``.
- ``optional``: no token connects anonymously; a bad one is refused just like ``required``
  (a client that sends a token should learn it is bad, not be silently downgraded).
- ``none``: tokens are ignored and every connection is anonymous.

Tokens are checked against exactly one kind of key: an HS256 secret (``jwt_secret``), a PEM
public key (``jwt_public_key_file``, RS256 or ES256) or a JWKS file (``jwt_jwks_file``, the
token's ``kid`` picks the key; a ``kid`` not in the set has the file read again if it changed,
at most once a second, so keys rotate without a restart). The algorithm is fixed by the key,
never taken from the token, so a token cannot switch an RSA key into an HMAC secret. ``exp``
is required; ``nbf``, ``iat``, and ``aud``/``iss`` (when configured) are checked with
``jwt_leeway`` seconds of skew. A live connection's token can be replaced by a newer one of the
same subject (:meth:`Authenticator.reauthenticate`, for ``auth:refresh``).

Any problem with the key material is a :class:`ConfigError` naming the setting, at start-up
(and a warning, keeping the keys loaded before, when a rotated JWKS file is unusable).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from socketsvc import errors
from socketsvc.config import Settings
from socketsvc.errors import ConfigError

log = logging.getLogger("socketsvc.security")

MAX_TOKEN_LENGTH = 8192
RECHECK_SECONDS = 1.0  # how often an unknown kid may have the JWKS file looked at again
MIN_SECRET_BYTES = 32  # RFC 7518 3.2: an HS256 key must be at least as long as the hash

MESSAGES = {
    errors.UNAUTHORIZED: "authentication required",
    errors.TOKEN_EXPIRED: "token expired",
    errors.TOKEN_INVALID: "token invalid",
    errors.TOKEN_REVOKED: "token revoked",
    errors.TOKEN_SUBJECT_CHANGED: "a refreshed token must have the connection's subject",
    errors.AUTH_NOT_REQUIRED: "this namespace takes no token",
}


class AuthRefused(Exception):
    """The connect is refused; ``refusal`` is the CONNECT_ERROR payload stock clients read."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code

    @property
    def refusal(self) -> dict[str, Any]:
        return {"message": MESSAGES[self.code], "data": {"code": self.code}}

    def to_ack(self) -> dict[str, Any]:
        """The error ack of a refused token refresh: the connect refusal's code and message."""
        return errors.error_ack(self.code, MESSAGES[self.code])


@dataclass(frozen=True)
class Identity:
    """The verified claims of one connection's token (the latest one, after a refresh)."""

    claims: Mapping[str, Any]

    @property
    def subject(self) -> str | None:
        sub = self.claims.get("sub")
        return sub if isinstance(sub, str) and sub else None

    @property
    def expires(self) -> int | None:
        """``exp`` in seconds since the epoch, read as the verifier read it; None without one
        (verified tokens always have one)."""
        exp = self.claims.get("exp")
        try:
            return None if exp is None else int(exp)
        except (TypeError, ValueError, OverflowError):
            return None

    def display_name(self, claim: str) -> str | None:
        """``claim`` if it is a non-empty string, else ``sub``; control characters removed."""
        for value in (self.claims.get(claim), self.subject):
            if isinstance(value, str):
                clean = "".join(ch for ch in value if ch >= " ").strip()[:32]
                if clean:
                    return clean
        return None

    def listed(self, claim: str, value: str) -> bool:
        """Whether the list (or space-separated string) claim ``claim`` contains ``value``."""
        items = self.claims.get(claim)
        if isinstance(items, str):
            items = items.split()
        return isinstance(items, list) and value in items


Keys = dict[str | None, tuple[Any, str]]  # kid (None = the only key) -> (key, algorithm)


class Verifier:
    """Verifies tokens against the configured key; build with :func:`load_verifier`."""

    def __init__(
        self, keys: Keys, settings: Settings, reload: Callable[[], Keys] | None = None
    ) -> None:
        """``reload``: read the key file again (a JWKS, which rotates); None for fixed keys."""
        self._keys = keys
        self._audience = settings.jwt_audience or None
        self._issuer = settings.jwt_issuer or None
        self._leeway = settings.jwt_leeway
        self._reload = reload
        self._source = settings.jwt_jwks_file
        self._stamp = _stamp(self._source) if reload is not None else None
        self._checked = float("-inf")  # when the file was last looked at for a new kid

    def verify(self, token: Any) -> Identity:
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
            raise AuthRefused(errors.TOKEN_INVALID)
        try:
            key, algorithm = self._key_for(jwt.get_unverified_header(token))
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": ["exp"], "verify_aud": self._audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise AuthRefused(errors.TOKEN_EXPIRED) from None
        except (jwt.PyJWTError, ValueError, TypeError):
            raise AuthRefused(errors.TOKEN_INVALID) from None
        return Identity(claims)

    def _key_for(self, header: Mapping[str, Any]) -> tuple[Any, str]:
        kid = header.get("kid")
        found = self._lookup(kid)
        if found is None and self._reread():
            found = self._lookup(kid)
        if found is None:
            raise jwt.InvalidKeyError("unknown key id")
        return found

    def _lookup(self, kid: Any) -> tuple[Any, str] | None:
        if kid in self._keys:
            return self._keys[kid]
        if len(self._keys) == 1 and (kid is None or None in self._keys):
            return next(iter(self._keys.values()))
        return None

    def _reread(self) -> bool:
        """A ``kid`` the set lacks: the JWKS file may have been rotated. Read it again if it
        changed (at most once a second); a file that became unusable keeps the old keys."""
        now = time.monotonic()
        if self._reload is None or now - self._checked < RECHECK_SECONDS:
            return False
        self._checked = now
        stamp = _stamp(self._source)
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            keys = self._reload()
        except ConfigError as exc:
            log.warning("keeping the JWKS keys loaded before: %s", exc)
            return False
        log.info("jwt_jwks_file: %s changed: %d key(s) now", self._source, len(keys))
        self._keys = keys
        return True


def _stamp(path: str) -> tuple[int, int, int] | None:
    """What tells a changed file: inode, size and modification time (None: unreadable)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def load_verifier(settings: Settings) -> Verifier | None:
    """The verifier for the configured key, or None when no key is configured."""
    if settings.jwt_secret:
        load = _secret
    elif settings.jwt_public_key_file:
        load = _pem
    elif settings.jwt_jwks_file:
        load = _jwks
    else:
        if settings.jwt_algorithms:
            raise ConfigError("jwt_algorithms: set but no jwt_secret/public key/JWKS is configured")
        return None

    def checked() -> Keys:
        keys = load(settings)
        wanted = set(settings.jwt_algorithms)
        offered = {alg for _, alg in keys.values()}
        if wanted and not offered <= wanted:
            raise ConfigError(
                f"jwt_algorithms: {', '.join(sorted(wanted))} does not match the configured key "
                f"({', '.join(sorted(offered))})"
            )
        return keys

    return Verifier(checked(), settings, checked if load is _jwks else None)


def _secret(settings: Settings) -> Keys:
    if len(settings.jwt_secret.encode()) < MIN_SECRET_BYTES:
        raise ConfigError(f"jwt_secret: must be at least {MIN_SECRET_BYTES} bytes long")
    return {None: (settings.jwt_secret, "HS256")}


def _read(setting: str, path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(1_000_000)
    except OSError as exc:
        raise ConfigError(f"{setting}: cannot read {path}: {exc.strerror}") from None


def _pem(settings: Settings) -> Keys:
    setting = "jwt_public_key_file"
    data = _read(setting, settings.jwt_public_key_file)
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        raise ConfigError(
            f"{setting}: {settings.jwt_public_key_file} is not a PEM public key"
        ) from None
    return {None: (key, _algorithm_of(setting, key))}


def _algorithm_of(setting: str, key: Any) -> str:
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise ConfigError(f"{setting}: RSA keys must have at least 2048 bits")
        return "RS256"
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return "ES256"
    raise ConfigError(f"{setting}: only RSA (RS256) and EC P-256 (ES256) public keys are supported")


def _jwks(settings: Settings) -> Keys:
    setting = "jwt_jwks_file"
    data = _read(setting, settings.jwt_jwks_file)
    try:
        document = json.loads(data)
        entries = document["keys"]
        if not isinstance(entries, list) or not entries:
            raise ValueError
    except (ValueError, KeyError, TypeError):
        raise ConfigError(
            f"{setting}: {settings.jwt_jwks_file} is not a JWKS document with a 'keys' list"
        ) from None
    keys: Keys = {}
    for index, entry in enumerate(entries):
        where = f"{setting}: key {index}"
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        if entry.get("kty") == "oct" or "d" in entry:
            raise ConfigError(f"{where} is secret material; publish public keys only")
        try:
            jwk = jwt.PyJWK.from_dict(entry)
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError, KeyError) as exc:
            raise ConfigError(f"{where} is not a usable key: {exc}") from None
        algorithm = _algorithm_of(where, jwk.key)
        if entry.get("alg", algorithm) != algorithm:
            raise ConfigError(f"{where}: alg {entry['alg']!r} does not match its key type")
        kid = entry.get("kid")
        if not isinstance(kid, str) and len(entries) > 1:
            raise ConfigError(f"{where} has no 'kid' (needed when the set has several keys)")
        if kid in keys:
            raise ConfigError(f"{where}: duplicate kid {kid!r}")
        keys[kid] = (jwk.key, algorithm)
    if not keys:
        raise ConfigError(f"{setting}: no signing keys in {settings.jwt_jwks_file}")
    return keys


class AuthModes:
    """Which auth mode (required, optional, none) each namespace has; also what the published
    contract (``socketsvc contract``) reads, without loading any key."""

    def __init__(self, settings: Settings) -> None:
        self.default = settings.auth
        self.table = dict(settings.namespace_auth)
        if settings.admin_ui:  # the Admin UI sends a user and password, checked by its namespace
            self.table[settings.admin_namespace] = "none"

    def mode(self, namespace: str) -> str:
        """Exact entry, then a ``/prefix/*`` pattern entry, then the ``auth`` default."""
        if namespace in self.table:
            return self.table[namespace]
        for pattern, mode in self.table.items():
            if pattern.endswith("/*"):
                prefix = pattern[:-1]
                rest = namespace[len(prefix) :]
                if namespace.startswith(prefix) and rest and "/" not in rest:
                    return mode
        return self.default


class Authenticator(AuthModes):
    """Decides each connect by namespace mode; the only auth step on the connect path."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.verifier = load_verifier(settings)

    def authenticate(self, namespace: str, auth: Any) -> Identity | None:
        """The connection's identity (None = anonymous), or raise :class:`AuthRefused`."""
        mode = self.mode(namespace)
        if mode == "none":
            return None
        token = auth.get("token") if isinstance(auth, dict) else None
        if token is None or token == "":
            if mode == "required":
                raise AuthRefused(errors.UNAUTHORIZED)
            return None
        assert self.verifier is not None  # config validation guarantees a key
        return self.verifier.verify(token)

    def reauthenticate(self, namespace: str, current: Identity | None, token: Any) -> Identity:
        """The identity of the token a live connection sends to replace its own
        (``auth:refresh``), or raise :class:`AuthRefused`: ``auth_not_required`` where the
        namespace takes no token; the connect refusals for the token itself, checked as at
        connect; ``token_subject_changed`` for another ``sub``, or for an anonymous connection
        (a connection does not change who it is; it reconnects as someone else)."""
        if self.mode(namespace) == "none":
            raise AuthRefused(errors.AUTH_NOT_REQUIRED)
        if token is None or token == "":
            raise AuthRefused(errors.UNAUTHORIZED)
        assert self.verifier is not None  # config validation guarantees a key
        identity = self.verifier.verify(token)
        if current is None or identity.claims.get("sub") != current.claims.get("sub"):
            raise AuthRefused(errors.TOKEN_SUBJECT_CHANGED)
        return identity
