"""Chat messages become a conversation (system prompt and turns); anything a CLI cannot
honour is refused by name."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.conversation import Conversation, Turn
from contracts.openai import (
    MAX_MESSAGES,
    MAX_PROMPT_BYTES,
    ROLES,
    SYSTEM_JOINER,
    SYSTEM_ROLES,
    PromptError,
    conversation_from_messages,
    conversation_from_prompt,
)
from contracts.testing import (
    chat_message,
    chat_message_with,
    chat_messages,
    json_values,
    system_only_messages,
    text_parts,
)


def _content_text(content: str | list[dict[str, Any]]) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(part["text"] for part in content if part["text"])


def _refusal(messages: Any) -> PromptError:
    with pytest.raises(PromptError) as caught:
        conversation_from_messages(messages)
    return caught.value


def _flat(messages: Any) -> str:
    return conversation_from_messages(messages).flattened()


@given(chat_messages())
def test_rule_system_and_developer_messages_anywhere_are_the_system_prompt(
    messages: list[dict[str, Any]],
) -> None:
    """Rule: the texts of system and developer messages, wherever they stand, joined in
    order with a blank line, are the system prompt; no turn holds them."""
    chat = conversation_from_messages(messages)
    system = [_content_text(m["content"]) for m in messages if m["role"] in SYSTEM_ROLES]
    assert chat.system == SYSTEM_JOINER.join(system)
    assert len(chat.turns) == sum(1 for m in messages if m["role"] not in SYSTEM_ROLES)


@given(chat_messages())
def test_rule_user_and_assistant_turns_keep_their_order_and_tool_is_a_user_turn(
    messages: list[dict[str, Any]],
) -> None:
    """Rule: user, assistant and tool messages are the turns, in order; a tool message is a
    user turn (tools are refused, so there is no call for it to answer)."""
    expected = [
        Turn("assistant" if m["role"] == "assistant" else "user", _content_text(m["content"]))
        for m in messages
        if m["role"] not in SYSTEM_ROLES
    ]
    chat = conversation_from_messages(messages)
    assert list(chat.turns) == expected
    assert chat.prompt == expected[-1].text
    assert chat.history == tuple(expected[:-1])


@given(system_only_messages())
def test_rule_system_messages_alone_are_one_user_turn(messages: list[dict[str, Any]]) -> None:
    """Rule: a conversation of system (and developer) messages only is one user turn of
    their joined text, and no system prompt: there is nothing else to answer."""
    chat = conversation_from_messages(messages)
    joined = SYSTEM_JOINER.join(_content_text(m["content"]) for m in messages)
    assert chat == Conversation(turns=(Turn("user", joined),))


@given(
    chat_messages(max_size=4), st.lists(chat_message_with(st.sampled_from(sorted(SYSTEM_ROLES))))
)
def test_rule_the_last_turn_comes_from_the_user(
    messages: list[dict[str, Any]], trailing_system: list[dict[str, Any]]
) -> None:
    """Rule: a conversation whose last turn is the assistant's is refused, naming it
    (system messages after it do not change that)."""
    assistant = {"role": "assistant", "content": "Bonjour"}
    error = _refusal([*messages, assistant, *trailing_system])
    assert error.param == "messages"
    assert error.message.startswith(f"messages[{len(messages)}] is the last turn")
    assert conversation_from_messages([*messages, *trailing_system]).prompt


def test_the_reference_chat_maps_to_a_system_prompt_and_three_turns() -> None:
    chat = conversation_from_messages(
        [
            {"role": "system", "content": "You are a terse French translator."},
            {"role": "user", "content": "Translate: good morning"},
            {"role": "assistant", "content": "Bonjour"},
            {"role": "developer", "content": "Answer in one word."},
            {"role": "user", "content": "Translate: good night"},
        ]
    )
    assert chat.system == "You are a terse French translator.\n\nAnswer in one word."
    assert [(t.role, t.text) for t in chat.turns] == [
        ("user", "Translate: good morning"),
        ("assistant", "Bonjour"),
        ("user", "Translate: good night"),
    ]


@given(st.integers(min_value=0, max_value=MAX_MESSAGES + 40))
def test_rule_messages_count_is_1_to_128(count: int) -> None:
    """Rule: messages holds 1 to 128 entries."""
    messages = [{"role": "user", "content": "hi"}] * count
    if 1 <= count <= MAX_MESSAGES:
        assert len(conversation_from_messages(messages).turns) == count
    else:
        error = _refusal(messages)
        assert error.param == "messages"
        assert str(count) in error.message


@given(
    chat_messages(max_size=3),
    st.sampled_from(["a", "é", "€", "😀"]),
)
def test_rule_prompt_at_most_262144_bytes(messages: list[dict[str, Any]], char: str) -> None:
    """Rule: the flattened conversation is at most 262,144 bytes: exactly that is accepted,
    one byte more is refused."""
    head = len(_flat([*messages, {"role": "user", "content": "a"}]).encode()) - 1
    room = MAX_PROMPT_BYTES - head
    width = len(char.encode())
    filler = char * (room // width) + "a" * (room % width)
    exact = [*messages, {"role": "user", "content": filler}]
    assert len(_flat(exact).encode()) == MAX_PROMPT_BYTES
    error = _refusal([*messages, {"role": "user", "content": filler + "a"}])
    assert error.param == "messages"
    assert str(MAX_PROMPT_BYTES) in error.message


@given(chat_messages(max_size=3), st.text(max_size=12) | st.sampled_from(sorted(ROLES)))
def test_rule_roles_are_known(messages: list[dict[str, Any]], role: str) -> None:
    """Rule: a role is one of system, developer, user, assistant, tool."""
    candidate = [*messages, {"role": role, "content": "hi"}, {"role": "user", "content": "q"}]
    if role in ROLES:
        assert conversation_from_messages(candidate).prompt == "q"
    else:
        assert f"messages[{len(messages)}].role" in _refusal(candidate).message


@given(st.lists(text_parts(), min_size=1, max_size=5).filter(lambda ps: any(p["text"] for p in ps)))
def test_rule_text_parts_accepted(parts: list[dict[str, Any]]) -> None:
    """Rule: content may be a list of text parts, joined with a newline (empty ones dropped)."""
    expected = "\n".join(p["text"] for p in parts if p["text"])
    assert conversation_from_messages([{"role": "user", "content": parts}]).prompt == expected


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
def test_rule_bare_prompt_is_one_user_turn_unchanged(prompt: str) -> None:
    """Rule: a bare prompt that is non-empty valid UTF-8 within the limit is one user turn,
    its text unchanged (and it flattens to itself)."""
    chat = conversation_from_prompt(prompt)
    assert chat == Conversation(turns=(Turn("user", prompt),))
    assert chat.flattened() == prompt


@pytest.mark.parametrize(
    "prompt", ["", "a\udc80b", "a" * (MAX_PROMPT_BYTES + 1), "€" * (MAX_PROMPT_BYTES // 3 + 1)]
)
def test_bad_bare_prompts_are_refused_with_param_prompt(prompt: str) -> None:
    with pytest.raises(PromptError) as caught:
        conversation_from_prompt(prompt)
    assert caught.value.param == "prompt"


def test_bare_prompt_of_exactly_the_limit_is_accepted() -> None:
    assert conversation_from_prompt("a" * MAX_PROMPT_BYTES).prompt == "a" * MAX_PROMPT_BYTES
