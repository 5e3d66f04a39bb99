"""Amp CLI (``amp -x``): its facts, its command line and its stream-json decoder.

Amp publishes the common surface only (completion and streaming). It has no model flag
and talks to its own service, so the pinned model id is bookkeeping only. Its lines
have Claude Code's shape without partial deltas: every ``assistant`` line is a whole
:class:`Message`, and the usage of all of them is summed, because the result carries
none. A cut answer says so in its messages' ``stop_reason`` (``max_tokens``: "length").

Amp's service builds the model's prompt itself (its agent mode picks the system prompt,
model and tools; there is no flag for a system prompt), so amp gets the client's
conversation flattened into one prompt, system text included
(:meth:`~contracts.conversation.Conversation.flattened`)::

    >>> from contracts.providers._delivery import LaunchRequest, Workspace
    >>> from contracts.providers.amp import AMP, DRIVER
    >>> AMP.auth_env
    ('AMP_API_KEY', 'AMP_URL')
    >>> DRIVER.launch(LaunchRequest(executable="amp", model="amp-smart",
    ...                             workspace=Workspace("/tmp/s", "id"))).argv
    ('amp', '-x', '--stream-json', '--no-ide', '--no-notifications')
    >>> DRIVER.decoder().feed(b'{"type":"assistant","message":{"content":[]}}')
    []
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
    anthropic_text,
    anthropic_usage,
    any_of,
    capped_sum,
    clip,
    describe_exit,
    object_field,
    text_field,
)
from contracts.session import (
    Failed,
    FailedKind,
    FinishReason,
    SessionEvent,
    Usage,
    finish_reason_from,
)

__all__ = ["AMP", "DRIVER", "AmpDecoder", "AmpDriver"]

AMP = ProviderProfile(
    verified_version="0.0.1790142911",
    default_upstream="https://ampcode.com",
    id="amp",
    display_name="Amp CLI",
    executable="amp",
    bin_env="ASM_AMP_BIN",
    capabilities=frozenset({"approval", "interrupt", "mcp", "streaming", "thinking", "tools"}),
    # AMP_URL selects the Amp server; `amp login` state lives in its config dir.
    auth_env=("AMP_API_KEY", "AMP_URL"),
    agent_surface=False,
    base_url_env="AMP_URL",
)

# Amp's own wording when it has no usable key: "No API key found. Starting login
# flow..." (written to stdout, before any JSON), "API key required. Please run `amp
# login` first.", "You must be logged in …", an invalid-key error.
_LOGIN = any_of(
    r"amp login",
    r"\blog(?:ged)? in\b",
    r"login flow",
    r"api key",
    r"unauthori[sz]ed",
    r"\b401\b",
)
# "Couldn't connect to the Amp server at …" is the network, not the login. amp 0.0.1790142911
# prints it on stderr and exits 1 when AMP_URL (default https://ampcode.com) is out of reach;
# stderr only classifies, so the message names what to check, not the URL amp printed.
_UNREACHABLE = any_of(r"(?:couldn't|could not) connect to the amp server")
_CHECK = (
    "check this host's network and proxy, and the AMP_URL set for amp (unset: https://ampcode.com)"
)


class AmpDecoder(JsonLineDecoder):
    """Decodes ``amp -x --stream-json`` lines.

    ``AmpDecoder().feed(line)`` → session events; see :class:`LineDecoder`. One
    refinement of the contract: amp announces a missing login on stdout as plain text,
    so such a line gives ``Failed(kind="not_logged_in")`` instead of a protocol error.
    """

    provider = "amp"

    def __init__(self, acks: int = 0) -> None:
        super().__init__(acks)
        self._usage: list[tuple[int, int, int]] = []
        self._stop: FinishReason | None = None

    def _decode(self, obj: dict[str, Any]) -> list[SessionEvent]:
        match text_field(obj, "type"):
            case "system" if text_field(obj, "subtype") == "init":
                return self._start(obj)
            case "assistant":
                message = object_field(obj, "message")
                if (reason := text_field(message, "stop_reason")) is not None:
                    self._stop = finish_reason_from(reason)
                if (usage := anthropic_usage(object_field(message, "usage"))) is not None:
                    self._usage.append(usage)
                    self._pending_usage = self._summed_usage()
                return self._message(anthropic_text(message))
            case "result":
                return self._result(obj)
        # user lines echo the prompt and carry tool results: no part of the answer.
        return []

    def _result(self, obj: dict[str, Any]) -> list[SessionEvent]:
        events: list[SessionEvent] = []
        said = text_field(obj, "error") or text_field(obj, "result") or ""
        if obj.get("is_error") is True or text_field(obj, "subtype") not in (None, "success"):
            self._fail(*_failure(said))
        else:
            if not self.text and said:
                events += self._message(said)
            self._succeed(self._stop)
        if self._pending_usage is not None:
            events.append(self._pending_usage)
            self._pending_usage = None
        return events

    def _summed_usage(self) -> Usage:
        return Usage(
            input_tokens=capped_sum(prompt for prompt, _, _ in self._usage),
            output_tokens=capped_sum(output for _, output, _ in self._usage),
            cached_input_tokens=capped_sum(cached for _, _, cached in self._usage),
        )

    def _not_json(self, line: bytes) -> Failed:
        text = line.decode("utf-8", "replace")
        if _LOGIN.search(text) and not _UNREACHABLE.search(text):
            return Failed(kind="not_logged_in", message="amp: not logged in (run `amp login`)")
        return super()._not_json(line)

    def _without_result(self, exit_code: int | None, stderr_tail: str) -> Failed:
        ended = f"amp {describe_exit(exit_code)}"
        if _UNREACHABLE.search(stderr_tail):
            return Failed(kind="unreachable", message=_unreachable(ended), exit_code=exit_code)
        if self._login_failure(stderr_tail):
            return Failed(kind="not_logged_in", message=_login(ended), exit_code=exit_code)
        return super()._without_result(exit_code, stderr_tail)

    def _login_failure(self, stderr_tail: str) -> bool:
        return bool(_LOGIN.search(stderr_tail))


def _failure(said: str) -> tuple[FailedKind, str]:
    """The kind and message of a failed result, from what amp said."""
    if _UNREACHABLE.search(said):
        return "unreachable", _unreachable("it reported a failed run")
    if _LOGIN.search(said):
        return "not_logged_in", _login(clip(said, 120))
    return "crashed", f"amp: {clip(said or 'the run failed')}"


def _unreachable(ended: str) -> str:
    """``amp: couldn't connect to the Amp server (amp exited with code 1); check …``."""
    return f"amp: couldn't connect to the Amp server ({ended}); {_CHECK}"


