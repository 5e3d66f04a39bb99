"""Claude Code (``claude -p``): its facts, its command line and its stream-json decoder.

Claude has an agent loop (tools, approvals, resume), so it could publish
``cli_agent_v2``; the endpoint still runs it completion-only (SPEC §4.3), with every
built-in tool, MCP server and settings file withdrawn on the command line
(shared/PROVIDERS.md). The conversation goes in on stdin as stream-json
(:mod:`contracts.providers.claude_input`), so a parked claude can take any system prompt
and history::

    >>> from contracts.providers._delivery import LaunchRequest, Workspace
    >>> from contracts.providers.claude import CLAUDE, DRIVER
    >>> CLAUDE.bin_env
    'ASM_CLAUDE_BIN'
    >>> request = LaunchRequest(executable="claude", model="claude-sonnet-4-5",
    ...                         workspace=Workspace("/tmp/s", "id"))
    >>> DRIVER.launch(request).argv[:3]
    ('claude', '-p', '--input-format=stream-json')
    >>> decoder = DRIVER.decoder()
    >>> decoder.feed(b'{"type":"system","subtype":"init","session_id":"s1","model":"m"}')
    [Started(provider='claude', session_id='s1', model='m')]

Text arrives as token deltas (``--include-partial-messages``); the whole ``assistant``
message that follows them is not counted again. Before the answer, each ``result`` line
acknowledges one history message the session sent (``decoder(acks=N)``).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final, final

from contracts.conversation import Conversation
from contracts.providers._delivery import Delivery, Launch, LaunchRequest, ParkingDriver
from contracts.providers._profile import ProviderProfile
from contracts.providers._stream_json import (
    JsonLineDecoder,
    amount,
    anthropic_text,
    anthropic_usage,
    any_of,
    clip,
    count,
    list_field,
    object_field,
    text_field,
)
from contracts.providers.claude_input import claude_delivery
from contracts.session import FinishReason, SessionEvent, Usage, Warning, finish_reason_from

__all__ = ["CLAUDE", "DRIVER", "ClaudeDecoder", "ClaudeDriver"]

CLAUDE = ProviderProfile(
    verified_version="2.1.197",
    default_upstream="https://api.anthropic.com",
    id="claude",
    display_name="Claude Code",
    executable="claude",
    bin_env="ASM_CLAUDE_BIN",
    capabilities=frozenset(
        {"approval", "cost", "interrupt", "resume", "streaming", "thinking", "tools"}
    ),
    # Passed through the scrubbed environment so existing logins keep working.
    auth_env=(
        "ANTHROPIC_API_KEY",
        "CLAUDE_CODE_OAUTH_TOKEN",
        "ANTHROPIC_AUTH_TOKEN",
        "ANTHROPIC_BASE_URL",
        "CLAUDE_CODE_USE_BEDROCK",
        "CLAUDE_CODE_USE_VERTEX",
    ),
    agent_surface=True,
    # 2.1.197 with text input: "Warning: no stdin data received in 3s, proceeding without
    # it", then exit 1. The driver gives it stream-json input, which waits for as long as
    # stdin stays open: a parked claude never gives up.
    stdin_wait_seconds=None,
    base_url_env="ANTHROPIC_BASE_URL",
    parameters=frozenset({"temperature", "top_p", "max_tokens", "stop", "reasoning_effort"}),
    response_formats=frozenset({"json_schema", "json_object"}),
)

# The result text is the only reliable login signal ("Not logged in · Please run
# /login"; is_error is not). A rejected API key or an expired OAuth token asks for the
# same remedy. Matched at the start of the text, and only when no answer came, so an
# answer that merely talks about logging in stays an answer.
_LOGIN = any_of(r"not logged in", r"invalid api key", r"oauth token has expired")

# claude 2.1.197 answers a max_tokens stop by asking the model to resume, up to three
# times; then it reports an error result ("API Error: Claude's response exceeded the
# 32000 output token maximum…", after a "<synthetic>" message whose line says
# "error":"max_output_tokens"). For the endpoint that is an answer cut at the output
# limit: what was streamed, with finish_reason "length" (SPEC §3.3), not a crash.
_LIMIT_ERROR: Final = "max_output_tokens"
_LIMIT = any_of(r"exceeded the \d+ output token maximum")

# claude 2.1.197 retries a rejected key (HTTP 401, error "authentication_failed") like an
# outage: api_retry lines with growing delays, ten of them. The first retry may follow an
# OAuth token refresh, so a rejection decides (not logged in) from the third attempt on.
_REJECTED_STATUS: Final = 401
_REJECTED_ERROR: Final = "authentication_failed"
_REJECTIONS_DECIDE: Final = 3

# A refused request (stop_reason "refusal") ends in an error result: "API Error: Claude
# Code is unable to respond to this request, which appears to violate our Usage Policy".
_REFUSED = any_of(r"violate our usage policy")

_FIXED_ENV: Final[Mapping[str, str]] = MappingProxyType(
    {
        # Both are Claude Code's documented switches: no self-update of the binary
        # during a run, and no telemetry, error reporting or other traffic a
        # completion does not need.
        "DISABLE_AUTOUPDATER": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
)


class ClaudeDecoder(JsonLineDecoder):
    """Decodes ``claude -p --output-format=stream-json --verbose`` lines.

    ``ClaudeDecoder().feed(line)`` → session events; see :class:`LineDecoder`.
    """

    provider = "claude"

    def __init__(self, acks: int = 0) -> None:
        super().__init__(acks)
        self._stop_reason: FinishReason | None = None
        self._message_id: str | None = None
        # Ids of the messages whose text came as deltas (None: a delta before any
        # message_start), so their whole `assistant` line is not counted again.
        self._streamed: set[str | None] = set()
        self._limit_hit = False

    def _decode(self, obj: dict[str, Any]) -> list[SessionEvent]:
        match text_field(obj, "type"):
            case "system":
                return self._system(obj)
            case "stream_event":
                return self._stream_event(object_field(obj, "event"))
            case "assistant":
                self._limit_hit = self._limit_hit or text_field(obj, "error") == _LIMIT_ERROR
                return self._assistant(object_field(obj, "message"))
            case "result":
                return self._result(obj)
        return []

    def _system(self, obj: dict[str, Any]) -> list[SessionEvent]:
        subtype = text_field(obj, "subtype")
        if subtype == "init":
            return self._start(obj)
        if subtype == "api_retry":
            notice = _retry_notice(obj)
            if _rejected(obj):
                self._fail(
                    "not_logged_in",
                    f"{notice}: the API key or login was rejected; log in again as the user"
                    " asm runs as (`claude`, then /login), or set a valid ANTHROPIC_API_KEY in"
                    " [providers.claude.env]",
                )
            return [Warning(message=notice)]
        return []

    def _stream_event(self, event: dict[str, Any] | None) -> list[SessionEvent]:
        match text_field(event, "type"):
            case "message_start":
                self._message_id = text_field(object_field(event, "message"), "id")
            case "content_block_delta":
                delta = object_field(event, "delta")
                # thinking_delta and input_json_delta are not part of the answer.
                if text_field(delta, "type") == "text_delta":
                    text = text_field(delta, "text") or ""
                    if text:
                        self._streamed.add(self._message_id)
                    return self._delta(text)
            case "message_delta":
                self._note_stop(text_field(object_field(event, "delta"), "stop_reason"))
        return []

    def _assistant(self, message: dict[str, Any] | None) -> list[SessionEvent]:
        if message is None:
            return []
        # Claude Code writes its own errors ("Not logged in · Please run /login", API
        # errors) as messages of the "<synthetic>" model: the result reports them, and
        # they are no part of an answer.
        if text_field(message, "model") == "<synthetic>":
            if text_field(message, "stop_reason") == "refusal":
                self._note_stop("refusal")
            return []
        self._note_stop(text_field(message, "stop_reason"))
        if text_field(message, "id") in self._streamed:
            return []
        return self._message(anthropic_text(message))

    def _result(self, obj: dict[str, Any]) -> list[SessionEvent]:
        if self._acknowledge():
            return []  # a history message taken in, not the answer
        events: list[SessionEvent] = []
        self._note_stop(text_field(obj, "stop_reason"))
        result = text_field(obj, "result")
        errors = [error for error in list_field(obj, "errors") if isinstance(error, str)]
        said = " ".join(part for part in (result, *errors) if part)
        subtype = text_field(obj, "subtype")
        failed = obj.get("is_error") is True or subtype not in (None, "success")
        if not self.text and _LOGIN.match(said.lstrip()):
            self._fail("not_logged_in", f"claude: not logged in ({clip(said, 120)})")
        elif failed and (self._limit_hit or _LIMIT.search(said)):
            self._succeed("length")
        elif failed and (self._stop_reason == "content_filter" or _REFUSED.search(said)):
            self._succeed("content_filter")
        elif failed:
            self._fail("crashed", f"claude: {clip(said or subtype or 'the run failed')}")
        else:
            # A run without partial messages (or an empty stream) still has its answer.
            if not self.text and result:
                events += self._message(result)
            self._succeed(self._stop_reason)
        usage = anthropic_usage(obj.get("usage"))
        if usage is not None:
            prompt, output, cached = usage
            events.append(
                Usage(
                    input_tokens=prompt,
                    output_tokens=output,
                    cached_input_tokens=cached,
                    cost_usd=amount(obj.get("total_cost_usd")),
                )
            )
        return events

    def _note_stop(self, reason: str | None) -> None:
        if reason is not None:
            self._stop_reason = finish_reason_from(reason)


def _rejected(obj: dict[str, Any]) -> bool:
    """Whether an api_retry line reports the key or login rejected, from the third attempt."""
    rejected = count(obj.get("error_status")) == _REJECTED_STATUS
    rejected = rejected or text_field(obj, "error") == _REJECTED_ERROR
    attempt = count(obj.get("attempt"))
    return rejected and attempt is not None and attempt >= _REJECTIONS_DECIDE


def _retry_notice(obj: dict[str, Any]) -> str:
    """``claude: API request failed (HTTP 529, overloaded); retry 2 of 10 in 1.2 s``."""
    status = count(obj.get("error_status"))
    error = text_field(obj, "error")
    causes = [f"HTTP {status}" if status is not None else "", clip(error or "", 80)]
    notice = "claude: API request failed"
    if cause := ", ".join(part for part in causes if part):
        notice += f" ({cause})"
    attempt = count(obj.get("attempt"))
    if attempt is not None:
        limit = count(obj.get("max_retries"))
        notice += f"; retry {attempt}" + (f" of {limit}" if limit is not None else "")
        delay = amount(obj.get("retry_delay_ms"))
        if delay is not None:
            notice += f" in {delay / 1000:.1f} s"
    return notice


@final
class ClaudeDriver(ParkingDriver):
    """How the session actor runs claude: ``DRIVER.argv(executable, model)`` and friends."""

    __slots__ = ()

    @property
    def profile(self) -> ProviderProfile:
        """:data:`CLAUDE`."""
        return CLAUDE

    @property
    def credential_files(self) -> tuple[str, ...]:
        """Where ``claude login`` keeps its credentials, relative to HOME."""
        return (".claude/.credentials.json",)

    def launch(self, request: LaunchRequest) -> Launch:
        """``claude -p`` with stream-json in and out, token deltas, and nothing of an agent.

        No built-in tools, no MCP server unless given, no user or project settings, no
        skills or slash commands, no session written to disk.
        """
        return Launch(
            argv=(
                request.executable,
                "-p",
                "--input-format=stream-json",
                "--output-format=stream-json",
                "--verbose",  # required by stream-json
                "--include-partial-messages",  # token deltas
                f"--model={request.model}",
                "--tools=",
                "--strict-mcp-config",
                "--setting-sources=",
                "--disable-slash-commands",
                "--no-session-persistence",
                *request.extra_args,
            )
        )

    def deliver(self, conversation: Conversation, request: LaunchRequest) -> Delivery:
        """The conversation as stream-json lines (:func:`claude_delivery`)."""
        return claude_delivery(conversation, request.persona)

    def fixed_env(self) -> Mapping[str, str]:
        """``DISABLE_AUTOUPDATER`` and ``CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC``."""
        return _FIXED_ENV

    def decoder(self, acks: int = 0) -> ClaudeDecoder:
        """A fresh :class:`ClaudeDecoder` for one session."""
        return ClaudeDecoder(acks)


DRIVER: Final = ClaudeDriver()
"""The claude driver the session actor uses (a :class:`CliDriver`)."""
