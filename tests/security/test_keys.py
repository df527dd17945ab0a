"""Key material and token rules of security/auth.py, checked without a server.

Each refusal of a key is a start-up error whose whole line is checked: it names the setting
(and the key within a JWKS) and says what is wrong. Each accepted key is shown to verify a
token, so that a rule cannot refuse or accept by accident."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from socketsvc.config import Settings
from socketsvc.errors import ConfigError
from socketsvc.security.auth import (
    MAX_TOKEN_LENGTH,
    Authenticator,
    AuthRefused,
    Identity,
    Verifier,
    load_verifier,
)
from tests.security.conftest import SECRET


@pytest.fixture(scope="module")
def rsa_key() -> Any:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> Any:
    return ec.generate_private_key(ec.SECP256R1())


def signed(key: Any, algorithm: str, kid: str | None = None, **claims: Any) -> str:
    body = {"sub": "u-1", "exp": int(time.time()) + 300, **claims}
    return jwt.encode(body, key, algorithm=algorithm, headers={"kid": kid} if kid else None)


def verifier(**values: Any) -> Verifier:
    loaded = load_verifier(Settings(**values))
    assert loaded is not None
    return loaded


def refusal(**values: Any) -> str:
    with pytest.raises(ConfigError) as info:
        load_verifier(Settings(**values))
    return str(info.value)


def jwk(key: Any, **extra: Any) -> dict[str, Any]:
    public = key.public_key()
    algorithm = jwt.algorithms.RSAAlgorithm if isinstance(public, rsa.RSAPublicKey) else None
    text = (algorithm or jwt.algorithms.ECAlgorithm).to_jwk(public)
    return {**json.loads(text), **extra}


def jwks_file(tmp_path: Path, keys: Any, name: str = "jwks.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps({"keys": keys}))
    return str(path)


def pem_file(tmp_path: Path, key: Any) -> str:
    path = tmp_path / "key.pem"
    path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return str(path)


# -- HS256 secrets and jwt_algorithms ------------------------------------------------------------
def test_a_secret_needs_32_bytes() -> None:
    assert refusal(jwt_secret="s" * 31) == "jwt_secret: must be at least 32 bytes long"
    assert verifier(jwt_secret="s" * 32).verify(signed("s" * 32, "HS256")).subject == "u-1"
    # bytes, not characters: 16 two-byte characters are 32 bytes, 31 bytes are too few
    assert verifier(jwt_secret="é" * 16).verify(signed("é" * 16, "HS256")).subject == "u-1"
    assert refusal(jwt_secret="é" * 15 + "s") == "jwt_secret: must be at least 32 bytes long"


def test_jwt_algorithms_must_name_the_keys_algorithm() -> None:
    assert verifier(jwt_secret=SECRET, jwt_algorithms=("HS256",)).verify(signed(SECRET, "HS256"))
    assert refusal(jwt_secret=SECRET, jwt_algorithms=("RS256", "ES256")) == (
        "jwt_algorithms: ES256, RS256 does not match the configured key (HS256)"
    )
    assert refusal(jwt_algorithms=("HS256",)) == (
        "jwt_algorithms: set but no jwt_secret/public key/JWKS is configured"
    )


def test_jwt_algorithms_must_cover_every_key_of_a_jwks(
    tmp_path: Path, rsa_key: Any, ec_key: Any
) -> None:
    keys = jwks_file(tmp_path, [jwk(ec_key, kid="e"), jwk(rsa_key, kid="r")])
    assert verifier(jwt_jwks_file=keys, jwt_algorithms=("RS256", "ES256")).verify(
        signed(rsa_key, "RS256", kid="r")
    )
    assert refusal(jwt_jwks_file=keys, jwt_algorithms=("ES256",)) == (
        "jwt_algorithms: ES256 does not match the configured key (ES256, RS256)"
    )


def test_the_only_key_verifies_tokens_whatever_their_kid() -> None:
    only = verifier(jwt_secret=SECRET)
    assert only.verify(signed(SECRET, "HS256", kid="rotated-1")).subject == "u-1"
    assert only.verify(signed(SECRET, "HS256")).subject == "u-1"


def test_token_length_is_bounded() -> None:
    only = verifier(jwt_secret=SECRET)
    base = len(signed(SECRET, "HS256", pad=""))
    guess = (MAX_TOKEN_LENGTH - base) * 3 // 4  # base64: 4 characters per 3 bytes
    candidates = (
        signed(SECRET, "HS256", pad="x" * extra, n=n)  # n's digits fine-tune the length
        for extra in range(guess - 8, guess + 8)
        for n in (1, 10, 100)
    )
    token = next(t for t in candidates if len(t) == MAX_TOKEN_LENGTH)
    assert len(token) == MAX_TOKEN_LENGTH
    assert only.verify(token).subject == "u-1"  # exactly the bound is accepted
    with pytest.raises(AuthRefused) as info:
        only.verify(signed(SECRET, "HS256", pad="x" * MAX_TOKEN_LENGTH))
    assert info.value.code == "token_invalid"


# -- PEM public keys --------------------------------------------------------------------------
def test_pem_keys_of_the_supported_kinds(tmp_path: Path, rsa_key: Any, ec_key: Any) -> None:
    assert verifier(jwt_public_key_file=pem_file(tmp_path, rsa_key)).verify(
        signed(rsa_key, "RS256")
    )
    assert verifier(jwt_public_key_file=pem_file(tmp_path, ec_key)).verify(signed(ec_key, "ES256"))


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (
            lambda: rsa.generate_private_key(public_exponent=65537, key_size=1024),
            "RSA keys must have at least 2048 bits",
        ),
        (
            lambda: ec.generate_private_key(ec.SECP384R1()),
            "only RSA (RS256) and EC P-256 (ES256) public keys are supported",
        ),
        (
            ed25519.Ed25519PrivateKey.generate,
            "only RSA (RS256) and EC P-256 (ES256) public keys are supported",
        ),
    ],
)
def test_pem_keys_of_other_kinds_are_refused(tmp_path: Path, make: Any, problem: str) -> None:
    assert refusal(jwt_public_key_file=pem_file(tmp_path, make())) == (
        f"jwt_public_key_file: {problem}"
    )


# -- JWKS -------------------------------------------------------------------------------------
def test_jwks_skips_encryption_keys_and_entries_that_are_not_keys(
    tmp_path: Path, rsa_key: Any, ec_key: Any
) -> None:
    keys = ["not a key", jwk(rsa_key, kid="enc-1", use="enc"), jwk(ec_key, kid="sig-1")]
    only_signing = verifier(jwt_jwks_file=jwks_file(tmp_path, keys))
    assert only_signing.verify(signed(ec_key, "ES256", kid="sig-1")).subject == "u-1"
    with pytest.raises(AuthRefused):
        only_signing.verify(signed(rsa_key, "RS256", kid="enc-1"))


def test_a_jwks_with_one_key_needs_no_kid(tmp_path: Path, ec_key: Any) -> None:
    one = verifier(jwt_jwks_file=jwks_file(tmp_path, [jwk(ec_key)]))
    assert one.verify(signed(ec_key, "ES256")).subject == "u-1"
    named = verifier(jwt_jwks_file=jwks_file(tmp_path, [jwk(ec_key, kid="k1")], "named.json"))
    assert named.verify(signed(ec_key, "ES256")).subject == "u-1"  # a token without kid
    with pytest.raises(AuthRefused):
        named.verify(signed(ec_key, "ES256", kid="k2"))  # a kid the set does not have


def test_a_jwks_is_read_up_to_one_megabyte(tmp_path: Path, ec_key: Any) -> None:
    text = json.dumps({"keys": [jwk(ec_key)]})
    path = tmp_path / "big.json"
    path.write_text(text[:-1] + " " * (1_000_001 - len(text)) + "}")  # valid only when whole
    assert path.stat().st_size == 1_000_001
    assert refusal(jwt_jwks_file=str(path)) == (
        f"jwt_jwks_file: {path} is not a JWKS document with a 'keys' list"
    )
    path.write_text(text[:-1] + " " * (1_000_000 - len(text)) + "}")
    assert verifier(jwt_jwks_file=str(path)).verify(signed(ec_key, "ES256")).subject == "u-1"


def test_bad_jwks_files_name_the_key_and_the_problem(
    tmp_path: Path, rsa_key: Any, ec_key: Any
) -> None:
    def problem(keys: Any) -> str:
        return refusal(jwt_jwks_file=jwks_file(tmp_path, keys))

    path = tmp_path / "jwks.json"
    private = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key))  # has "d"
    p384 = ec.generate_private_key(ec.SECP384R1())
    assert problem("abc") == f"jwt_jwks_file: {path} is not a JWKS document with a 'keys' list"
    assert problem([]) == f"jwt_jwks_file: {path} is not a JWKS document with a 'keys' list"
    assert problem([{"kty": "oct", "k": "c2VjcmV0"}]) == (
        "jwt_jwks_file: key 0 is secret material; publish public keys only"
    )
    assert problem([jwk(ec_key, kid="a"), private]) == (
        "jwt_jwks_file: key 1 is secret material; publish public keys only"
    )
    assert problem([{"kty": "RSA", "kid": "x"}]).startswith(
        "jwt_jwks_file: key 0 is not a usable key: "
    )
    assert problem([jwk(p384)]) == (
        "jwt_jwks_file: key 0: only RSA (RS256) and EC P-256 (ES256) public keys are supported"
    )
    assert problem([jwk(rsa_key, alg="RS512")]) == (
        "jwt_jwks_file: key 0: alg 'RS512' does not match its key type"
    )
    assert problem([jwk(ec_key, kid="a"), jwk(rsa_key)]) == (
        "jwt_jwks_file: key 1 has no 'kid' (needed when the set has several keys)"
    )
    assert problem([jwk(ec_key, kid="a"), jwk(rsa_key, kid="a")]) == (
        "jwt_jwks_file: key 1: duplicate kid 'a'"
    )
    assert problem([jwk(ec_key, use="enc")]) == f"jwt_jwks_file: no signing keys in {path}"
    missing = tmp_path / "nowhere.json"
    assert refusal(jwt_jwks_file=str(missing)) == (
        f"jwt_jwks_file: cannot read {missing}: No such file or directory"
    )


# -- identities and namespace modes -------------------------------------------------------------
def test_display_names_keep_spaces_lose_control_characters_and_fit_32() -> None:
    assert Identity({"name": "  Ada Lovelace\t"}).display_name("name") == "Ada Lovelace"
    assert Identity({"name": "x" * 40}).display_name("name") == "x" * 32
    assert Identity({"name": "\x00\x1f", "sub": "u-3"}).display_name("name") == "u-3"
    assert Identity({"name": 7, "sub": "u-3"}).display_name("name") == "u-3"
    assert Identity({"name": 7}).display_name("name") is None
    # trimmed, then cut: leading blanks do not eat into the 32 characters
    assert Identity({"name": "\t  " + "y" * 40}).display_name("name") == "y" * 32
    assert Identity({"name": "\x00" * 5 + "z" * 40}).display_name("name") == "z" * 32


def test_only_a_non_empty_string_sub_is_a_subject() -> None:
    """The subject keys a user's retries (``sub:<subject>``): an empty or non-string ``sub``
    is no subject, or every such token would share one user's retries."""
    assert Identity({"sub": "u-1"}).subject == "u-1"
    for sub in ("", 5, None, ["u-1"]):
        assert Identity({"sub": sub}).subject is None, sub
    assert Identity({}).subject is None


