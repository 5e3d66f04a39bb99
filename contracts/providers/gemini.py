"""Gemini CLI (``gemini``): its facts, its command line and its stream-json decoder.

Gemini publishes the common surface only (completion and streaming): it is not one of
the CLIs whose agent loop ASM publishes (SPEC §2.2). It runs headless because its stdin
is not a terminal (shared/PROVIDERS.md). The client's system prompt is the file
``GEMINI_SYSTEM_MD`` names (in place of gemini's agent persona) and earlier turns are a
session file (``--session-file``); gemini reads both as it starts, and gives up on
stdin 0.5 s after start-up (0.61.0), so a gemini session starts only once its
conversation is known and is never parked::

    >>> from contracts.conversation import Conversation
    >>> from contracts.providers._delivery import LaunchRequest, Workspace
    >>> from contracts.providers.gemini import DRIVER, GEMINI
    >>> GEMINI.agent_surface, DRIVER.parks
    (False, False)
    >>> request = LaunchRequest(executable="gemini", model="gemini-2.5-flash",
    ...                         workspace=Workspace("/tmp/s", "id"),
    ...                         conversation=Conversation.from_prompt("Hi"))
    >>> DRIVER.launch(request).argv[1:3]
    ('--output-format=stream-json', '--model=gemini-2.5-flash')
    >>> DRIVER.decoder().feed(
    ...     b'{"type":"message","role":"assistant","content":"Hi","delta":true}')
    [TextDelta(text='Hi')]

Fatal errors may come with no result line at all, only an exit code; exit 41 is a
failed login.

Plan mode alone does not keep a headless gemini read-only: a model that calls
``exit_plan_mode`` is approved at once and a non-interactive gemini switches to YOLO,
after which ``run_shell_command`` runs (seen with gemini 0.61.0 against a hostile fake
upstream). So the command line loads :data:`NO_TOOLS_POLICY`, a policy that denies
every tool, as an admin policy (and as the user policy, in case the host's own admin
policies make gemini ignore ``--admin-policy``): gemini then offers the model no tool at
all, and plan mode (which only added a plan-mode system prompt) is no longer used. Its
system defaults (:data:`SYSTEM_DEFAULTS`, the lowest settings layer, so the
operator's own settings still win) stop it retrying a refused connection for minutes:
an unreachable API ends the run at once with a result line that decodes as
``unreachable``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, final

from contracts.conversation import Conversation
from contracts.providers._delivery import Delivery, Launch, LaunchRequest
from contracts.providers._profile import ProviderProfile
from contracts.providers._stream_json import (
    JsonLineDecoder,
    any_of,
    capped_sum,
    clip,
    count,
    describe_exit,
    object_field,
    text_field,
)
from contracts.providers.gemini_record import (
    LOGIN_HELP,
    UNREACHABLE_HELP,
    history_record,
    persona_turns,
)
from contracts.session import Failed, FailedKind, SessionEvent, Usage, Warning

__all__ = [
    "DRIVER",
    "EXIT_MEANINGS",
    "GEMINI",
    "NO_TOOLS_POLICY",
    "SYSTEM_DEFAULTS",
    "GeminiDecoder",
    "GeminiDriver",
]

GEMINI = ProviderProfile(
    verified_version="0.61.0",
    default_upstream="https://generativelanguage.googleapis.com",
    id="gemini",
    display_name="Gemini CLI",
    executable="gemini",
    bin_env="ASM_GEMINI_BIN",
    capabilities=frozenset({"extensions", "interrupt", "sandbox", "streaming", "tools"}),
    # API key, Vertex AI (with an API key or application default credentials), and the
    # base-URL override the offline fake upstream relies on.
    auth_env=(
        "GEMINI_API_KEY",
        "GOOGLE_API_KEY",
        "GOOGLE_GENAI_USE_VERTEXAI",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "GOOGLE_CLOUD_PROJECT",
        "GOOGLE_CLOUD_LOCATION",
        "GOOGLE_GEMINI_BASE_URL",
    ),
    agent_surface=False,
    base_url_env="GOOGLE_GEMINI_BASE_URL",
    # 0.61.0 reads stdin for 0.5 s once it has started, then exits 42 "No input provided".
    stdin_wait_seconds=0.5,
    server_mode="acp",
)

_AUTH_EXIT: Final = 41

EXIT_MEANINGS: Final[Mapping[int, str]] = MappingProxyType(
    {
        1: "general error",
        _AUTH_EXIT: "authentication failed",
        42: "invalid input",
        52: "configuration error",
        53: "turn limit reached",
        54: "tool error",
        55: "untrusted workspace",
        130: "cancelled",
    }
)
"""What gemini's exit codes mean (shared/PROVIDERS.md), for the failure message."""

