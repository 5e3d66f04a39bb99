"""OpenAI Codex CLI (``codex exec``): its facts, its command line and its JSONL decoder.

Codex has an agent loop, so it could publish ``cli_agent_v2``; the endpoint still runs
it completion-only (SPEC §4.3). Its exec mode gives no token deltas, only whole
messages: each completed ``agent_message`` is one :class:`Message`, and the answer is
the last of them::

    >>> from contracts.providers.codex import CODEX, DRIVER
    >>> CODEX.executable
    'codex'
    >>> DRIVER.argv("codex", "gpt-5")[-1]
    '-'
    >>> DRIVER.decoder().feed(b'{"type":"thread.started","thread_id":"t1"}')
    [Started(provider='codex', session_id='t1', model=None)]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final, final

from contracts.providers._profile import ProviderProfile
from contracts.providers._stream_json import (
    JsonLineDecoder,
    any_of,
    clip,
    count,
    object_field,
    text_field,
)
from contracts.session import FailedKind, SessionEvent, Usage, Warning

__all__ = ["CODEX", "COMPLETION_ONLY_CONFIG", "DRIVER", "CodexDecoder", "CodexDriver"]

CODEX = ProviderProfile(
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

    def __init__(self) -> None:
        super().__init__()
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
class CodexDriver:
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

    def argv(self, executable: str, model: str, extra_args: Sequence[str] = ()) -> tuple[str, ...]:
        """``codex exec`` as JSON lines, read-only, without the user's config or tools.

        The final ``-`` makes codex read the prompt from stdin.
        """
        return (
            executable,
            "exec",
            "--json",
            "--skip-git-repo-check",
            "--color=never",
            "--ephemeral",
            "--sandbox=read-only",
            f"--model={model}",
            "--ignore-user-config",
            *(f"--config={override}" for override in COMPLETION_ONLY_CONFIG),
            *extra_args,  # before the "-": codex reads options, then the prompt source
            "-",
        )

    def fixed_env(self) -> Mapping[str, str]:
        """Nothing: every completion-only setting of codex is on its command line."""
        return MappingProxyType({})

    def decoder(self) -> CodexDecoder:
        """A fresh :class:`CodexDecoder` for one session."""
        return CodexDecoder()


DRIVER: Final = CodexDriver()
"""The codex driver the session actor uses (a :class:`CliDriver`)."""