def test_the_admin_ui_namespace_has_its_own_login_not_jwt() -> None:
    """With ``admin_ui`` on, the Admin UI namespace is exempt from JWT auth (its users log in
    with the admin password), whatever ``auth`` says for the rest."""
    settings = Settings(
        jwt_secret=SECRET,
        auth="required",
        admin_ui=True,
        admin_password_hash="$2b$04$" + "a" * 53,
        namespace_auth={"/admin": "required"},
    )
    authenticator = Authenticator(settings)
    assert authenticator.mode("/admin") == "none"
    assert authenticator.authenticate("/admin", {"username": "admin"}) is None
    assert authenticator.mode("/chat") == "required"
    assert Authenticator(Settings(jwt_secret=SECRET, auth="required")).mode("/admin") == "required"


@pytest.mark.parametrize(
    ("namespace", "mode"),
    [
        ("/exact", "optional"),
        ("/team/a", "required"),
        ("/team/", "none"),  # nothing after the prefix
        ("/team/a/b", "none"),  # one level only, as pattern namespaces are served
        ("/team", "none"),
        ("/teams", "none"),
        ("/elsewhere", "none"),
    ],
)
def test_namespace_modes_exact_then_pattern_then_default(namespace: str, mode: str) -> None:
    table = {"/team/*": "required", "/exact": "optional"}
    settings = Settings(jwt_secret=SECRET, namespace_auth=table)
    assert Authenticator(settings).mode(namespace) == mode
    required = Settings(jwt_secret=SECRET, auth="required", namespace_auth=table)
    expected = "required" if mode == "none" else mode
    assert Authenticator(required).mode(namespace) == expected