# The error type of a result gemini writes before it exits 41.
_AUTH_ERROR = any_of(r"auth")
# A result's error when the API could not be reached at all (the real line says
# "[API Error: exception TypeError: fetch failed sending request]").
_UNREACHABLE = any_of(
    r"fetch failed", r"\bECONNREFUSED\b", r"\bENOTFOUND\b", r"\bEAI_AGAIN\b", r"\bEHOSTUNREACH\b"
)

NO_TOOLS_POLICY: Final = str(Path(__file__).with_name("gemini_no_tools.toml"))
"""The policy file that denies gemini every tool (``--admin-policy`` and ``--policy``)."""

SYSTEM_DEFAULTS: Final = str(Path(__file__).with_name("gemini_defaults.json"))
"""Gemini's system-defaults settings for asm's sessions: no retrying of failed connections."""


class GeminiDecoder(JsonLineDecoder):
    """Decodes ``gemini --output-format=stream-json`` lines.

    ``GeminiDecoder().feed(line)`` → session events; see :class:`LineDecoder`.
    """

    provider = "gemini"

    def __init__(self, acks: int = 0) -> None:
        super().__init__(acks)
        self._deltas = False
        # The last error-severity event: it explains a run that ends without a result.
        self._last_error: str | None = None

    def _decode(self, obj: dict[str, Any]) -> list[SessionEvent]:
        match text_field(obj, "type"):
            case "init":
                return self._start(obj)
            case "message":
                return self._message_line(obj)
            case "error":
                return self._error(obj)
            case "result":
                return self._result(obj)
        # tool_use and tool_result: plan mode refuses the tools; they are no answer.
        return []

    def _message_line(self, obj: dict[str, Any]) -> list[SessionEvent]:
        # The prompt comes back as a user message; only the assistant's text counts.
        if text_field(obj, "role") != "assistant":
            return []
        content = text_field(obj, "content") or ""
        if obj.get("delta") is True:
            self._deltas = True
            return self._delta(content)
        # A whole message after deltas repeats them (quiet mode writes one at the end).
        return [] if self._deltas else self._message(content)

    def _error(self, obj: dict[str, Any]) -> list[SessionEvent]:
        message = text_field(obj, "message")
        if not message:
            return []
        if text_field(obj, "severity") == "warning":
            return [Warning(message=f"gemini: {clip(message)}")]
        self._last_error = message
        return []

    def _result(self, obj: dict[str, Any]) -> list[SessionEvent]:
        if text_field(obj, "status") == "success":
            self._succeed()
        else:
            error = object_field(obj, "error")
            message = text_field(error, "message") or self._last_error or "the run failed"
            if _UNREACHABLE.search(message):
                self._fail(
                    "unreachable",
                    f"gemini could not reach the Gemini API ({clip(message, 120)});"
                    f" {UNREACHABLE_HELP}",
                )
            else:
                auth = _AUTH_ERROR.search(text_field(error, "type") or "")
                kind: FailedKind = "not_logged_in" if auth else "crashed"
                self._fail(kind, f"gemini: {clip(message)}")
        return _usage(object_field(obj, "stats"))

    def _classify(
        self, kind: FailedKind, message: str, exit_code: int | None
    ) -> tuple[FailedKind, str]:
        return ("not_logged_in" if exit_code == _AUTH_EXIT else kind), message

    def _without_result(self, exit_code: int | None, stderr_tail: str) -> Failed:
        if exit_code == 0:
            return super()._without_result(exit_code, stderr_tail)
        meaning = EXIT_MEANINGS.get(exit_code) if exit_code is not None else None
        how = describe_exit(exit_code) + (f" ({meaning})" if meaning else "")
        detail = f": {clip(self._last_error)}" if self._last_error else ""
        if exit_code == _AUTH_EXIT:
            return Failed(
                kind="not_logged_in",
                message=f"gemini: not logged in (it {how}){detail}; {LOGIN_HELP}",
                exit_code=exit_code,
            )
        return Failed(
            kind="crashed",
            message=f"gemini {how} without a result{detail}",
            exit_code=exit_code,
        )


def _usage(stats: dict[str, Any] | None) -> list[SessionEvent]:
    """The Usage of a result's stats; the top-level counts already sum every model.

    ``input_tokens`` is gemini's prompt count, which includes the cached tokens.
    """
    if stats is None:
        return []
    models = list((object_field(stats, "models") or {}).values())
    prompt = _stat(stats, models, "input_tokens")
    output = _stat(stats, models, "output_tokens")
    if prompt is None and output is None:
        return []
    return [
        Usage(
            input_tokens=prompt or 0,
            output_tokens=output or 0,
            cached_input_tokens=_stat(stats, models, "cached"),
        )
    ]


