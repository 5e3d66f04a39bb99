"""OpenAI Codex CLI (``codex exec``): its facts, its command line and its JSONL decoder.

Codex has an agent loop, so it could publish ``cli_agent_v2``; the endpoint still runs
it completion-only (SPEC §4.3). Each session resumes a transcript written into its own
private ``CODEX_HOME`` (:mod:`contracts.providers.codex_transcript`): the client's system
prompt and turns, not codex's persona. Its exec mode gives no token deltas, only whole
messages: each completed ``agent_message`` is one :class:`Message`, and the answer is
the last of them::

    >>> from contracts.providers._delivery import LaunchRequest, Workspace
    >>> from contracts.providers.codex import CODEX, DRIVER
    >>> CODEX.executable
    'codex'
    >>> request = LaunchRequest(executable="codex", model="gpt-5",
    ...                         workspace=Workspace("/tmp/s", "9b2e"))
    >>> DRIVER.launch(request).argv[-3:]
    ('resume', '9b2e', '-')
    >>> DRIVER.decoder().feed(b'{"type":"thread.started","thread_id":"t1"}')
    [Started(provider='codex', session_id='t1', model=None)]
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final, final

from contracts.conversation import Conversation, RequestOptions
from contracts.providers._delivery import Delivery, Launch, LaunchRequest, ParkingDriver
from contracts.providers._profile import ProviderProfile
from contracts.providers._stream_json import (
    JsonLineDecoder,
    any_of,
    clip,
    count,
    object_field,
    text_field,
)
from contracts.providers.codex_transcript import (
    TRANSCRIPT_DIR,
    tool_free_catalog,
    transcript,
    transcript_bytes,
)
from contracts.session import FailedKind, SessionEvent, Usage, Warning, finish_reason_from

__all__ = [
    "CODEX",
    "COMPLETION_ONLY_CONFIG",
    "DRIVER",
    "NO_PERSONA_CONFIG",
    "CodexDecoder",
    "CodexDriver",
]

CODEX = ProviderProfile(
    verified_version="0.169.0",
    server_mode="app-server",
    default_mode="worker",
    default_upstream="https://api.openai.com/v1",
    id="codex",
    display_name="OpenAI Codex CLI",
    executable="codex",
    bin_env="ASM_CODEX_BIN",
    capabilities=frozenset(
        {"interrupt", "reasoning", "resume", "streaming", "structured_output", "tools"}
    ),
    # CODEX_HOME locates auth.json; CODEX_API_KEY authenticates exec mode directly.
    auth_env=("CODEX_API_KEY", "CODEX_HOME"),
    agent_surface=True,
    parameters=frozenset({"reasoning_effort"}),
    response_formats=frozenset({"json_schema"}),
)

COMPLETION_ONLY_CONFIG: Final[tuple[str, ...]] = (
    'approval_policy="never"',
    'web_search="disabled"',
    # `--sandbox=read-only` stops writes, not commands: with shell_tool off codex offers
    # no shell at all (neither exec_command/write_stdin nor shell, shell_command,
    # local_shell) and answers a call of one "unsupported call". Source: openai/codex
    # codex-rs/tools/src/tool_config.rs (`!shell_tool` → ConfigShellToolType::Disabled).
    "features.shell_tool=false",
    "features.unified_exec=false",
    # The shell snapshot runs `bash -lc` (sourcing ~/.bashrc) in a session of its own,
    # outside the CLI's process group; with no shell tool it serves nothing.
    "features.shell_snapshot=false",
    "features.apply_patch_freeform=false",  # "removed" in 0.169.0; older versions read it
    "features.view_image=false",
    "features.goals=false",  # get_goal, create_goal, update_goal
    "features.sleep_tool=false",  # clock.sleep (GPT-6 models)
    "features.code_mode=false",
    "features.code_mode_only=false",
    "features.multi_agent=false",
    # GPT-6 models get sub-agent tools (spawn_agent …) from the model catalog whatever
    # the feature says; disable_native_tools withdraws them.
    "features.multi_agent_v2.enabled=false",
    "features.multi_agent_v2.disable_native_tools=true",
    "features.request_permissions_tool=false",
    "features.tool_suggest=false",
    "features.apps=false",
    "features.plugins=false",
    "features.image_generation=false",
    "features.memories=false",
    "features.hooks=false",  # lifecycle hooks run commands from hooks.json
    "tools.experimental_request_user_input.enabled=false",
    "tools.update_plan.enabled=false",
)
"""The ``-c`` overrides of a completion-only run (proven against codex 0.169.0 by
``tests/real_cli/test_codex.py``).