def _login(said: str) -> str:
    """``amp: not logged in or its API key was rejected (…); run `amp login` …``."""
    return (
        f"amp: not logged in or its API key was rejected ({said}); run `amp login` as the user"
        " asm runs as, or set AMP_API_KEY in [providers.amp.env]"
    )


@final
class AmpDriver(ParkingDriver):
    """How the session actor runs amp: ``DRIVER.argv(executable, model)`` and friends."""

    __slots__ = ()

    @property
    def profile(self) -> ProviderProfile:
        """:data:`AMP`."""
        return AMP

    @property
    def credential_files(self) -> tuple[str, ...]:
        """Where ``amp login`` keeps its key, relative to HOME.

        ``secrets.json`` maps ``apiKey@<server URL>`` to the key. The settings file
        (``.config/amp/settings.json``) holds no credential, only preferences, MCP
        servers and permissions, so an isolated home leaves it out.
        """
        return (".local/share/amp/secrets.json",)

    def launch(self, request: LaunchRequest) -> Launch:
        """``amp -x`` (execute mode) as stream-json, detached from any IDE.

        The model is unused: amp has no model flag (its agent mode picks the model).
        """
        return Launch(
            argv=(
                request.executable,
                "-x",
                "--stream-json",
                "--no-ide",
                "--no-notifications",
                *request.extra_args,
            )
        )

    def deliver(self, conversation: Conversation, request: LaunchRequest) -> Delivery:
        """The conversation flattened into one prompt on stdin."""
        return Delivery(steps=(conversation.flattened().encode("utf-8"),))

    def fixed_env(self) -> Mapping[str, str]:
        """Nothing: amp's completion-only settings are its command line."""
        return MappingProxyType({})

    def decoder(self, acks: int = 0) -> AmpDecoder:
        """A fresh :class:`AmpDecoder` for one session."""
        return AmpDecoder(acks)


DRIVER: Final = AmpDriver()
"""The amp driver the session actor uses (a :class:`CliDriver`)."""