def _stat(stats: dict[str, Any], models: list[Any], key: str) -> int | None:
    """``stats[key]``, or (older versions without it) the sum over the per-model stats."""
    total = count(stats.get(key))
    if total is not None:
        return total
    per_model = [
        n
        for entry in models
        if isinstance(entry, dict) and (n := count(entry.get(key))) is not None
    ]
    return capped_sum(per_model) if per_model else None


@final
class GeminiDriver:
    """How the session actor runs gemini: ``DRIVER.argv(executable, model)`` and friends."""

    __slots__ = ()

    @property
    def profile(self) -> ProviderProfile:
        """:data:`GEMINI`."""
        return GEMINI

    @property
    def credential_files(self) -> tuple[str, ...]:
        """Gemini's login (OAuth credentials, the chosen auth method, the account)."""
        return (".gemini/oauth_creds.json", ".gemini/settings.json", ".gemini/google_accounts.json")

    @property
    def parks(self) -> bool:
        """False: gemini reads its system prompt and history as it starts."""
        return False

    def needs_launch(self, conversation: Conversation) -> bool:
        """True: every conversation is given at start-up."""
        return True

    def probe_argv(self, executable: str) -> tuple[str, ...] | None:
        """None: gemini needs no probe."""
        return None

    def launch(self, request: LaunchRequest) -> Launch:
        """``gemini`` as stream-json with every tool denied, trusting its empty directory;
        the system prompt file and the earlier turns as a session file.

        The prompt goes to stdin, which also makes it run headless.
        """
        conversation = request.conversation
        if conversation is None:
            raise ValueError("gemini reads its conversation as it starts: launch it with one")
        workspace, files = request.workspace, {}
        env: dict[str, str] = {}
        if request.persona == "completion":
            files[_SYSTEM_MD] = conversation.system.encode("utf-8")
            env["GEMINI_SYSTEM_MD"] = workspace.path(_SYSTEM_MD)
        history = persona_turns(conversation, request.persona)[:-1]
        session: tuple[str, ...] = ()
        if history:
            files[_SESSION] = history_record(history, workspace.session_id)
            session = (f"--session-file={workspace.path(_SESSION)}",)
        return Launch(
            argv=(
                request.executable,
                "--output-format=stream-json",
                f"--model={request.model}",
                "--skip-trust",
                f"--admin-policy={NO_TOOLS_POLICY}",
                f"--policy={NO_TOOLS_POLICY}",
                *session,
                *request.extra_args,
            ),
            env=env,
            files=files,
        )

    def worker_launch(self, request: LaunchRequest) -> Launch:
        """``gemini --acp`` for a worker (:mod:`contracts.providers.gemini_acp`): the flags
        of :meth:`launch`; with the completion persona, ``GEMINI_SYSTEM_MD`` names the
        file each session's system prompt is written to before it opens."""
        env = {"GEMINI_SYSTEM_MD": request.workspace.path(_SYSTEM_MD)}
        completion = request.persona == "completion"
        return Launch(
            argv=(
                request.executable,
                "--acp",
                f"--model={request.model}",
                "--skip-trust",
                f"--admin-policy={NO_TOOLS_POLICY}",
                f"--policy={NO_TOOLS_POLICY}",
                *request.extra_args,
            ),
            env=env if completion else {},
            files={_SYSTEM_MD: b""} if completion else {},
        )

    def deliver(self, conversation: Conversation, request: LaunchRequest) -> Delivery:
        """The last turn on stdin (the rest went in at launch)."""
        prompt = persona_turns(conversation, request.persona)[-1].text
        return Delivery(steps=(prompt.encode("utf-8"),))

    def fixed_env(self) -> Mapping[str, str]:
        """The system defaults that end a run at once when the API cannot be reached."""
        return MappingProxyType({"GEMINI_CLI_SYSTEM_DEFAULTS_PATH": SYSTEM_DEFAULTS})

    def decoder(self, acks: int = 0) -> GeminiDecoder:
        """A fresh :class:`GeminiDecoder` for one session."""
        return GeminiDecoder(acks)


_SYSTEM_MD: Final = "system.md"
_SESSION: Final = "session.json"


DRIVER: Final = GeminiDriver()
"""The gemini driver the session actor uses (a :class:`CliDriver`)."""
