"""``asm providers``: each provider CLI, its version, its login and its publication (SPEC §7).

    asm providers
    asm providers --json

The executable is found as a session finds it (``ASM_<PROVIDER>_BIN``, else the config,
else PATH), and the CLI runs in the environment a session would get, so the answer
describes what a session would meet. Nothing goes over the network:

- the version is the first line of ``<exe> --version``;
- codex answers ``codex login status`` (exit 0: logged in);
- claude, gemini and amp count as logged in when one of their auth variables is set or
  one of their credential files exists under HOME.

``login_evidence`` names the variable or the file that decided, never a value. A CLI
that is not installed has no version and an unknown login (``null``). Each probe runs in
its own process group with a 10 s limit; the group is killed and the process reaped,
whatever the CLI does.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import msgspec

from actors.cli.common import EXIT_FAILED, EXIT_OK, add_config_option
from actors.serving import load_config
from actors.sessions import resolve_executable
from contracts.config import Config, ConfigError
from contracts.providers import PROFILES, CliDriver, Publication, driver, publication
from contracts.providers import scrubbed_environment as session_environment

__all__ = [
    "ProviderReport",
    "ProvidersReport",
    "add_providers_parser",
    "probe",
    "probe_environment",
    "run_providers",
]

PROBE_TIMEOUT_S = 10.0
VERSION_MAX_CHARS = 200

# Auth variables that only say where to go (a URL, a home, a cloud project), not who you
# are: set alone, they prove no login.
_LOCATOR_SUFFIXES = ("_URL", "_HOME", "_PROJECT", "_LOCATION")


class ProviderReport(msgspec.Struct, frozen=True, kw_only=True):
    """What ``asm providers`` found out about one provider CLI."""

    id: str
    display_name: str
    executable: str
    installed: bool
    version: str | None
    logged_in: bool | None
    login_evidence: str | None
    publication: Publication


class ProvidersReport(msgspec.Struct, frozen=True, kw_only=True):
    """The ``--json`` document: ``{"providers": [...]}`` in the order of PROFILES."""

    providers: list[ProviderReport]


def add_providers_parser(commands: argparse._SubParsersAction[Any]) -> None:
    """Register ``asm providers`` on the ``asm`` subcommand parser."""
    providers = commands.add_parser(
        "providers", help="each provider CLI: executable, version, login, publication"
    )
    providers.add_argument("--json", action="store_true", help="one JSON document")
    add_config_option(providers)


def run_providers(args: argparse.Namespace) -> int:
    """Run ``asm providers`` with parsed ``args``; returns the exit code."""
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"asm providers: {exc}", file=sys.stderr)
        return EXIT_FAILED
    reports = [probe(provider_id, config, os.environ) for provider_id in PROFILES]
    if args.json:
        print(msgspec.json.encode(ProvidersReport(providers=reports)).decode())
    else:
        for report in reports:
            print(_line(report))
    return EXIT_OK


def probe(provider_id: str, config: Config, environ: Mapping[str, str]) -> ProviderReport:
    """Find, run and inspect one provider's CLI: ``probe("codex", Config(), os.environ)``."""
    cli = driver(provider_id)
    if cli is None:
        raise ValueError(f"unknown provider {provider_id!r}")
    profile = cli.profile
    executable = resolve_executable(cli, config, environ)
    installed = shutil.which(executable, path=environ.get("PATH", os.defpath)) is not None
    env = probe_environment(cli, config, environ)
    version: str | None = None
    logged_in: bool | None = None
    evidence: str | None = None
    if installed:
        version = _version(executable, env)
        logged_in, evidence = _login(cli, executable, env)
    return ProviderReport(
        id=profile.id,
        display_name=profile.display_name,
        executable=executable,
        installed=installed,
        version=version,
        logged_in=logged_in,
        login_evidence=evidence,
        publication=publication(profile),
    )


def probe_environment(cli: CliDriver, config: Config, environ: Mapping[str, str]) -> dict[str, str]:
    """The environment a session of ``cli`` gets, in which the probes run (``asm doctor``
    reads its base URL there): ``probe_environment(driver("claude"), Config(), os.environ)``."""
    return session_environment(
        environ, cli.profile, fixed=cli.fixed_env(), extra=config.provider(cli.profile.id).env
    )


def _version(executable: str, env: Mapping[str, str]) -> str | None:
    ran = _run_briefly([executable, "--version"], env)
    if ran is None or ran[0] != 0:
        return None
    first = next(iter(ran[1].strip().splitlines()), "").strip()
    return first[:VERSION_MAX_CHARS] or None


def _login(
    cli: CliDriver, executable: str, env: Mapping[str, str]
) -> tuple[bool | None, str | None]:
    """(logged in, the name of what decided it), decided without the network."""
    if cli.profile.id == "codex":
        # Its own answer covers every login kind (ChatGPT, API key, CODEX_HOME).
        ran = _run_briefly([executable, "login", "status"], env)
        if ran is None:
            return None, "`codex login status` did not answer"
        return ran[0] == 0, f"`codex login status` exited {ran[0]}"
    for name in cli.profile.auth_env:
        if env.get(name) and not name.endswith(_LOCATOR_SUFFIXES):
            return True, name
    home = env.get("HOME")
    if home:
        for relative in cli.credential_files:
            path = Path(home, relative)
            if path.is_file():
                return True, str(path)
    return False, None


def _run_briefly(argv: Sequence[str], env: Mapping[str, str]) -> tuple[int, str] | None:
    """(exit code, stdout) of ``argv`` run to its end within the limit; None if it could not.

    stderr is dropped unread: a CLI may print part of a key there (codex does).
    """
    try:
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=dict(env),
            start_new_session=True,
        )
    except OSError:
        return None
    # Popen's exit closes the pipe and reaps the leader; the group kill before it takes
    # any helper the CLI started along with it, and ends a CLI that overran the limit.
    with process:
        try:
            stdout, _ = process.communicate(timeout=PROBE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return None
        finally:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
    return process.returncode, stdout.decode("utf-8", "replace")


def _line(report: ProviderReport) -> str:
    version = (report.version or "version unknown") if report.installed else "not installed"
    login = {True: "yes", False: "no", None: "unknown"}[report.logged_in]
    if report.login_evidence:
        login = f"{login} ({report.login_evidence})"
    published = ", ".join(report.publication.published_capabilities) or "nothing"
    return (
        f"{report.id:<7} {report.executable}  {version}  logged in: {login}  publishes: {published}"
    )
