"""RS256 JSON Web Tokens with the standard library only, for the test identity parts.

Signing and verification follow RFC 7518 section 3.3 (RSASSA-PKCS1-v1_5 with SHA-256, RFC 8017 section 8.2 and
the EMSA-PKCS1-v1_5 encoding of 9.2); keys are published as RFC 7517 JWKs. Key generation uses Miller-Rabin primes
from `secrets`, enough for tests, not for production.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any, Optional

# DigestInfo prefix of SHA-256 (RFC 8017 section 9.2, note 1).
_SHA256_PREFIX = bytes.fromhex("3031300d060960864801650304020105000420")
_SMALL_PRIMES = [p for p in range(3, 2000, 2) if all(p % d for d in range(3, int(p**0.5) + 1, 2))]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _int_b64(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def _probable_prime(n: int, rounds: int = 40) -> bool:
    if any(n % p == 0 for p in _SMALL_PRIMES):
        return n in _SMALL_PRIMES
    d, r = n - 1, 0
    while d % 2 == 0:
        d, r = d // 2, r + 1
    for _ in range(rounds):
        x = pow(secrets.randbelow(n - 3) + 2, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime(bits: int) -> int:
    for _ in range(100_000):  # bounded; a 1024-bit prime turns up within a few hundred tries
        candidate = secrets.randbits(bits) | (1 << (bits - 1)) | (1 << (bits - 2)) | 1
        if _probable_prime(candidate):
            return candidate
    raise RuntimeError("no prime found")


@dataclass(frozen=True)
class RsaKey:
    kid: str
    n: int
    e: int
    d: int

    @classmethod
    def generate(cls, kid: str, bits: int = 2048) -> RsaKey:
        e = 65537
        for _ in range(100):
            p, q = _prime(bits // 2), _prime(bits // 2)
            phi = (p - 1) * (q - 1)
            if p != q and phi % e and (p * q).bit_length() == bits:
                return cls(kid, p * q, e, pow(e, -1, phi))
        raise RuntimeError("no RSA key found")

    @property
    def size(self) -> int:
        return (self.n.bit_length() + 7) // 8

    def jwk(self) -> dict[str, str]:
        return {
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.kid,
            "n": _int_b64(self.n),
            "e": _int_b64(self.e),
        }

    def sign(self, claims: dict[str, Any]) -> str:
        header = {"alg": "RS256", "typ": "JWT", "kid": self.kid}
        signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
        encoded = _emsa(signing_input.encode(), self.size)
        signature = pow(int.from_bytes(encoded, "big"), self.d, self.n).to_bytes(self.size, "big")
        return f"{signing_input}.{b64url(signature)}"


def _emsa(message: bytes, size: int) -> bytes:
    digest_info = _SHA256_PREFIX + hashlib.sha256(message).digest()
    return b"\x00\x01" + b"\xff" * (size - len(digest_info) - 3) + b"\x00" + digest_info


class InvalidToken(Exception):
    """Why a JWT was refused, in words a 401 body can carry."""


def verify(
    token: str,
    jwks: dict[str, Any],
    *,
    issuers: list[str],
    audience: str,
    now: Optional[float] = None,
) -> dict[str, Any]:
    """The token's claims, once its RS256 signature (against `jwks`), iss, aud, exp and nbf check out."""
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken("not a JWT")
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
        signature = int.from_bytes(b64url_decode(parts[2]), "big")
    except ValueError:
        raise InvalidToken("malformed JWT") from None
    if header.get("alg") != "RS256":
        raise InvalidToken(f"alg {header.get('alg')!r} is not RS256")
    keys = [k for k in jwks.get("keys", []) if k.get("kty") == "RSA" and k.get("kid") in (header.get("kid"), None)]
    if not keys:
        raise InvalidToken(f"no key {header.get('kid')!r} in the issuer's JWKS")
    if not any(_signature_ok(f"{parts[0]}.{parts[1]}".encode(), signature, key) for key in keys):
        raise InvalidToken("bad signature")
    if claims.get("iss") not in issuers:
        raise InvalidToken(f"issuer {claims.get('iss')!r} is not trusted")
    aud = claims.get("aud")
    if audience not in (aud if isinstance(aud, list) else [aud]):
        raise InvalidToken(f"audience {aud!r} is not {audience!r}")
    current = time.time() if now is None else now
    if not isinstance(claims.get("exp"), (int, float)) or current >= claims["exp"]:
        raise InvalidToken("token expired")
    if isinstance(claims.get("nbf"), (int, float)) and current < claims["nbf"]:
        raise InvalidToken("token not yet valid")
    return claims


def _signature_ok(message: bytes, signature: int, jwk: dict[str, Any]) -> bool:
    n = int.from_bytes(b64url_decode(jwk["n"]), "big")
    e = int.from_bytes(b64url_decode(jwk["e"]), "big")
    size = (n.bit_length() + 7) // 8
    if signature >= n:
        return False
    return pow(signature, e, n).to_bytes(size, "big") == _emsa(message, size)


def unverified_claims(token: str) -> dict[str, Any]:
    try:
        document = json.loads(b64url_decode(token.split(".")[1]))
    except (IndexError, ValueError):
        return {}
    return document if isinstance(document, dict) else {}