They are the overrides codex itself uses for its read-only "temporary structured
thread", plus goals, sleep and the GPT-6 sub-agent tools. An unknown ``features`` or
``tools`` key is ignored. What the model catalog still gives a known model cannot be
withdrawn from the command line: ``apply_patch`` (e.g. gpt-5.5), and for GPT-6 models
the code-mode ``exec``/``wait`` pair, whose JavaScript has no file system, network or
shell, and whose only acting nested tool is that same ``apply_patch``. The read-only
sandbox with ``approval_policy="never"`` rejects every patch ("patch rejected: writing
is blocked by read-only sandbox").
"""

NO_PERSONA_CONFIG: Final[tuple[str, ...]] = (
    "include_permissions_instructions=false",
    "include_environment_context=false",
    "include_apps_instructions=false",
    "include_collaboration_mode_instructions=false",
    "skills.include_instructions=false",
    "skills.bundled.enabled=false",
)
"""The ``-c`` overrides that keep codex's own instructions out of a completion: the
sandbox and approval text, the environment context, the apps, collaboration-mode and
skills instructions (0.169.0). The persona itself is replaced by the transcript's
``base_instructions``."""

CODEX_HOME: Final = "codex-home"
"""The session's private CODEX_HOME, inside its workspace."""
_CATALOG: Final = "model-catalog.json"
_SCHEMA: Final = "output-schema.json"

# codex 0.169.0 ends a cut answer with: error and turn.failed "Incomplete response
# returned, reason: max_output_tokens" (content_filter: after five reconnects, "stream
# disconnected before completion: Incomplete response returned, reason: content_filter").
_INCOMPLETE = re.compile(r"Incomplete response returned, reason: (\w+)")

# codex retries 401s for a while, then reports "401 Unauthorized" in turn.failed.
# A custom model provider whose env_key is unset fails at once with "Missing environment
# variable: `KEY`." (turn.failed), before any request.
_LOGIN = any_of(
    r"\b401\b",
    r"unauthori[sz]ed",
    r"not logged in",
    r"codex login",
    r"missing environment variable",
)


class CodexDecoder(JsonLineDecoder):
    """Decodes ``codex exec --json`` lines.

    ``CodexDecoder().feed(line)`` → session events; see :class:`LineDecoder`.
    """

    provider = "codex"

    def __init__(self, acks: int = 0) -> None:
        super().__init__(acks)
        # The last non-fatal error, to explain a run that then ends without a result.
        self._last_error: str | None = None

    def _decode(self, obj: dict[str, Any]) -> list[SessionEvent]:
        match text_field(obj, "type"):
            case "thread.started":
                return self._start(obj, "thread_id")
            case "item.completed":
                return self._item(object_field(obj, "item"))
            case "error":
                return self._warning(text_field(obj, "message"))
            case "turn.completed":
                return self._turn_completed(object_field(obj, "usage"))
            case "turn.failed":
                message = text_field(object_field(obj, "error"), "message") or "the turn failed"
                incomplete = _INCOMPLETE.search(message)
                reason = finish_reason_from(incomplete[1]) if incomplete else "stop"
                if reason != "stop" and self.text:
                    return self._succeed(reason)  # an answer cut at the limit, or filtered
                kind: FailedKind = "not_logged_in" if _LOGIN.search(message) else "crashed"
                return self._fail(kind, f"codex: {clip(message)}")
        return []

    def _item(self, item: dict[str, Any] | None) -> list[SessionEvent]:
        match text_field(item, "type"):
            case "agent_message":
                text = text_field(item, "text") or ""
                if text:
                    self._answer = text  # the answer is the last message, not all of them
                return self._message(text)
            case "error":
                return self._warning(text_field(item, "message"))
        # reasoning, command_execution, file_change, … are not part of the answer.
        return []

    def _warning(self, message: str | None) -> list[SessionEvent]:
        if not message:
            return []
        self._last_error = message
        return [Warning(message=f"codex: {clip(message)}")]

    def _turn_completed(self, usage: dict[str, Any] | None) -> list[SessionEvent]:
        self._succeed()
        prompt = count(usage.get("input_tokens")) if usage else None
        output = count(usage.get("output_tokens")) if usage else None
        if prompt is None and output is None:
            return []
        # OpenAI's input_tokens already include the cached ones.
        cached = count(usage.get("cached_input_tokens")) if usage else None
        return [
            Usage(
                input_tokens=prompt or 0,
                output_tokens=output or 0,
                cached_input_tokens=cached,
            )
        ]

    def _login_failure(self, stderr_tail: str) -> bool:
        return bool(_LOGIN.search(stderr_tail) or _LOGIN.search(self._last_error or ""))


@final
class CodexDriver(ParkingDriver):
    """How the session actor runs codex: ``DRIVER.argv(executable, model)`` and friends."""

    __slots__ = ()

    @property
    def profile(self) -> ProviderProfile:
        """:data:`CODEX`."""
        return CODEX

    @property
    def credential_files(self) -> tuple[str, ...]:
        """Where ``codex login`` keeps its credentials, relative to HOME."""
        return (".codex/auth.json",)

    def needs_launch(self, conversation: Conversation) -> bool:
        """A JSON Schema or a reasoning effort is on codex's command line."""
        options = conversation.options
        return options.response_format is not None or options.reasoning_effort is not None

    def probe_argv(self, executable: str) -> tuple[str, ...] | None:
        """``codex debug models``: the catalog :meth:`launch` rewrites without tools."""
        return (executable, "debug", "models")

    def launch(self, request: LaunchRequest) -> Launch:
        """``codex exec … resume <session id> -``: JSON lines, read-only, no user config,
        no tools, its own CODEX_HOME; the final ``-`` reads the prompt from stdin."""
        workspace, options = request.workspace, _options(request.conversation)
        overrides, files = _overrides(request)
        if options is not None and options.reasoning_effort is not None:
            overrides.append(f"model_reasoning_effort={_toml(options.reasoning_effort)}")
        schema: tuple[str, ...] = ()
        if options is not None and options.response_format is not None:
            files[_SCHEMA] = _json(options.response_format.json_schema())
            schema = (f"--output-schema={workspace.path(_SCHEMA)}",)
        return Launch(
            argv=(
                request.executable,
                "exec",
                "--json",
                "--skip-git-repo-check",
                "--color=never",
                "--ephemeral",
                "--sandbox=read-only",
                f"--model={request.model}",
                "--ignore-user-config",
                *(f"--config={override}" for override in overrides),
                *request.extra_args,  # before "resume": codex reads options, then the session
                *schema,
                "resume",
                workspace.session_id,
                "-",
            ),
            **_home(request),
            files=files,
        )

    def worker_launch(self, request: LaunchRequest) -> Launch:
        """``codex app-server`` for a worker (:mod:`contracts.providers.codex_app_server`):
        the completion-only overrides of :meth:`launch`, the read-only sandbox, the model
        as the default of its threads, its own CODEX_HOME (no user config.toml in it).
        The JSON Schema and the reasoning effort travel with each turn instead."""
        overrides, files = _overrides(request)
        overrides += ['sandbox_mode="read-only"', f"model={_toml(request.model)}"]
        return Launch(
            argv=(
                request.executable,
                "app-server",
                *(f"--config={override}" for override in overrides),
                *request.extra_args,
            ),
            **_home(request),
            files=files,
        )

    def deliver(self, conversation: Conversation, request: LaunchRequest) -> Delivery:
        """The transcript into the session's CODEX_HOME, then the last turn on stdin."""
        workspace = request.workspace
        lines = transcript(
            conversation,
            workspace.session_id,
            cwd=workspace.path("work"),
            model=request.model,
            persona=request.persona,
        )
        name = f"{CODEX_HOME}/{TRANSCRIPT_DIR}/rollout-{workspace.session_id}.jsonl"
        return Delivery(
            files={name: transcript_bytes(lines)},
            steps=(conversation.prompt.encode("utf-8"),),
        )

    def fixed_env(self) -> Mapping[str, str]:
        """Nothing: every completion-only setting of codex is on its command line."""
        return MappingProxyType({})

    def decoder(self, acks: int = 0) -> CodexDecoder:
        """A fresh :class:`CodexDecoder` for one session."""
        return CodexDecoder(acks)


def _overrides(request: LaunchRequest) -> tuple[list[str], dict[str, bytes]]:
    """The ``-c`` overrides of a completion-only codex, and the files they name."""
    files: dict[str, bytes] = {}
    overrides = list(COMPLETION_ONLY_CONFIG)
    if request.persona == "completion":
        overrides += NO_PERSONA_CONFIG
    catalog = tool_free_catalog(request.probe) if request.probe is not None else None
    if catalog is not None:
        files[_CATALOG] = catalog
        overrides.append(f"model_catalog_json={_toml(request.workspace.path(_CATALOG))}")
    return overrides, files


def _home(request: LaunchRequest) -> dict[str, Any]:
    """The private CODEX_HOME: its variable, its directory, the operator's auth.json in it."""
    home = request.environ.get("CODEX_HOME") or posixpath.join(request.home or "~", ".codex")
    return {
        "env": {"CODEX_HOME": request.workspace.path(CODEX_HOME)},
        "dirs": (CODEX_HOME,),
        "links": ((f"{CODEX_HOME}/auth.json", posixpath.join(home, "auth.json")),),
    }


def _options(conversation: Conversation | None) -> RequestOptions | None:
    return conversation.options if conversation is not None else None


def _toml(text: str) -> str:
    """``text`` as a TOML string (a ``-c`` value): JSON's escaping is TOML's."""
    return json.dumps(text)


def _json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


DRIVER: Final = CodexDriver()
"""The codex driver the session actor uses (a :class:`CliDriver`)."""
