"""What one CLI run needs: the spec the session actor runs.

Built by :func:`actors.sessions.session_spec` from the configuration::

    spec = session_spec("claude", "claude-sonnet-4-5", Config(), work_root="/tmp")
    request = spec.launch_request(workspace, conversation)   # for the driver
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from actors.processes import Ladder
from actors.sessions.sandbox import Sandbox
from contracts.conversation import Conversation
from contracts.providers import CliDriver, Launch, LaunchRequest, Persona, Workspace
from contracts.session import Failed

__all__ = ["SessionSpec", "Timers"]


@dataclass(frozen=True)
class Timers:
    """The three session timers, in seconds (defaults from SPEC §4.4)."""

    first_event: float = 60.0
    idle: float = 300.0
    total: float = 600.0


@dataclass(frozen=True)
class SessionSpec:
    """Everything one run needs; built by :func:`actors.sessions.session_spec`.

    ``env`` is already scrubbed (SPEC §4.3); the actor adds HOME (when
    ``isolate_home``), TMPDIR and whatever the driver's launch adds, all pointing into
    the session's private directory.
    """

    driver: CliDriver
    model: str
    executable: str
    env: Mapping[str, str]
    work_root: str
    extra_args: tuple[str, ...] = ()
    persona: Persona = "completion"
    timers: Timers = field(default_factory=Timers)
    ladder: Ladder = field(default_factory=Ladder)
    isolate_home: bool = False
    operator_home: str | None = None

    def launch_request(
        self, workspace: Workspace, conversation: Conversation | None
    ) -> LaunchRequest:
        """What the driver builds this run's launch from."""
        return LaunchRequest(
            executable=self.executable,
            model=self.model,
            workspace=workspace,
            extra_args=self.extra_args,
            conversation=conversation,
            persona=self.persona,
            environ=self.env,
            home=self.operator_home,
        )

    def environment(self, sandbox: Sandbox, launch: Launch) -> dict[str, str]:
        """The CLI's environment: :attr:`env` with TMPDIR (and HOME, when
        :attr:`isolate_home`) in ``sandbox``, and whatever ``launch`` adds."""
        env = sandbox.environment(
            self.env,
            isolate_home=self.isolate_home,
            operator_home=self.operator_home,
            credential_files=self.driver.credential_files,
        )
        env.update(launch.env)
        return env

    def unreachable(self, seconds: float, notice: str) -> Failed:
        """A CLI that only retried until the first-event deadline: its service is out of
        reach. The message says what to check, naming the base-URL variable if any."""
        profile = self.driver.profile
        provider = profile.id
        where = f" ({profile.base_url_env})" if profile.base_url_env else ""
        return Failed(
            kind="unreachable",
            message=(
                f"{provider} could not reach its service within {seconds:g} s ({notice});"
                f" check this host's network and proxy, the base URL set for {provider}{where},"
                " and its login"
            ),
        )
