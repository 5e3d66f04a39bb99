"""The endpoint contract (SPEC §3) as rules ``asm conformance endpoint`` runs.

Point it at any OpenAI-compatible chat-completions endpoint that claims to follow
asm-trio's contract — one pinned model, bearer auth, tools refused, the streaming shape —
and read the table::

    outcomes = check_endpoint("http://127.0.0.1:8787/leases/L/v1", token)
    print(render_table(outcomes))

Request rules post bodies from ``contracts.testing.openai_invalid`` and expect the
named refusal; response rules post bodies from ``contracts.testing.openai.chat_requests``
(each a real completion, so they try fewer examples) and check the answer's shape.
"""

from __future__ import annotations

import dataclasses
import string
from typing import Any

from hypothesis import strategies as st

from contracts.testing import InvalidChatRequest, RequestRule, chat_requests, invalid_chat_requests
from transport.conformance._endpoint_stream import stream_rules
from transport.conformance._endpoint_target import (
    EndpointTarget,
    check_usage,
    envelope_problem,
    openai_error,
)
from transport.conformance._harness import Budget, Outcome, Rule, Violation, run_rules
from transport.conformance._http import Answer, open_client

__all__ = ["EndpointTarget", "check_endpoint", "endpoint_rules"]

_TOKEN_CHARS = string.ascii_letters + string.digits + "-._~+/="
_BAD_AUTHORIZATION = st.sampled_from(
    [None, "", "Bearer", "Basic YWxpY2U6c2VjcmV0", "Token abc", "bearer-token"]
)


def _expect_refusal(target: EndpointTarget, example: InvalidChatRequest) -> dict[str, Any]:
    status = 413 if example.rule == "body_at_most_1_mib" else 400
    return openai_error(target.post_chat(example.body), status)


def _request_rule(
    target: EndpointTarget, rule: RequestRule, name: str, summary: str, max_examples: int = 20
) -> Rule[Any]:
    def check(example: InvalidChatRequest) -> None:
        error = _expect_refusal(target, example)
        message = error["message"]
        if example.rule == "tools_refused":
            if (error.get("type"), error.get("param")) != ("invalid_request_error", "tools"):
                raise Violation(
                    f"tools refusal is not invalid_request_error on param tools: {error}"
                )
            if "does not support tools" not in message:
                raise Violation(f"tools refusal does not say 'does not support tools': {message!r}")
        if example.detail is not None and example.detail not in message:
            raise Violation(f"the error does not name {example.detail!r}: {message!r}")

    examples = st.deferred(lambda: invalid_chat_requests(target.pinned_model(), rule))
    return Rule(name, summary, examples, check, max_examples)


def _auth_rules(target: EndpointTarget) -> list[Rule[Any]]:
    def check_missing(authorization: str | None) -> None:
        headers = {} if authorization is None else {"authorization": authorization}
        answer = target.post_chat(
            {"messages": [{"role": "user", "content": "hi"}]}, headers=headers
        )
        openai_error(answer, 401)
        answer = target.read(target.http.get(target.base_url + "/models", headers=headers))
        openai_error(answer, 401)

    def check_wrong(token: str) -> None:
        openai_error(target.get("/models", token=token), 401)
        openai_error(
            target.post_chat({"messages": [{"role": "user", "content": "hi"}]}, token=token), 401
        )

    wrong = st.one_of(
        st.text(_TOKEN_CHARS, min_size=1, max_size=64),
        st.sampled_from([target.token[:-1] or "x", target.token + "x", target.token.upper()]),
    ).filter(lambda token: token != target.token)
    return [
        Rule(
            "auth.bearer_required",
            "no Authorization, or one that is not a bearer token, is 401 on every lease route",
            _BAD_AUTHORIZATION,
            check_missing,
            max_examples=7,
        ),
        Rule(
            "auth.wrong_token_is_401",
            "a bearer token other than the lease's is 401",
            wrong,
            check_wrong,
            max_examples=15,
        ),
    ]


