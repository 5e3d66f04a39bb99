"""The conformance rules as a pytest plugin, run as a user runs it: another pytest process.

    ASM_CONFORMANCE_TOKEN=T pytest --pyargs transport.conformance.suite --conformance-endpoint URL

It runs from an empty directory, so none of this project's pytest settings apply; the
plugin arrives through asm-trio's ``pytest11`` entry point.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import trio

from tests.transport.conformance.test_endpoint_conformance import served_endpoint
from tests.transport.conformance.test_events_conformance import FULL, NARROW
from tests.transport.events.served_events import SECRET, serve_asgi
from transport.event_log import open_memory_log
from transport.events import TokenVerifier, create_events_app

PYTEST = str(Path(sys.executable).parent / "pytest")


def _suite(cwd: Path, *options: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    argv = [
        PYTEST,
        "-q",
        "-rfs",
        "-p",
        "no:cacheprovider",
        "--pyargs",
        "transport.conformance.suite",
    ]
    env = {k: v for k, v in os.environ.items() if k != "ASM_CONFORMANCE_TOKEN"}
    if token is not None:
        env["ASM_CONFORMANCE_TOKEN"] = token
    return subprocess.run(
        [*argv, *options],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


async def test_the_plugin_passes_our_endpoint_one_test_per_rule(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    base_url, token = await served_endpoint(nursery)
    options = ("--conformance-endpoint", base_url)
    result = await trio.to_thread.run_sync(lambda: _suite(tmp_path, *options, token=token))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "24 passed, 1 skipped" in result.stdout
    assert "no --conformance-events" in result.stdout
    assert token not in result.stdout + result.stderr


async def test_the_plugin_fails_the_test_of_the_broken_rule_with_its_counterexample(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    base_url, token = await served_endpoint(nursery, "no_role_chunk")
    token_file = tmp_path / "lease.token"
    token_file.write_text(token + "\n")
    options = ("--conformance-endpoint", base_url, "--conformance-endpoint-token-file")
    result = await trio.to_thread.run_sync(lambda: _suite(tmp_path, *options, str(token_file)))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAILED" in result.stdout
    assert "test_endpoint_rule[stream.first_chunk_is_the_role]" in result.stdout
    assert "counterexample:" in result.stdout
    assert "23 passed" in result.stdout
    assert token not in result.stdout + result.stderr


def test_a_token_on_the_command_line_is_refused_without_being_echoed(tmp_path: Path) -> None:
    token = "sk-visible-in-ps-0123456789"
    options = ("--conformance-endpoint", "http://127.0.0.1:9/v1", "--conformance-token", token)
    result = _suite(tmp_path, *options)
    assert result.returncode == 4, result.stdout + result.stderr  # pytest's usage error
    assert "where `ps` shows it to every user" in result.stderr
    assert "ASM_CONFORMANCE_TOKEN" in result.stderr
    assert token not in result.stdout + result.stderr


async def test_without_options_every_rule_test_is_skipped_saying_which_option(
    tmp_path: Path,
) -> None:
    result = await trio.to_thread.run_sync(lambda: _suite(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 skipped" in result.stdout
    assert "no --conformance-endpoint" in result.stdout


async def test_the_plugin_runs_the_events_rules_from_a_token_file(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    async with open_memory_log() as log:
        app = create_events_app(log, TokenVerifier(SECRET), keepalive_seconds=5)
        origin, server = await serve_asgi(nursery, app)
        tokens = tmp_path / "tokens.txt"
        tokens.write_text(f"{FULL}\n{NARROW}\n")
        options = ("--conformance-events", origin, "--conformance-token-file", str(tokens))
        result = await trio.to_thread.run_sync(lambda: _suite(tmp_path, *options))
        server.cancel()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "18 passed, 1 skipped" in result.stdout
    assert FULL not in result.stdout and NARROW not in result.stdout
