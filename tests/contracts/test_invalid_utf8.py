"""Invalid UTF-8 inside a JSON string is bad input at every edge, never an exception.

msgspec raises ``UnicodeDecodeError`` (not ``DecodeError``) for it, so each decoder of
an outside body must catch both.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.events import EnvelopeError, parse_batch, parse_envelope
from contracts.inference import REQUEST_NAMES, Invalid, validate
from contracts.openai import OpenAIRequestError, validate_chat_request

# Bytes that stay inside the JSON string they are put in (no quote, no escape).
_BAD = st.binary(min_size=1, max_size=4).filter(lambda b: not _utf8(b) and not set(b) & {34, 92})


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@given(st.sampled_from(REQUEST_NAMES), _BAD)
def test_payload_is_object_invalid_utf8(name: str, bad: bytes) -> None:
    """Rule payload_is_object: invalid UTF-8 in a string is Invalid, never a raise."""
    result = validate(name, b'{"provider":"ollama","node_id":"' + bad + b'"}')
    assert isinstance(result, Invalid)
    assert [str(rule) for rule in result.rules] == ["payload_is_object"]


@given(_BAD)
def test_envelope_invalid_utf8_is_an_envelope_error(bad: bytes) -> None:
    """Rule envelope_is_json: a publish body with invalid UTF-8 is a 400, never a raise."""
    with pytest.raises(EnvelopeError):
        parse_envelope(b'{"name":"' + bad + b'","payload":{}}')
    with pytest.raises(EnvelopeError):
        parse_batch(b'[{"name":"' + bad + b'","payload":{}}]')


@given(_BAD)
def test_chat_request_invalid_utf8_is_a_400(bad: bytes) -> None:
    """Rule body_is_json: a chat request with invalid UTF-8 is a 400, never a raise."""
    with pytest.raises(OpenAIRequestError):
        validate_chat_request(b'{"model":"' + bad + b'","messages":[]}', "m")
