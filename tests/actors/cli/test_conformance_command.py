"""``asm conformance`` against ``asm serve`` itself, as another implementer would run it.

Our own server (fake CLIs behind it) passes every rule of both contracts through the
real command; what the command does with an unreachable target or a bad token file is
checked too. The planted-bug doubles are in tests/transport/conformance/.
"""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import httpx

from tests.actors.cli.test_serve_events import ASM, issue, serving
from tests.actors.sessions.sessions import fake_environ

ENDPOINT_RULES = 24


def _conformance(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ASM, "conformance", *argv], capture_output=True, text=True, timeout=600, check=False
    )


def _rows(table: str) -> dict[str, str]:
    """rule → result, from the table's body rows."""
    rows = {}
    for line in table.splitlines()[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) >= 3 and "." in cells[0]:
            rows[cells[0]] = cells[2]
    return rows


def test_asm_serve_passes_every_endpoint_rule_through_the_command(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with serving(state, "memory", environ=fake_environ(tmp_path)) as server:
        admin = (state / "admin.token").read_text().strip()
        created = httpx.post(
            f"{server.base_url}/api/v1/endpoints",
            json={"request": {"model_preference": {"provider": "claude", "id": "m"}}},
            headers={"authorization": f"Bearer {admin}"},
            timeout=30,
        )
        assert created.status_code == 201, created.text
        endpoint = created.json()["endpoint"]
        token = endpoint["headers"]["authorization"].removeprefix("Bearer ")
        result = _conformance("endpoint", "--base-url", endpoint["base_url"], "--token", token)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = _rows(result.stdout)
    assert len(rows) == ENDPOINT_RULES
    assert set(rows.values()) == {"pass"}, result.stdout
    assert f"{ENDPOINT_RULES} passed, 0 failed, 0 skipped" in result.stdout
    assert token not in result.stdout + result.stderr


def test_asm_serve_passes_every_events_rule_through_the_command(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with serving(state, "memory") as server:
        tokens = [
            issue(state, "events:send events:listen inference:admin"),
            issue(state, "events:send events:listen"),
        ]
        token_file = tmp_path / "tokens.txt"
        token_file.write_text("# full, then narrow\n" + "\n".join(tokens) + "\n")
        result = _conformance(
            "events", "--base-url", server.base_url, "--token-file", str(token_file)
        )
    assert result.returncode == 0, result.stdout + result.stderr
    rows = _rows(result.stdout)
    assert len(rows) >= 15
    assert set(rows.values()) == {"pass"}, result.stdout
    assert not any(token in result.stdout + result.stderr for token in tokens)


def test_an_unreachable_target_fails_with_one_line(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = _conformance("endpoint", "--base-url", f"http://127.0.0.1:{port}/v1", "--token", "t")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"asm conformance: cannot reach http://127.0.0.1:{port}/v1")


def test_a_token_file_without_tokens_is_a_usage_error(tmp_path: Path) -> None:
    empty = tmp_path / "tokens.txt"
    empty.write_text("# nothing here\n\n")
    result = _conformance("events", "--base-url", "http://127.0.0.1:1", "--token-file", str(empty))
    assert result.returncode == 2, result.stderr
    assert "tokens.txt" in result.stderr


def test_a_bad_scale_is_a_usage_error() -> None:
    result = _conformance(
        "endpoint", "--base-url", "http://127.0.0.1:1/v1", "--token", "t", "--scale", "0"
    )
    assert result.returncode == 2
    assert "scale" in result.stderr
