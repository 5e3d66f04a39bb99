"""What a provider CLI is, and what it therefore publishes.

A profile states facts about one coding-agent CLI (its executable, the variable that
overrides it, its auth variables, the capabilities it really has). Publication is never
declared next to those facts: :func:`publication` derives it from them (SPEC §2.2), so a
profile cannot claim a surface its capabilities do not support, and the derivation
travels with the result, in words, for a consumer to read::

    >>> from contracts.providers import CODEX, publication
    >>> pub = publication(CODEX)
    >>> pub.published_capabilities
    ['cli_completion_v1', 'cli_streaming_v1', 'cli_agent_v2']

This module also holds the typed seam the per-CLI modules fill in: a :class:`CliDriver`
(its launch and delivery types live in :mod:`contracts.providers._delivery`) and a
:class:`LineDecoder` turning stdout lines into session events (SPEC §4.1).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Protocol

import msgspec

if TYPE_CHECKING:
    from collections.abc import Mapping

    # Only for annotations: importing them at run time is not needed for a Protocol.
    from contracts.conversation import Conversation
    from contracts.providers._delivery import Delivery, Launch, LaunchRequest
    from contracts.session import SessionEvent

__all__ = [
    "COMPLETION_CAPABILITIES",
    "PASSTHROUGH_ENV",
    "CliDriver",
    "LineDecoder",
    "ProviderProfile",
    "Publication",
    "is_published",
    "publication",
    "scrubbed_environment",
]

COMPLETION_CAPABILITIES: frozenset[str] = frozenset(
    {"streaming", "reasoning", "thinking", "tools", "extensions", "mcp"}
)
"""Any one of these makes a CLI able to answer a completion (``cli_completion_v1``)."""

_AGENT_CAPABILITIES: tuple[str, ...] = ("streaming", "tools")


class ProviderProfile(msgspec.Struct, frozen=True, kw_only=True):
    """The facts about one provider CLI.

    ``agent_surface`` says the CLI has an agent loop that could be published as
    ``cli_agent_v2`` (claude and codex); the endpoint itself never exposes it.

    Example::

        ProviderProfile(id="demo", display_name="Demo", executable="demo",
                        bin_env="ASM_DEMO_BIN", capabilities=frozenset({"streaming"}))
    """

    id: str
    display_name: str
    executable: str
    bin_env: str
    capabilities: frozenset[str]
    auth_env: tuple[str, ...] = ()
    agent_surface: bool = False
    base_url_env: str | None = None
    """The variable that points the CLI at its service (named when it cannot be reached)."""
    default_upstream: str | None = None
    """The service the CLI talks to when nothing points it elsewhere (``asm doctor``)."""
    verified_version: str | None = None
    """The CLI version the real-CLI tier runs (the Makefile's pin; PROVIDERS.md)."""
    server_mode: str | None = None
    """The long-lived server mode a worker runs (``codex app-server``), None without one."""
    default_mode: Literal["spawn", "worker"] = "spawn"
    """How its completions run when ``asm.toml`` does not say (``worker`` needs a server
    mode, and is the default only where the workers pass the real-CLI tier)."""
    stdin_wait_seconds: float | None = None
    """How long the CLI waits for its prompt on stdin before it gives up (None: forever),
    in the input mode its driver uses. The warm pool parks a session for less than this
    (:mod:`actors.sessions.pool`)."""
    parameters: frozenset[str] = frozenset()
    """The request parameters its driver passes on (:mod:`contracts.openai.params`); any
    other one a client gives is ignored and named in ``x-asm-ignored-params``."""
    response_formats: frozenset[str] = frozenset()
    """The ``response_format`` types it can hold an answer to (others are a 400)."""

    def has(self, capability: str) -> bool:
        """``CLAUDE.has("streaming")`` → True."""
        return capability in self.capabilities


class Publication(msgspec.Struct, frozen=True, kw_only=True):
    """What a profile publishes, with the reason for each flag in ``derivation``."""

    cli_completion_v1: bool
    cli_streaming_v1: bool
    cli_agent_v2: bool
    common_surface_only: bool
    published_capabilities: list[str]
    profile_capabilities: list[str]
    derivation: dict[str, str]


def publication(profile: ProviderProfile) -> Publication:
    """Derive the publication of ``profile`` (SPEC §2.2).

    >>> from contracts.providers import GEMINI
    >>> publication(GEMINI).common_surface_only
    True
    """
    held = sorted(profile.capabilities & COMPLETION_CAPABILITIES)
    completion = bool(held)
    streaming = profile.has("streaming")
    lacking = [name for name in _AGENT_CAPABILITIES if not profile.has(name)]
    agent = profile.agent_surface and not lacking
    flags = {
        "cli_completion_v1": completion,
        "cli_streaming_v1": streaming,
        "cli_agent_v2": agent,
    }
    completion_set = ", ".join(sorted(COMPLETION_CAPABILITIES))
    if completion:
        completion_why = f"has {', '.join(held)} (any of {completion_set} suffices)"
    else:
        completion_why = f"has none of {completion_set}"
    if agent:
        agent_why = "has an agent surface with streaming and tools"
    elif not profile.agent_surface:
        agent_why = "has no agent surface (only claude and codex have one)"
    else:
        agent_why = f"has an agent surface but lacks {', '.join(lacking)}"
    return Publication(
        cli_completion_v1=completion,
        cli_streaming_v1=streaming,
        cli_agent_v2=agent,
        common_surface_only=not agent,
        published_capabilities=[name for name, value in flags.items() if value],
        profile_capabilities=sorted(profile.capabilities),
        derivation={
            "cli_completion_v1": completion_why,
            "cli_streaming_v1": "has streaming" if streaming else "lacks streaming",
            "cli_agent_v2": agent_why,
            "common_surface_only": (
                "does not publish cli_agent_v2"
                if not agent
                else "publishes cli_agent_v2; the endpoint still serves only completion"
            ),
        },
    )


def is_published(profile: ProviderProfile) -> bool:
    """Whether an endpoint may be published for ``profile``: ``is_published(AMP)`` → True."""
    return publication(profile).cli_completion_v1


class LineDecoder(Protocol):
    """Turns one CLI's stdout, line by line, into session events.

    One decoder per session: it keeps state (whether token deltas were seen, so a whole
    message is not counted twice; the text so far; the result line). The session actor
    drives it and owns everything with a clock or a process (timeouts, cancellation,
    output size, a missing executable); the decoder owns what the CLI *said*.

    The contract, which every provider's decoder keeps:

    - :meth:`feed` gets one stdout line without its newline and returns zero or more of
      Started, TextDelta, Message, Usage and Warning. A blank line gives ``[]``. A JSON
      object of an unknown type is ignored (kept tolerant across CLI versions, never
      fatal). A line that is not a JSON object breaks the stream-json protocol: ``feed``
      returns ``[Failed(kind="protocol_error", ...)]`` and the actor ends the run.
    - :attr:`acks` counts the acknowledgements the CLI gave for stdin it was sent before
      the prompt (claude's history, one message at a time); lines that acknowledge are
      no part of the answer and give no events.
    - :attr:`done` turns True once the CLI has reported its final result, so the actor
      can stop waiting for more output and let the process exit; :attr:`succeeded` when
      that result was a success, so the answer can go out before the process is reaped.
    - :meth:`finish` gets the exit code (negative for a signal, as Python reports it)
      and the stderr tail, and returns the closing events: a Usage not yet sent (amp
      sums its assistant lines), then exactly one Finished or Failed. A reported
      success is Finished whatever the exit code; a login failure is
      ``not_logged_in``; exit 0 without a result is ``protocol_error``; any other end
      without a result is ``crashed``.
    - No event carries the CLI's stderr or a credential except ``Failed.stderr_tail``,
      which the actor fills in, not the decoder.
    """

    @property
    def acks(self) -> int:
        """How many acknowledgements of earlier stdin writes the CLI has given."""
        ...

    @property
    def done(self) -> bool:
        """True once the CLI's final result line has been decoded."""
        ...

    @property
    def succeeded(self) -> bool:
        """True once the CLI reported success: :meth:`finish` no longer depends on the exit.

        The actor then sends the closing events at once and reaps the process after,
        so a consumer never waits for a CLI's slow shutdown.
        """
        ...

    def feed(self, line: bytes) -> list[SessionEvent]:
        """Decode one stdout line (without its newline) into zero or more events."""
        ...

    def finish(self, exit_code: int | None, stderr_tail: str) -> list[SessionEvent]:
        """Classify the end of the run: the closing events once the process exited."""
        ...


class CliDriver(Protocol):
    """Everything the session actor needs to know to run one provider's CLI (SPEC §4.1).

    One per provider module (``contracts.providers.claude.DRIVER`` …). All of it is
    pure: the actor supplies the executable it resolved, the model, the session's
    workspace and the conversation; the driver answers with the command line, the files
    and stdin writes that carry the conversation (:mod:`contracts.providers._delivery`),
    and a fresh decoder.
    """

    @property
    def profile(self) -> ProviderProfile:
        """The provider's facts (id, executable name, auth variables, capabilities)."""
        ...

    @property
    def credential_files(self) -> tuple[str, ...]:
        """Paths relative to HOME that hold the CLI's login, copied into an isolated HOME."""
        ...

    @property
    def parks(self) -> bool:
        """Whether the CLI can start before its conversation is known (a warm pool)."""
        ...

    def needs_launch(self, conversation: Conversation) -> bool:
        """Whether ``conversation`` can only be given at start-up (so no parked process
        of this CLI can take it): e.g. a JSON Schema codex reads from its command line."""
        ...

    def probe_argv(self, executable: str) -> tuple[str, ...] | None:
        """A quick command whose output :meth:`launch` needs (run once per executable)."""
        ...

    def launch(self, request: LaunchRequest) -> Launch:
        """The headless completion-only command line and what it needs around it.

        ``request.extra_args`` (the operator's ``[providers.<id>].extra_args``) go where the
        CLI reads options, after the completion-only flags. The prompt is never on it.
        """
        ...

    def deliver(self, conversation: Conversation, request: LaunchRequest) -> Delivery:
        """The files and stdin writes that give the CLI started by ``request`` the
        ``conversation``."""
        ...

    def fixed_env(self) -> Mapping[str, str]:
        """Variables the completion-only posture sets for this CLI (never credentials)."""
        ...

    def decoder(self, acks: int = 0) -> LineDecoder:
        """A fresh decoder for one session that waits for ``acks`` acknowledgements."""
        ...


PASSTHROUGH_ENV: tuple[str, ...] = ("PATH", "HOME", "LANG", "TMPDIR")
"""The variables every session inherits from the operator's environment (SPEC §4.3)."""


def scrubbed_environment(
    source: Mapping[str, str],
    profile: ProviderProfile,
    *,
    fixed: Mapping[str, str] | None = None,
    extra: Mapping[str, str] | None = None,
    home: str | None = None,
) -> dict[str, str]:
    """The environment of one session: nothing of ``source`` but what SPEC §4.3 allows.

    PATH, HOME, LANG and TMPDIR and the provider's own auth variables pass through;
    ``fixed`` (the driver's completion-only settings) and ``extra`` (the operator's
    configured additions, e.g. a base URL) are laid over them; ``home`` replaces HOME
    when the session runs with an isolated home. Everything else, CLAUDECODE included,
    is dropped::

        >>> from contracts.providers import CLAUDE
        >>> scrubbed_environment({"PATH": "/bin", "CLAUDECODE": "1", "SECRET": "x",
        ...                       "ANTHROPIC_API_KEY": "k"}, CLAUDE)
        {'PATH': '/bin', 'ANTHROPIC_API_KEY': 'k'}
    """
    allowed = (*PASSTHROUGH_ENV, *profile.auth_env)
    env = {name: source[name] for name in allowed if name in source}
    env.update(fixed or {})
    env.update(extra or {})
    if home is not None:
        env["HOME"] = home
    env.pop("CLAUDECODE", None)
    return env