# -- which tokens count as none -----------------------------------------------------------------
@pytest.mark.parametrize("auth", [None, {}, {"token": None}, {"token": ""}, "token", ["token"]])
def test_no_token_is_anonymous_in_optional_mode_and_unauthorized_in_required(auth: Any) -> None:
    table = {"/opt": "optional", "/req": "required"}
    authenticator = Authenticator(Settings(jwt_secret=SECRET, namespace_auth=table))
    assert authenticator.authenticate("/opt", auth) is None
    with pytest.raises(AuthRefused) as info:
        authenticator.authenticate("/req", auth)
    assert info.value.code == "unauthorized"


@pytest.mark.parametrize("token", [0, False, 0.0, [], {}, "x", 42, True])
def test_a_token_that_is_sent_is_checked_even_when_falsy(token: Any) -> None:
    """docs/security.md: a bad token is refused, never silently downgraded to anonymous, in
    optional mode as in required mode; ``0``, ``false``, ``[]`` and ``{}`` are bad tokens, not
    missing ones."""
    table = {"/opt": "optional", "/req": "required", "/off": "none"}
    authenticator = Authenticator(Settings(jwt_secret=SECRET, namespace_auth=table))
    for namespace in ("/opt", "/req"):
        with pytest.raises(AuthRefused) as info:
            authenticator.authenticate(namespace, {"token": token})
        assert info.value.code == "token_invalid", namespace
    assert authenticator.authenticate("/off", {"token": token}) is None
