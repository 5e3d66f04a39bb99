"""The exported invalid-request strategies break exactly the rule they are labelled with.

``asm conformance endpoint`` posts these bodies to other implementations and expects a
400 (413 for the body limit); our own validation must refuse every one, or the harness
would be asking for something the contract does not say.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.openai import OpenAIRequestError, validate_chat_request
from contracts.testing import (
    REQUEST_RULES,
    InvalidChatRequest,
    RequestRule,
    invalid_chat_requests,
)

PINNED = "claude-sonnet-4-5"


def _refusal(example: InvalidChatRequest) -> OpenAIRequestError:
    with pytest.raises(OpenAIRequestError) as caught:
        validate_chat_request(example.body, PINNED)
    return caught.value


@pytest.mark.parametrize("rule", REQUEST_RULES)
@settings(max_examples=25)
@given(data=st.data())
def test_rule_each_invalid_request_strategy_is_refused_by_its_rule(
    rule: RequestRule, data: st.DataObject
) -> None:
    """Rules of SPEC §3.2: a body from ``invalid_chat_requests(pinned, rule)`` is refused."""
    example = data.draw(invalid_chat_requests(PINNED, rule))
    assert example.rule == rule
    error = _refusal(example)
    assert error.status == (413 if rule == "body_at_most_1_mib" else 400)
    if rule == "tools_refused":
        assert error.param == "tools"
        assert "does not support tools" in str(error)
    if rule == "model_absent_or_pinned":
        assert PINNED in str(error)
    if rule == "media_parts_refused":
        assert example.detail is not None and example.detail in str(error)
