"""Chat messages flatten into one prompt; anything a CLI cannot honour is refused by name."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.prompt import (
    MAX_MESSAGES,
    MAX_PROMPT_BYTES,
    ROLES,
    PromptError,
    normalize_messages,
    normalize_prompt,
)
from contracts.testing.openai import chat_message, chat_messages, json_values, text_parts


def _content_text(content: str | list[dict[str, Any]]) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(part["text"] for part in content if part["text"])


def _refusal(messages: Any) -> PromptError:
    with pytest.raises(PromptError) as caught:
        normalize_messages(messages)
    return caught.value


@given(chat_messages())
def test_messages_flatten_to_role_colon_content_lines(messages: list[dict[str, Any]]) -> None:
    """Rule: each message becomes "role: content", messages joined with a newline."""
    expected = "\n".join(f"{m['role']}: {_content_text(m['content'])}" for m in messages)
    assert normalize_messages(messages) == expected


@given(st.integers(min_value=0, max_value=MAX_MESSAGES + 40))
def test_rule_messages_count_is_1_to_128(count: int) -> None:
    """Rule: messages holds 1 to 128 entries."""
    messages = [{"role": "user", "content": "hi"}] * count
    if 1 <= count <= MAX_MESSAGES:
        assert normalize_messages(messages).count("\n") == count - 1
    else:
        error = _refusal(messages)
        assert error.param == "messages"
        assert str(count) in error.message


@given(
    chat_messages(max_size=3),
    st.sampled_from(["a", "é", "€", "😀"]),
)
def test_rule_prompt_at_most_262144_bytes(messages: list[dict[str, Any]], char: str) -> None:
    """Rule: the flattened prompt is at most 262,144 bytes: exactly that is accepted, one
    byte more is refused."""
    head = len(normalize_messages(messages).encode()) + len("\nuser: ")
    room = MAX_PROMPT_BYTES - head
    width = len(char.encode())
    filler = char * (room // width) + "a" * (room % width)
    exact = [*messages, {"role": "user", "content": filler}]
    assert len(normalize_messages(exact).encode()) == MAX_PROMPT_BYTES
    error = _refusal([*messages, {"role": "user", "content": filler + "a"}])
    assert error.param == "messages"
    assert str(MAX_PROMPT_BYTES) in error.message


@given(chat_messages(max_size=3), st.text(max_size=12) | st.sampled_from(sorted(ROLES)))
def test_rule_roles_are_known(messages: list[dict[str, Any]], role: str) -> None:
    """Rule: a role is one of system, developer, user, assistant, tool."""
    candidate = [*messages, {"role": role, "content": "hi"}]
    if role in ROLES:
        assert normalize_messages(candidate).endswith(f"\n{role}: hi")
    else:
        assert f"messages[{len(messages)}].role" in _refusal(candidate).message


@given(st.lists(text_parts(), min_size=1, max_size=5).filter(lambda ps: any(p["text"] for p in ps)))
def test_rule_text_parts_accepted(parts: list[dict[str, Any]]) -> None:
    """Rule: content may be a list of text parts, joined with a newline (empty ones dropped)."""
    expected = "\n".join(p["text"] for p in parts if p["text"])
    assert normalize_messages([{"role": "user", "content": parts}]) == f"user: {expected}"


@given(
    chat_messages(max_size=4),
    st.data(),
    st.sampled_from(["image_url", "input_audio", "file", "refusal", "Text", ""]),
)
def test_rule_non_text_parts_refused_with_index(
    messages: list[dict[str, Any]], data: st.DataObject, kind: str
) -> None:
    """Rule: a part that is not text is refused, naming its message and part index."""
    index = data.draw(st.integers(0, len(messages) - 1))
    parts = data.draw(st.lists(text_parts(min_size=1), min_size=1, max_size=3))
    position = data.draw(st.integers(0, len(parts)))
    parts.insert(position, {"type": kind, kind: {"url": "data:image/png;base64,AAAA"}})
    messages[index] = {"role": messages[index]["role"], "content": parts}
    error = _refusal(messages)
    assert error.message.startswith(f"messages[{index}].content[{position}]: part type {kind!r}")
    assert "text only" in error.message


def test_image_part_is_refused_naming_its_index() -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Look:"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
            ],
        },
    ]
    assert _refusal(messages).message == (
        "messages[2].content[1]: part type 'image_url' is not supported;"
        " this endpoint accepts text only"
    )


@given(chat_messages(max_size=4), st.data(), st.characters(categories=["Cs"]))
def test_rule_invalid_utf8_refused(
    messages: list[dict[str, Any]], data: st.DataObject, surrogate: str
) -> None:
    """Rule: text that is not valid UTF-8 (a lone surrogate) is refused, saying where."""
    index = data.draw(st.integers(0, len(messages) - 1))
    text = data.draw(st.text(max_size=5)) + surrogate
    if data.draw(st.booleans()):
        messages[index] = {"role": "user", "content": text}
        where = f"messages[{index}].content"
    else:
        messages[index] = {"role": "user", "content": [{"type": "text", "text": text}]}
        where = f"messages[{index}].content[0].text"
    error = _refusal(messages)
    assert error.message.startswith(where)
    assert "invalid UTF-8" in error.message


@given(
    chat_messages(max_size=3),
    st.one_of(
        st.just(""),
        st.just([]),
        st.lists(st.just({"type": "text", "text": ""}), min_size=1, max_size=3),
        st.none(),
        st.integers(),
        st.dictionaries(st.text(max_size=3), st.text(max_size=3)),
    ),
)
def test_rule_content_is_non_empty_text(messages: list[dict[str, Any]], content: object) -> None:
    """Rule: content is a non-empty string or a list of text parts with some text."""
    error = _refusal([*messages, {"role": "assistant", "content": content}])
    assert error.message.startswith(f"messages[{len(messages)}].content")


@given(chat_messages(max_size=3), json_values().filter(lambda v: not isinstance(v, dict)))
def test_rule_messages_are_objects(messages: list[dict[str, Any]], entry: object) -> None:
    """Rule: every entry of messages is an object."""
    error = _refusal([*messages, entry])
    assert error.message.startswith(f"messages[{len(messages)}] must be an object")


@pytest.mark.parametrize("messages", ["user: hi", b"hi", None, {"role": "user"}])
def test_messages_that_are_not_an_array_are_refused(messages: Any) -> None:
    assert _refusal(messages).param == "messages"


@given(chat_message(), st.sampled_from([{"type": "text"}, {"type": "text", "text": 3}, "hi", {}]))
def test_malformed_parts_are_refused_naming_the_part(message: dict[str, Any], part: object) -> None:
    error = _refusal([{"role": message["role"], "content": [part]}])
    assert error.message.startswith("messages[0].content[0]")


@given(st.text(min_size=1))
def test_rule_bare_prompt_is_returned_unchanged(prompt: str) -> None:
    """Rule: a bare prompt that is non-empty valid UTF-8 within the limit passes as is."""
    assert normalize_prompt(prompt) == prompt


@pytest.mark.parametrize(
    "prompt", ["", "a\udc80b", "a" * (MAX_PROMPT_BYTES + 1), "€" * (MAX_PROMPT_BYTES // 3 + 1)]
)
def test_bad_bare_prompts_are_refused_with_param_prompt(prompt: str) -> None:
    with pytest.raises(PromptError) as caught:
        normalize_prompt(prompt)
    assert caught.value.param == "prompt"


def test_bare_prompt_of_exactly_the_limit_is_accepted() -> None:
    assert normalize_prompt("a" * MAX_PROMPT_BYTES) == "a" * MAX_PROMPT_BYTES
