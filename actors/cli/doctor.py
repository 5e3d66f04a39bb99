"""``asm doctor``: is everything ``asm serve`` and a served lease need ready here?

    asm doctor [--config asm.toml] [--state-dir .asm] [--store SPEC] [--provider ID]… [--json]

One row per check (``subject``, ``check``, ``status``, ``detail``); statuses are ``ok``,
``warn``, ``FAIL`` and ``skip``. Exit 0 when no check fails, 1 otherwise; ``--json``
prints ``{"ready": bool, "checks": [...]}``. What fails:

- the config file: unreadable or invalid (the rest is then checked with the defaults);
- the state dir: not a writable directory, nor creatable (a running server there is ok);
- the store (``--store``, default ``sqlite:<state-dir>/events.db``): an unknown spec, a
  sqlite file that does not open or a directory where it cannot be created, a Redis
  server that does not accept a connection or a missing ``redis`` extra;
- each provider that is installed, or configured (``ASM_<PROVIDER>_BIN`` set or a
  ``[providers.<id>]`` table): not installed, no ``--version`` answer, not logged in,
  or its upstream not answering. A provider neither installed nor configured is
  ``skip`` ("not installed"): ``asm serve`` runs without it. ``--provider`` limits the
  providers checked;
- each ``[nodes.<id>]`` whose runner cannot be reached (ssh: no ``ssh`` client, or
  ``host:port`` refusing TCP).

Warnings do not fail: a CLI version other than the one verified (PROVIDERS.md; drivers
stay tolerant), a node whose Ollama API does not answer (the bus installs and starts it).

The executable, version and login come from ``asm providers`` (:func:`probe`). The
upstream check is one GET, without credentials or redirects, within :data:`NETWORK_TIMEOUT_S`,
of the base URL the CLI would use (its variable, e.g. ``ANTHROPIC_BASE_URL``, in the session
environment; codex's ``model_providers.<p>.base_url`` in ``extra_args``; else the
profile's ``default_upstream``): any HTTP status counts as answering. The verified version
is the profile's ``verified_version``. Nothing is written.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import functools
import importlib.util
import json
import os
import shutil
import socket
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import urlsplit, urlunsplit

import httpx
import msgspec

from actors.cli.common import EXIT_FAILED, EXIT_OK, add_config_option, add_state_dir_option
from actors.cli.providers import probe, probe_environment
from actors.serving import load_config
from contracts.config import Config, ConfigError
from contracts.nodes import NodeSettings
from contracts.providers import PROFILES, CliDriver, driver
from transport.event_log import StoreSpecError, check_store, store_label

__all__ = [
    "NETWORK_TIMEOUT_S",
    "Check",
    "DoctorReport",
    "add_doctor_parser",
    "run_doctor",
]

NETWORK_TIMEOUT_S: Final = 5.0


# Set, these send the CLI to a cloud console, which doctor does not check.
_CLOUD_SWITCHES: Final = (
    "CLAUDE_CODE_USE_BEDROCK",
    "CLAUDE_CODE_USE_VERTEX",
    "GOOGLE_GENAI_USE_VERTEXAI",
)

Status = Literal["ok", "warn", "FAIL", "skip"]


class Check(msgspec.Struct, frozen=True, kw_only=True):
    """One row: ``Check(subject="claude", check="login", status="ok", detail="…")``."""

    subject: str
    check: str
    status: Status
    detail: str


class DoctorReport(msgspec.Struct, frozen=True, kw_only=True):
    """The ``--json`` document: ready is true when no check has status ``FAIL``."""

    ready: bool
    checks: list[Check]


def add_doctor_parser(commands: argparse._SubParsersAction[Any]) -> None:
    """Register ``asm doctor`` on the ``asm`` subcommand parser."""
    doctor = commands.add_parser(
        "doctor", help="check the CLIs, their logins and upstreams, the state dir, store, nodes"
    )
    doctor.add_argument("--json", action="store_true", help="one JSON document")
    doctor.add_argument(
        "--store",
        default=None,
        help="the store asm serve would use (default sqlite:<state-dir>/events.db)",
    )
    doctor.add_argument(
        "--provider",
        action="append",
        choices=list(PROFILES),
        default=None,
        help="check only this provider (repeatable; default: all)",
    )
    add_config_option(doctor)
    add_state_dir_option(doctor)


def run_doctor(args: argparse.Namespace) -> int:
    """Run ``asm doctor`` with parsed ``args``; returns the exit code."""
    environ = dict(os.environ)
    config_check, config = _config(args.config)
    state_dir = Path(args.state_dir)
    store = args.store or f"sqlite:{state_dir / 'events.db'}"
    tasks: list[Callable[[], list[Check]]] = [
        functools.partial(_state_dir, state_dir),
        functools.partial(_store, store),
        *(functools.partial(_provider, p, config, environ) for p in args.provider or PROFILES),
        *(functools.partial(_node, n, s, environ) for n, s in config.nodes.items()),
    ]
    with ThreadPoolExecutor(max_workers=len(tasks)) as pool:
        results = list(pool.map(lambda task: task(), tasks))
    checks = [config_check, *(check for rows in results for check in rows)]
    report = DoctorReport(ready=all(c.status != "FAIL" for c in checks), checks=checks)
    if args.json:
        print(msgspec.json.encode(report).decode())
    else:
        print(_table(report))
    return EXIT_OK if report.ready else EXIT_FAILED


def _config(path: str | None) -> tuple[Check, Config]:
    shown = path or ("./asm.toml" if Path("asm.toml").is_file() else None)
    try:
        config = load_config(path)
    except ConfigError as exc:
        return Check(subject="config", check="file", status="FAIL", detail=str(exc)), Config()
    detail = f"{shown} read" if shown else "no ./asm.toml: the defaults"
    return Check(subject="config", check="file", status="ok", detail=detail), config


def _state_dir(state_dir: Path) -> list[Check]:
    def row(status: Status, detail: str) -> list[Check]:
        return [Check(subject="state", check="dir", status=status, detail=f"{state_dir}: {detail}")]

    if not state_dir.exists():
        return row(*_creatable(state_dir))
    if not state_dir.is_dir():
        return row("FAIL", "not a directory")
    if not os.access(state_dir, os.W_OK | os.X_OK):
        return row("FAIL", "not writable")
    return row("ok", "writable; " + _server_here(state_dir))


def _creatable(path: Path) -> tuple[Status, str]:
    parent = next((p for p in path.absolute().parents if p.exists()), Path("/"))
    if os.access(parent, os.W_OK | os.X_OK):
        return "ok", "absent; asm serve will create it"
    return "FAIL", f"absent, and {parent} is not writable"


def _server_here(state_dir: Path) -> str:
    """Whether a server holds the directory's lock (tested without taking or writing it)."""
    try:
        descriptor = os.open(state_dir / "serve.lock", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return "no server running"
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        try:
            base_url = json.loads((state_dir / "server.json").read_text())["base_url"]
        except (OSError, ValueError, KeyError, TypeError):
            return "a server is running here"
        return f"a server is running here ({base_url})"
    finally:
        os.close(descriptor)
    return "no server running"


def _store(spec: str) -> list[Check]:
    label = store_label(spec)

    def row(status: Status, detail: str) -> list[Check]:
        return [Check(subject="store", check="open", status=status, detail=f"{label}: {detail}")]

    try:
        backend = check_store(spec)
    except StoreSpecError as exc:
        return [Check(subject="store", check="open", status="FAIL", detail=str(exc))]
    if backend == "memory":
        return row("ok", "in memory, nothing kept across restarts")
    if backend == "redis":
        if importlib.util.find_spec("coredis") is None:
            return row("FAIL", "needs the redis extra (pip install 'asm-trio[redis]')")
        parts = urlsplit(spec)
        return row(*_tcp(parts.hostname or "", parts.port or 6379))
    path = Path(spec.removeprefix("sqlite:"))
    if not path.exists():
        return row(*_creatable(path))
    try:
        with contextlib.closing(
            sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
        ) as db:
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as exc:
        return row("FAIL", f"does not open: {exc}")
    return row("ok", "opens")


def _provider(provider_id: str, config: Config, environ: Mapping[str, str]) -> list[Check]:
    cli = driver(provider_id)
    assert cli is not None
    bin_env = cli.profile.bin_env
    report = probe(provider_id, config, environ)
    source = "PATH"
    if environ.get(bin_env):
        source = bin_env
    elif config.provider(provider_id).executable:
        source = f"[providers.{provider_id}].executable"
    configured = bool(environ.get(bin_env)) or provider_id in config.providers

    def row(check: str, status: Status, detail: str) -> Check:
        return Check(subject=provider_id, check=check, status=status, detail=detail)

    if not report.installed:
        if configured:
            return [row("executable", "FAIL", f"{report.executable} not found (from {source})")]
        skipped = f"not installed ({report.executable} not on PATH; not configured)"
        return [row("executable", "skip", skipped)]
    rows = [row("executable", "ok", f"{report.executable} (from {source})")]
    verified = cli.profile.verified_version
    if report.version is None:
        rows.append(row("version", "FAIL", "`--version` did not answer"))
    elif verified in report.version.replace("-", " ").split():
        rows.append(row("version", "ok", f"{report.version} (verified)"))
    else:
        rows.append(row("version", "warn", f"{report.version}; verified: {verified}"))
    if report.logged_in:
        rows.append(row("login", "ok", f"logged in ({report.login_evidence})"))
    else:
        why = report.login_evidence or "no credential file, no auth variable"
        rows.append(row("login", "FAIL", f"not logged in ({why})"))
    rows.append(_upstream(cli, config, environ))
    return rows


def _upstream(cli: CliDriver, config: Config, environ: Mapping[str, str]) -> Check:
    provider_id = cli.profile.id
    env = probe_environment(cli, config, environ)

    def row(status: Status, detail: str) -> Check:
        return Check(subject=provider_id, check="upstream", status=status, detail=detail)

    for switch in _CLOUD_SWITCHES:
        if env.get(switch) and switch in cli.profile.auth_env:
            return row("skip", f"{switch} is set: the cloud endpoint is not checked")
    url, source = _upstream_url(cli, config, env)
    status, detail = _http(url, env)
    return row(status, f"{_shown(url)} ({source}): {detail}")


def _upstream_url(cli: CliDriver, config: Config, env: Mapping[str, str]) -> tuple[str, str]:
    """(the base URL the CLI would call, where it came from)."""
    variable = cli.profile.base_url_env
    if variable and env.get(variable):
        return env[variable], variable
    if cli.profile.id == "codex":
        pairs: dict[str, str] = {}
        for argument in config.provider("codex").extra_args:
            key, equals, value = argument.removeprefix("--config=").partition("=")
            if equals:
                pairs[key.strip()] = value.strip().strip("\"'")
        chosen = pairs.get("model_provider")
        if chosen and (base := pairs.get(f"model_providers.{chosen}.base_url")):
            return base, f"model_providers.{chosen}.base_url"
    return cli.profile.default_upstream or "", "default"


def _http(url: str, env: Mapping[str, str]) -> tuple[Status, str]:
    """One credential-free GET of ``url``: ("ok", "HTTP 404 in 12 ms") or ("FAIL", why)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "FAIL", "not an http(s) URL"
    proxy = _proxy(parts.scheme, parts.hostname, env)
    started = time.monotonic()
    try:
        with httpx.Client(trust_env=False, proxy=proxy, timeout=NETWORK_TIMEOUT_S) as client:
            response = client.get(url, follow_redirects=False)
    except httpx.TimeoutException:
        return "FAIL", f"no answer within {NETWORK_TIMEOUT_S:g} s"
    except (httpx.HTTPError, ValueError) as exc:
        return "FAIL", f"not answering ({_reason(exc)})"
    elapsed = (time.monotonic() - started) * 1000
    return "ok", f"HTTP {response.status_code} in {elapsed:.0f} ms"


def _proxy(scheme: str, host: str, env: Mapping[str, str]) -> str | None:
    """The proxy the session environment names for ``scheme`` (the CLI's, not doctor's)."""
    found = {k.lower(): v for k, v in env.items() if k.lower().endswith("_proxy") and v}
    bypass = [h.strip().lstrip(".") for h in found.get("no_proxy", "").split(",") if h.strip()]
    if "*" in bypass or any(host == h or host.endswith(f".{h}") for h in bypass):
        return None
    return found.get(f"{scheme}_proxy") or found.get("all_proxy")


def _node(node_id: str, node: NodeSettings, environ: Mapping[str, str]) -> list[Check]:
    def row(check: str, status: Status, detail: str) -> Check:
        return Check(subject=f"node {node_id}", check=check, status=status, detail=detail)

    runner = row("runner", "ok", "local (this machine)")
    if node.runner == "ssh" and node.host is not None:
        where = f"ssh {node.user + '@' if node.user else ''}{node.host}:{node.port}"
        if shutil.which("ssh", path=environ.get("PATH", os.defpath)) is None:
            runner = row("runner", "FAIL", f"{where}: no ssh client on PATH")
        else:
            runner = row("runner", *_tcp(node.host, node.port))
    status, detail = _http(node.ollama_url.rstrip("/") + "/api/version", {})
    api_status: Status = "ok" if status == "ok" else "warn"
    return [runner, row("ollama", api_status, f"{_shown(node.ollama_url)}: {detail}")]


def _tcp(host: str, port: int) -> tuple[Status, str]:
    try:
        with socket.create_connection((host, port), timeout=NETWORK_TIMEOUT_S):
            return "ok", f"{host}:{port} accepts connections"
    except OSError as exc:
        return "FAIL", f"{host}:{port} does not accept connections ({_reason(exc)})"


def _reason(exc: BaseException) -> str:
    """A short reason that repeats no URL (one may hold a user and password)."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc)
    return text if text and "://" not in text else type(exc).__name__


def _shown(url: str) -> str:
    """``url`` without a password (a base URL may carry one)."""
    parts = urlsplit(url)
    if parts.password is None and parts.username is None:
        return url
    return urlunsplit(parts._replace(netloc=f"***@{parts.netloc.rpartition('@')[2]}"))


def _table(report: DoctorReport) -> str:
    rows: Sequence[tuple[str, str, str, str]] = [("SUBJECT", "CHECK", "STATUS", "DETAIL")] + [
        (c.subject, c.check, c.status, c.detail) for c in report.checks
    ]
    subject = max(len(r[0]) for r in rows)
    check = max(len(r[1]) for r in rows)
    lines = [f"{r[0]:<{subject}}  {r[1]:<{check}}  {r[2]:<6}  {r[3]}" for r in rows]
    failing = [f"{c.subject} {c.check}" for c in report.checks if c.status == "FAIL"]
    lines.append("ready: yes" if report.ready else f"ready: no ({', '.join(failing)})")
    return "\n".join(lines)
