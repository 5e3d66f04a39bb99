"""From configuration to a :class:`~actors.sessions.SessionSpec`: where the CLI is, and how it runs.

The executable comes from ``ASM_<PROVIDER>_BIN``, else ``[providers.<id>].executable``,
else PATH (SPEC §4.1). An executable that cannot be found is kept as its bare name (or
the configured path): ``ensure_endpoint`` refuses such a lease (``not_installed``), and
a session spawned anyway fails the usual way, with ``Failed(kind="not_installed")``::

    spec = session_spec("claude", "claude-sonnet-4-5", Config(), work_root="/tmp")
    spec.executable   # '/usr/local/bin/claude'
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping

from actors.processes import Ladder
from actors.sessions.spec import SessionSpec, Timers
from contracts.config import Config
from contracts.providers import CliDriver, driver, scrubbed_environment

__all__ = ["UnknownProvider", "resolve_executable", "session_spec"]


class UnknownProvider(LookupError):
    """The provider id names none of claude, codex, gemini, amp."""


def resolve_executable(
    cli: CliDriver, config: Config, environ: Mapping[str, str] | None = None
) -> str:
    """The executable to run for ``cli``: an absolute path when found, else its name."""
    environ = os.environ if environ is None else environ
    profile = cli.profile
    chosen = environ.get(profile.bin_env) or config.provider(profile.id).executable
    name = chosen or profile.executable
    found = shutil.which(name, path=environ.get("PATH", os.defpath))
    # Absolute: the session runs in its own private working directory.
    return os.path.abspath(found) if found else name


def session_spec(
    provider_id: str,
    model: str,
    config: Config,
    *,
    work_root: str,
    environ: Mapping[str, str] | None = None,
) -> SessionSpec:
    """Everything a :class:`~actors.sessions.SessionActor` needs for one run of ``provider_id``."""
    cli = driver(provider_id)
    if cli is None:
        raise UnknownProvider(f"unknown provider {provider_id!r}")
    environ = os.environ if environ is None else environ
    settings = config.provider(provider_id)
    sessions = config.sessions
    executable = resolve_executable(cli, config, environ)
    return SessionSpec(
        driver=cli,
        model=model,
        executable=executable,
        env=scrubbed_environment(environ, cli.profile, fixed=cli.fixed_env(), extra=settings.env),
        work_root=work_root,
        extra_args=settings.extra_args,
        persona=settings.persona,
        timers=Timers(
            first_event=sessions.first_event_timeout,
            idle=sessions.idle_timeout,
            total=sessions.run_timeout,
        ),
        ladder=Ladder(voluntary=sessions.exit_grace, terminate=sessions.terminate_grace),
        isolate_home=settings.isolate_home,
        operator_home=environ.get("HOME"),
    )
