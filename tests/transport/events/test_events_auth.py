"""Bus API tokens: issuing and verifying JWT HS256 (BUS.md §2.3)."""

from __future__ import annotations

from typing import Any

import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from transport.events import InvalidToken, TokenVerifier, issue_token

SECRET = b"events-auth-test-secret-0123456789abcdef"
OTHER_SECRET = b"another-secret-of-enough-length-0123456789"
NOW = 1_750_000_000.0


def verifier(audience: str = "ai.hg.fi/api", now: float = NOW) -> TokenVerifier:
    return TokenVerifier(SECRET, audience, clock=lambda: now)


def signed(claims: dict[str, Any], secret: bytes = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=algorithm)


def claims(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "sub": "alice",
        "aud": "ai.hg.fi/api",
        "scope": "events:send",
        "iat": int(NOW),
        "exp": int(NOW) + 60,
    }
    base.update(changes)
    return {key: value for key, value in base.items() if value is not None}


def refusal(token: str, checker: TokenVerifier | None = None) -> str:
    with pytest.raises(InvalidToken) as caught:
        (checker or verifier()).verify(token)
    message = caught.value.message
    assert message == str(caught.value)
    assert SECRET.decode() not in message
    if len(token) >= 3:  # "" and "x" are in any message
        assert token not in message
    return message


def test_issued_token_verifies_to_its_claims() -> None:
    token = issue_token(
        SECRET, subject="alice", scopes=["events:send", "inference:read"], ttl_seconds=60, now=NOW
    )
    got = verifier().verify(token)
    assert (got.sub, got.aud, got.scope) == ("alice", "ai.hg.fi/api", "events:send inference:read")
    assert (got.iat, got.exp) == (int(NOW), int(NOW) + 60)


def test_scopes_may_be_one_space_separated_string() -> None:
    token = issue_token(
        SECRET, subject="bob", scopes=" events:listen  events:send", ttl_seconds=5, now=NOW
    )
    assert verifier().verify(token).scope == "events:listen events:send"


def test_audience_is_configurable_and_may_be_one_of_a_list() -> None:
    token = issue_token(SECRET, subject="a", scopes="", ttl_seconds=60, audience="bus.x", now=NOW)
    assert verifier("bus.x").verify(token).sub == "a"
    assert verifier("bus.x").verify(signed(claims(aud=["other", "bus.x"]))).sub == "alice"
    assert "audience" in refusal(token)


def test_expired_token_is_refused_after_a_small_leeway() -> None:
    token = signed(claims(exp=int(NOW) - 2))
    assert verifier().verify(token).sub == "alice"  # within the leeway
    assert "expired" in refusal(signed(claims(exp=int(NOW) - 60)))
    assert "expired" in refusal(token, verifier(now=NOW + 60))


def test_a_token_verified_once_still_expires_on_a_later_use() -> None:
    now = [NOW]
    checker = TokenVerifier(SECRET, clock=lambda: now[0])
    token = signed(claims(exp=int(NOW) + 60))
    assert checker.verify(token).sub == "alice"
    now[0] = NOW + 120  # the same token again, now past its exp
    assert "expired" in refusal(token, checker)


def test_a_refused_token_is_refused_again() -> None:
    checker = verifier()
    token = signed(claims(), secret=OTHER_SECRET)
    assert "signature" in refusal(token, checker)
    assert "signature" in refusal(token, checker)


@pytest.mark.parametrize("claim", ["exp", "iat", "sub"])
def test_token_without_a_required_claim_is_refused(claim: str) -> None:
    assert claim in refusal(signed(claims(**{claim: None})))


def test_token_without_an_audience_is_refused() -> None:
    refusal(signed(claims(aud=None)))


def test_wrong_signature_is_refused() -> None:
    assert "signature" in refusal(signed(claims(), OTHER_SECRET))


def test_unsigned_token_is_refused() -> None:
    unsigned = jwt.encode(claims(), None, algorithm="none")
    assert "HS256" in refusal(unsigned)


def test_token_signed_with_another_algorithm_is_refused() -> None:
    assert "HS256" in refusal(signed(claims(), SECRET * 2, algorithm="HS512"))


@pytest.mark.parametrize(
    "changes",
    [{"iat": int(NOW) + 600}, {"nbf": int(NOW) + 600}, {"nbf": "soon"}],
)
def test_token_from_the_future_is_refused(changes: dict[str, Any]) -> None:
    refusal(signed(claims(**changes)))


@pytest.mark.parametrize(
    "changes", [{"scope": ["events:send"]}, {"exp": "tomorrow"}, {"iat": 1.5}, {"aud": 7}]
)
def test_claims_of_the_wrong_type_are_refused(changes: dict[str, Any]) -> None:
    refusal(signed(claims(**changes)))


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "x" * 9000, "Bearer abc.def.ghi"])
def test_text_that_is_no_jwt_is_refused(token: str) -> None:
    refusal(token)


def test_short_secret_is_refused_and_the_secret_is_never_shown() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        TokenVerifier(b"short")
    with pytest.raises(ValueError, match="32 bytes"):
        issue_token(b"short", subject="a", scopes="", ttl_seconds=1)
    assert SECRET.decode() not in repr(verifier())


@pytest.mark.parametrize(
    "kwargs",
    [{"subject": ""}, {"ttl_seconds": 0}, {"scopes": ["two words"]}, {"scopes": [""]}],
)
def test_issue_refuses_what_could_not_verify(kwargs: dict[str, Any]) -> None:
    arguments: dict[str, Any] = {"subject": "a", "scopes": "", "ttl_seconds": 60, **kwargs}
    with pytest.raises(ValueError):
        issue_token(SECRET, **arguments)


_tokens = st.one_of(
    st.text(max_size=200),
    st.builds(
        lambda token, at, junk: token[:at] + junk + token[at + len(junk) :],
        st.just(signed(claims())),
        st.integers(0, 200),
        st.text(min_size=1, max_size=4),
    ),
    st.builds(
        signed,
        st.dictionaries(
            st.sampled_from(["sub", "aud", "iat", "exp", "nbf", "scope"]),
            st.none() | st.integers() | st.floats() | st.text(max_size=5) | st.booleans(),
        ),
        st.sampled_from([SECRET, OTHER_SECRET]),
    ),
)


@given(token=_tokens)
def test_verify_raises_only_invalid_token_and_never_quotes_it(token: str) -> None:
    """BUS.md §2.3 and §1 (no diagnostic holds a token): any text either verifies or is
    refused with InvalidToken, whose message holds neither the token nor the secret."""
    try:
        verifier().verify(token)
    except InvalidToken as error:
        assert token not in error.message or len(token) < 3
        assert SECRET.decode() not in error.message
