"""Bus API tokens: JWT HS256 verified with pyjwt (BUS.md §2.3).

A token is issued for a subject with space-separated scopes and an expiry, and verified
against the shared secret and the audience::

    token = issue_token(secret, subject="alice", scopes=["events:send"], ttl_seconds=3600)
    claims = TokenVerifier(secret).verify(token)  # TokenClaims(sub="alice", ...)

Only HS256 is accepted, so an unsigned token (``alg: none``) or one signed with another
algorithm fails like a wrong signature. ``exp``, ``iat`` and ``sub`` are required; the
audience defaults to BusDK's documented ``ai.hg.fi/api``. Times are checked against the
verifier's own clock (pyjwt reads the wall clock), with a few seconds of leeway for
machines whose clocks differ a little.

An :class:`InvalidToken` says what is wrong in words of its own: it never carries the
token, the secret or pyjwt's message (which may quote parts of the token).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, Final

import jwt
import msgspec

from contracts.events import DEFAULT_AUDIENCE, TokenClaims
from contracts.inference import BRIDGE_IDENTITY

__all__ = [
    "ALGORITHM",
    "DEFAULT_AUDIENCE",
    "LEEWAY_SECONDS",
    "MIN_SECRET_BYTES",
    "InvalidToken",
    "TokenClaims",
    "TokenVerifier",
    "issue_token",
]

ALGORITHM: Final = "HS256"
LEEWAY_SECONDS: Final = 5.0
"""How far a token's times may be off the verifier's clock (small clock skew)."""
MIN_SECRET_BYTES: Final = 32
"""RFC 7518 §3.2: an HS256 key must be at least as long as the hash (256 bits)."""
MAX_TOKEN_CHARS: Final = 8192
"""A longer bearer is refused before it is decoded."""

_REQUIRED: Final = ["exp", "iat", "sub"]
_RESERVED: Final = (
    f"the subject {BRIDGE_IDENTITY!r} is the inference bridge's own: no token speaks for it"
)


class InvalidToken(Exception):
    """A bearer token that does not verify; the message is safe to show the client."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


CHECKED_TOKENS = 4096
"""How many distinct tokens a verifier remembers as signed and well-formed."""


def _check_secret(secret: bytes) -> None:
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"the token secret must be at least {MIN_SECRET_BYTES} bytes")


class TokenVerifier:
    """Verifies Bus API tokens signed with ``secret`` for ``audience``.

    ``clock`` gives the current Unix time (tests pass a fixed one); ``leeway_seconds``
    is how far ``exp``, ``iat`` and ``nbf`` may be off it.
    """

    def __init__(
        self,
        secret: bytes,
        audience: str = DEFAULT_AUDIENCE,
        clock: Callable[[], float] = time.time,
        *,
        leeway_seconds: float = LEEWAY_SECONDS,
    ) -> None:
        _check_secret(secret)
        if not audience:
            raise ValueError("the audience must not be empty")
        if not 0 <= leeway_seconds <= 300:
            raise ValueError("leeway_seconds must be between 0 and 300")
        self._secret = secret
        self.audience = audience
        self._clock = clock
        self._leeway = leeway_seconds
        # Signature, audience and claim shapes of a token never change: they are checked
        # once per token; its times are checked on every use (a cached token expires).
        self._checked: dict[str, tuple[TokenClaims, object]] = {}

    def __repr__(self) -> str:  # never the secret
        return f"TokenVerifier(audience={self.audience!r})"

    def verify(self, token: str) -> TokenClaims:
        """The claims of a valid ``token``; raises :class:`InvalidToken` otherwise."""
        if not token or len(token) > MAX_TOKEN_CHARS:
            raise InvalidToken("the bearer token is not a JWT")
        checked = self._checked.get(token)
        if checked is None:
            payload = self._decode(token)
            try:
                claims = msgspec.convert(payload, TokenClaims)
            except msgspec.ValidationError as error:
                # msgspec names the claim and the expected type, never the value.
                raise InvalidToken(f"the token's claims are malformed: {error}") from None
            if claims.sub == BRIDGE_IDENTITY:
                raise InvalidToken(_RESERVED)
            checked = (claims, payload.get("nbf"))
            if len(self._checked) >= CHECKED_TOKENS:
                self._checked.clear()  # a bounded memory; a busy server re-checks, no more
            self._checked[token] = checked
        self._check_times(*checked)
        return checked[0]

    def _decode(self, token: str) -> dict[str, Any]:
        try:
            payload: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=self.audience,
                options={
                    "require": _REQUIRED,
                    # Times are checked against self._clock below.
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.MissingRequiredClaimError as error:
            raise InvalidToken(f"the token has no {error.claim} claim") from None
        except jwt.InvalidAudienceError:
            raise InvalidToken("the token is not for this audience") from None
        except jwt.InvalidAlgorithmError:
            raise InvalidToken(f"the token is not signed with {ALGORITHM}") from None
        except jwt.InvalidSignatureError:
            raise InvalidToken("the token's signature does not verify") from None
        except jwt.PyJWTError:
            raise InvalidToken("the bearer token is not a valid JWT") from None
        return payload

    def _check_times(self, claims: TokenClaims, nbf: object) -> None:
        now = self._clock()
        if claims.exp <= now - self._leeway:
            raise InvalidToken("the token has expired")
        if claims.iat > now + self._leeway:
            raise InvalidToken("the token was issued in the future")
        if nbf is not None:
            if not isinstance(nbf, int | float) or isinstance(nbf, bool):
                raise InvalidToken("the token's nbf claim is not a number")
            if nbf > now + self._leeway:
                raise InvalidToken("the token is not valid yet")


def issue_token(
    secret: bytes,
    *,
    subject: str,
    scopes: Iterable[str] | str,
    ttl_seconds: float,
    audience: str = DEFAULT_AUDIENCE,
    now: float | None = None,
) -> str:
    """A signed HS256 token for ``subject`` with ``scopes``, valid for ``ttl_seconds``.

    ``scopes`` is a list of scope names or one string of them separated by ASCII spaces
    (the claim's own syntax); a name holding any other whitespace is refused, since the
    claim could not carry it.
    """
    _check_secret(secret)
    if not subject:
        raise ValueError("the subject must not be empty")
    if subject == BRIDGE_IDENTITY:
        raise ValueError(_RESERVED)
    if not ttl_seconds > 0:
        raise ValueError("ttl_seconds must be positive")
    names = [n for n in scopes.split(" ") if n] if isinstance(scopes, str) else list(scopes)
    if any(not name or any(c.isspace() for c in name) for name in names):
        raise ValueError("a scope name must be non-empty and hold no whitespace")
    issued = time.time() if now is None else now
    claims = {
        "sub": subject,
        "aud": audience,
        "scope": " ".join(names),
        "iat": int(issued),
        "exp": int(issued + ttl_seconds),
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)