def _model_rules(target: EndpointTarget) -> list[Rule[Any]]:
    def check_list(_: None) -> None:
        answer = target.get("/models")
        answer.expect(200)
        body = answer.json_object()
        data = body.get("data")
        if body.get("object") != "list" or not isinstance(data, list) or len(data) != 1:
            raise Violation(f"GET /models is not a list of exactly one model: {answer.excerpt()}")
        model = data[0]
        _check_model_object(model, target.pinned_model(), answer)
        one = target.get(f"/models/{target.pinned_model()}")
        one.expect(200)
        if one.json_object() != model:
            raise Violation(f"GET /models/<pinned> differs from the listed model: {one.excerpt()}")

    def check_unknown(model: str) -> None:
        openai_error(target.get(f"/models/{model}"), 404)

    unknown = st.text(string.ascii_letters + string.digits + "-._:", min_size=1, max_size=40)
    return [
        Rule(
            "models.list_names_the_pinned_model",
            "GET /models lists one model object (id, object, created, owned_by); /models/{id} too",
            st.none(),
            check_list,
            max_examples=1,
        ),
        Rule(
            "models.unknown_model_is_404",
            "GET /models/{id} for any other id is 404 in the envelope",
            unknown.filter(lambda model: model != target.pinned_model()),
            check_unknown,
            max_examples=10,
        ),
    ]


def _check_model_object(model: Any, pinned: str, answer: Answer) -> None:
    if not isinstance(model, dict):
        raise Violation(f"the model entry is not an object: {answer.excerpt()}")
    if model.get("id") != pinned or model.get("object") != "model":
        raise Violation(f"the model entry is not the pinned model object: {model}")
    created = model.get("created")
    if not isinstance(created, int) or isinstance(created, bool):
        raise Violation(f"model.created is not an integer: {model}")
    if not isinstance(model.get("owned_by"), str):
        raise Violation(f"model.owned_by is not a string: {model}")


def _error_rules(target: EndpointTarget) -> list[Rule[Any]]:
    provoking = st.deferred(
        lambda: st.one_of(
            invalid_chat_requests(target.pinned_model()).map(lambda example: example.body),
            st.just("wrong-token"),
            st.just("unknown-model"),
        )
    )

    def provoke(way: bytes | str) -> Answer:
        if way == "wrong-token":
            return target.get("/models", token=target.token + "x")
        if way == "unknown-model":
            return target.get("/models/" + target.pinned_model() + "-not")
        answer = target.post_chat(way)
        if answer.status < 400:
            raise Violation(f"an invalid request was accepted: {answer.excerpt()}")
        return answer

    def check_envelope(way: bytes | str) -> None:
        answer = provoke(way)
        problem = envelope_problem(answer)
        if problem is not None:
            raise Violation(f"{problem}: {answer.excerpt()}")

    def check_retry(way: bytes | str) -> None:
        answer = provoke(way)
        retry = answer.headers.get("x-should-retry")
        if retry != "false":
            raise Violation(f"HTTP {answer.status} has x-should-retry {retry!r}, not 'false'")

    return [
        Rule(
            "errors.openai_envelope",
            'every error is JSON {"error": {"message","type","param","code"}}',
            provoking,
            check_envelope,
        ),
        Rule(
            "errors.x_should_retry_false",
            "every error but 429 and 503 says x-should-retry: false",
            provoking,
            check_retry,
            max_examples=15,
        ),
    ]


def _health_rule(target: EndpointTarget) -> Rule[Any]:
    def check(_: None) -> None:
        root = target.lease_root or ""
        answer = target.read(
            target.http.get(root + "/health", headers={"authorization": f"Bearer {target.token}"})
        )
        answer.expect(200)
        body = answer.json_object()
        if body.get("status") != "ok" or body.get("model") != target.pinned_model():
            raise Violation(f"health is not ok for the pinned model: {answer.excerpt()}")
        for key in ("endpoint_id", "lease_ref", "provider"):
            if not isinstance(body.get(key), str):
                raise Violation(f"health lacks {key}: {answer.excerpt()}")
        openai_error(target.read(target.http.get(root + "/health")), 401)

    def applicable() -> str | None:
        return None if target.lease_root else "the base URL does not end in /v1 (no lease root)"

    return Rule(
        "lease.health_names_the_lease",
        "GET <lease>/health with the token is 200 ok naming the lease; without it 401",
        st.none(),
        check,
        max_examples=1,
        precondition=applicable,
    )


def _completion_rule(target: EndpointTarget) -> Rule[Any]:
    def check(body: dict[str, Any]) -> None:
        answer = target.post_chat(body)
        answer.expect(200)
        if answer.content_type != "application/json":
            raise Violation(f"a non-streaming answer is {answer.content_type!r}")
        completion = answer.json_object()
        _check_completion(completion, target.pinned_model())

    examples = st.deferred(lambda: chat_requests(target.pinned_model())).map(_without_stream)
    return Rule(
        "response.completion_shape",
        "a valid request (ignored and unknown fields included) answers one chat.completion",
        examples,
        check,
        max_examples=10,
    )


