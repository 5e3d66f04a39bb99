"""How a conversation reaches a CLI: what is fixed at spawn, what follows it.

A warm pool starts a CLI before anyone knows what it will be asked, so each driver
splits its work in two (SPEC §4.5):

- :class:`Launch`: the command line, the environment it adds and the files it puts in
  the session's private directory *before* the process starts. A driver that can park
  (:attr:`~contracts.providers.CliDriver.parks`) can launch without the conversation;
  one that reads the conversation at start-up (gemini) launches only with it.
- :class:`Delivery`: what reaches the running process once the conversation is known:
  files written into its private directory, then the stdin writes. Between two writes
  the session waits for the CLI to acknowledge the first (claude's stream-json input
  takes history one message at a time); ``hold_stdin`` keeps stdin open until the CLI
  has answered (closing it early ends claude's input loop).

Everything here is pure data: the session actor (``actors.sessions.session``) performs it::

    launch = driver.launch(LaunchRequest(executable="/bin/claude", model="m",
                                         workspace=Workspace("/tmp/s1", "5f0c…")))
    delivery = driver.deliver(conversation, request)
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Literal, TypeAlias

import msgspec

from contracts.conversation import Conversation

__all__ = [
    "PERSONAS",
    "Delivery",
    "Launch",
    "LaunchRequest",
    "ParkingDriver",
    "Persona",
    "Workspace",
]

Persona: TypeAlias = Literal["completion", "agent"]
"""``completion`` (default): the client's system text replaces the CLI's agent persona;
``agent``: the CLI keeps its own system prompt (``[providers.<id>] persona = "agent"``)."""

PERSONAS: tuple[Persona, ...] = ("completion", "agent")


class Workspace(msgspec.Struct, frozen=True):
    """One session's private directory and the id the session goes by.

    ``Workspace("/tmp/asm-sessions-x/asm-codex-1", "9b2e…").path("codex-home")``
    """

    root: str
    session_id: str
    """A UUID chosen for this session (codex names its transcript after it)."""

    def path(self, relative: str) -> str:
        """The absolute path of ``relative`` inside the workspace."""
        return posixpath.join(self.root, relative)


class LaunchRequest(msgspec.Struct, frozen=True, kw_only=True):
    """What a driver is told to build a :class:`Launch` from.

    ``conversation`` is None for a session that parks before it is asked anything.
    ``environ`` is the session's (scrubbed) environment and ``home`` the operator's HOME,
    for locating login files; ``probe`` is the output of the driver's probe command when
    it has one (codex's model catalog).
    """

    executable: str
    model: str
    workspace: Workspace
    extra_args: tuple[str, ...] = ()
    conversation: Conversation | None = None
    persona: Persona = "completion"
    environ: Mapping[str, str] = msgspec.field(default_factory=dict)
    home: str | None = None
    probe: bytes | None = None


class Launch(msgspec.Struct, frozen=True, kw_only=True):
    """How to start one session's CLI (never the prompt itself).

    ``files`` (relative path → bytes) are written into the workspace before the process
    starts, and ``dirs`` made there; ``links`` are ``(relative destination, absolute
    source)`` pairs of login files the CLI must find at a path of its own (a symlink, or
    a read-only copy when the session isolates its home); ``env`` is added to the
    session's environment.
    """

    argv: tuple[str, ...]
    env: dict[str, str] = {}
    files: dict[str, bytes] = {}
    dirs: tuple[str, ...] = ()
    links: tuple[tuple[str, str], ...] = ()


class Delivery(msgspec.Struct, frozen=True, kw_only=True):
    """What reaches a running CLI once the conversation is known.

    ``files`` are written first; then each of ``steps`` goes to stdin, the session
    waiting for one acknowledgement of the CLI between two steps (so ``acks`` is one less
    than the number of steps). Stdin is closed after the last step, unless
    ``hold_stdin``: then it stays open until the CLI has answered.
    """

    steps: tuple[bytes, ...]
    files: dict[str, bytes] = {}
    hold_stdin: bool = False

    @property
    def acks(self) -> int:
        """How many acknowledgements the session waits for."""
        return max(len(self.steps) - 1, 0)


class ParkingDriver:
    """Defaults for a driver whose CLI takes its whole conversation once started: it
    parks, no conversation needs a fresh launch, and it needs no probe (claude, amp)."""

    __slots__ = ()

    @property
    def parks(self) -> bool:
        """True: the conversation reaches the CLI after it started."""
        return True

    def needs_launch(self, conversation: Conversation) -> bool:
        """False: every conversation can be given to a parked process."""
        return False

    def probe_argv(self, executable: str) -> tuple[str, ...] | None:
        """None: no probe."""
        return None
