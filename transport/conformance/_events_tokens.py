"""The tokens ``asm conformance events`` is given: what each may do, and how to spoil one.

The harness never holds the server's secret, so it learns a token's subject and scopes
by reading its claims unverified, and asks :func:`contracts.events.authorize` what the
contract says that token may do::

    grant = TokenGrant.of(token)
    grant.may("bus.inference.install.x", "publish")   # False without inference:admin

Nothing here puts a token's text in an error message: a bad line of a token file is
named by its number only.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import jwt

from contracts.events import Action, authorize

__all__ = ["TokenGrant", "read_token_file", "secret_parts", "tampered"]

OTHER_SECRET: Final = b"conformance-harness-not-the-servers-secret-0123456789"


@dataclass(frozen=True)
class TokenGrant:
    """A bearer token and its unverified ``sub`` and ``scope`` claims."""

    token: str
    subject: str
    scope: str

    @classmethod
    def of(cls, token: str) -> TokenGrant:
        """Read ``token``'s claims without verifying it; ValueError unless a JWT with a
        string ``sub``."""
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise ValueError("not a JWT (header.payload.signature)") from None
        subject, scope = claims.get("sub"), claims.get("scope", "")
        if not isinstance(subject, str) or not subject:
            raise ValueError("the token has no sub claim")
        if not isinstance(scope, str):
            raise ValueError("the token's scope claim is not a string")
        return cls(token, subject, scope)

    def may(self, target: str, action: Action) -> bool:
        """Whether the contract lets this token ``action`` the name or pattern ``target``."""
        return authorize(target, action, self.scope).allowed

    def describe(self) -> str:
        """How the table names this token: by its claims, never its text."""
        return f"sub {self.subject!r}, scope {self.scope!r}"

    def __repr__(self) -> str:  # never the token
        return f"TokenGrant({self.describe()})"


def read_token_file(path: Path) -> list[str]:
    """The tokens of ``path``: one JWT per non-blank line, ``#`` starting a comment.

    Raises ValueError naming the file and line (never the line's text) when the file
    cannot be read, a line is not a JWT, or it holds no token at all.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "it is not UTF-8 text"
        raise ValueError(f"cannot read the token file {path}: {reason}") from None
    tokens: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        candidate = line.split("#", 1)[0].strip()
        if not candidate:
            continue
        if any(character.isspace() for character in candidate):
            raise ValueError(f"{path}, line {number}: one token per line, nothing else")
        try:
            TokenGrant.of(candidate)
        except ValueError as error:
            raise ValueError(f"{path}, line {number}: {error}") from None
        tokens.append(candidate)
    if not tokens:
        raise ValueError(f"{path} holds no token (one JWT per line, '#' for comments)")
    return tokens


def secret_parts(token: str) -> tuple[str, ...]:
    """What the table must never show of ``token``: all of it, and its signature."""
    signature = token.rsplit(".", 1)[-1]
    return (token, signature) if len(signature) >= 16 else (token,)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not base64url") from None


def _segment(value: dict[str, Any]) -> str:
    return _b64(json.dumps(value, separators=(",", ":")).encode())


def tampered(token: str, how: str) -> str:
    """``token`` spoiled in the way ``how`` (one of ``TAMPERINGS``) names."""
    header_part, payload_part, signature = token.split(".")
    claims = json.loads(_unb64(payload_part))
    match how:
        case "signature_altered":
            # The first character: all six of its bits are in the signature (the last
            # character's low bits are padding, and changing them may change nothing).
            first = "B" if signature[:1] != "B" else "C"
            return f"{header_part}.{payload_part}.{first}{signature[1:]}"
        case "signature_dropped":
            return f"{header_part}.{payload_part}."
        case "subject_altered":
            claims["sub"] = f"{claims.get('sub', '')}-not"
        case "scope_widened":
            claims["scope"] = "events:send events:listen inference:admin inference:read"
        case "expiry_extended":
            exp = claims.get("exp")
            claims["exp"] = (exp if isinstance(exp, int) else 0) + 86_400
        case "audience_altered":
            claims["aud"] = "not-the-bus-audience"
        case "alg_none":
            none = {"alg": "none", "typ": "JWT"}
            return f"{_segment(none)}.{payload_part}."
        case "signed_with_another_secret":
            return jwt.encode(claims, OTHER_SECRET, algorithm="HS256")
        case _:
            raise ValueError(f"unknown tampering {how!r}")
    altered = _segment(claims)
    if altered == payload_part:  # the change was no change (the scope was already all)
        altered = _segment(claims | {"jti": "conformance-tampered"})
    return f"{header_part}.{altered}.{signature}"