def _stream_default_rule(target: EndpointTarget) -> Rule[Any]:
    def check(body: dict[str, Any]) -> None:
        answer = target.post_chat(body)
        answer.expect(200)
        if answer.content_type != "application/json":
            raise Violation(f"without stream: true the answer is {answer.content_type!r}, not JSON")

    examples = st.deferred(lambda: chat_requests(target.pinned_model())).map(
        lambda body: {key: value for key, value in _without_stream(body).items() if key != "stream"}
    )
    return Rule(
        "request.stream_defaults_to_false",
        "a request without stream gets one JSON completion, not an event stream",
        examples,
        check,
        max_examples=5,
    )


def _without_stream(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "stream_options"} | (
        {"stream": False} if body.get("stream") else {}
    )


def _check_completion(completion: dict[str, Any], pinned: str) -> None:
    if not str(completion.get("id", "")).startswith("chatcmpl-"):
        raise Violation(f"id does not start with chatcmpl-: {completion.get('id')!r}")
    if completion.get("object") != "chat.completion":
        raise Violation(f"object is {completion.get('object')!r}, not chat.completion")
    if completion.get("model") != pinned:
        raise Violation(f"model is {completion.get('model')!r}, not the pinned {pinned!r}")
    created = completion.get("created")
    if not isinstance(created, int) or isinstance(created, bool):
        raise Violation(f"created is not an integer: {created!r}")
    choices = completion.get("choices")
    if not isinstance(choices, list) or len(choices) != 1 or not isinstance(choices[0], dict):
        raise Violation(f"choices is not one choice: {choices!r}")
    choice = choices[0]
    message = choice.get("message")
    if choice.get("index") != 0 or not isinstance(message, dict):
        raise Violation(f"the choice is not index 0 with a message: {choice!r}")
    if message.get("role") != "assistant" or not isinstance(message.get("content"), str):
        raise Violation(f"the message is not an assistant's text: {message!r}")
    if choice.get("finish_reason") not in ("stop", "length"):
        raise Violation(f"finish_reason is {choice.get('finish_reason')!r}, not stop or length")
    if "usage" in completion:
        check_usage(completion["usage"])


def endpoint_rules(target: EndpointTarget) -> list[Rule[Any]]:
    """Every endpoint rule, cheap refusals first, completions last."""
    request_rules: list[tuple[RequestRule, str, str]] = [
        (
            "body_is_json_object",
            "request.body_must_be_a_json_object",
            "bad JSON or a non-object is 400",
        ),
        ("body_at_most_1_mib", "request.body_at_most_1_mib", "a body over 1 MiB is 413"),
        (
            "model_absent_or_pinned",
            "request.model_must_be_pinned",
            "another model is 400 naming the pinned one",
        ),
        (
            "tools_refused",
            "request.tools_are_refused",
            "tools, functions or tool_choice is 400 on param tools",
        ),
        (
            "stream_options_need_stream",
            "request.stream_options_need_stream",
            "stream_options without stream is 400",
        ),
        ("n_at_most_1", "request.n_at_most_1", "n above 1 is 400"),
        ("messages_valid", "request.messages_are_validated", "bad messages are 400"),
        (
            "media_parts_refused",
            "request.media_parts_are_refused",
            "image or audio parts are 400 naming the index",
        ),
        (
            "prompt_at_most_256_kib",
            "request.prompt_at_most_256_kib",
            "a prompt over 262,144 bytes is 400",
        ),
        (
            "logprobs_refused",
            "request.logprobs_are_refused",
            "logprobs or top_logprobs is 400 naming it",
        ),
        (
            "parameters_validated",
            "request.parameters_are_validated",
            "a parameter out of its range (temperature, top_p, max_tokens, stop,"
            " reasoning_effort) is 400",
        ),
    ]
    rules = [*_auth_rules(target), *_model_rules(target), _health_rule(target)]
    for rule, name, summary in request_rules:
        few = rule in ("body_at_most_1_mib", "prompt_at_most_256_kib")
        rules.append(_request_rule(target, rule, name, summary, 3 if few else 20))
    rules += _error_rules(target)
    rules += [_completion_rule(target), _stream_default_rule(target), *stream_rules(target)]
    return rules


def check_endpoint(
    base_url: str, token: str, budget: Budget | None = None, *, timeout: float = 120.0
) -> list[Outcome]:
    """Run every endpoint rule against ``base_url`` (the OpenAI base URL) with ``token``."""
    budget = budget or Budget()
    budget = dataclasses.replace(budget, secrets=(*budget.secrets, token))
    with open_client(timeout) as http:
        target = EndpointTarget(base_url.rstrip("/"), token, http)
        return run_rules(endpoint_rules(target), budget)
