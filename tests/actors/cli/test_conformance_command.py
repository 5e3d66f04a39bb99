"""``asm conformance`` against ``asm serve`` itself, as another implementer would run it.

Our own server (fake CLIs behind it) passes every rule of both contracts through the
real command; what the command does with an unreachable target or a bad token file is
checked too. The planted-bug doubles are in tests/transport/conformance/.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.cli.conformance import TOKEN_ENV, _endpoint_token, _TokenProblem
from tests.actors.cli.test_serve_events import ASM, issue, serving
from tests.actors.sessions.sessions import fake_environ

ENDPOINT_RULES = 24


def _conformance(
    *argv: str, token: str | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``asm conformance …``; ``token`` in $ASM_CONFORMANCE_TOKEN (else none there)."""
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    if token is not None:
        env[TOKEN_ENV] = token
    return subprocess.run(
        [ASM, "conformance", *argv],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=env,
        input=stdin,
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
        result = _conformance("endpoint", "--base-url", endpoint["base_url"], token=token)
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
    result = _conformance("endpoint", "--base-url", f"http://127.0.0.1:{port}/v1", token="t")
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
        "endpoint", "--base-url", "http://127.0.0.1:1/v1", "--scale", "0", token="t"
    )
    assert result.returncode == 2
    assert "scale" in result.stderr


# --- the endpoint's token: from a file or the environment, never the arguments ---------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_token_in_the_arguments_is_refused_without_showing_it() -> None:
    secret = "lease-token-that-ps-would-show"
    url = f"http://127.0.0.1:{_free_port()}/v1"
    result = _conformance("endpoint", "--base-url", url, "--token", secret)
    assert (result.returncode, result.stdout) == (2, "")
    assert "--token puts the token on the command line" in result.stderr
    assert "--token-file" in result.stderr and TOKEN_ENV in result.stderr
    assert secret not in result.stderr


def test_no_token_anywhere_is_a_usage_error_naming_both_ways() -> None:
    result = _conformance("endpoint", "--base-url", "http://127.0.0.1:1/v1")
    assert result.returncode == 2
    assert f"--token-file FILE or ${TOKEN_ENV}" in result.stderr


@pytest.mark.parametrize("from_stdin", [False, True])
def test_the_token_is_read_from_a_file_or_stdin(tmp_path: Path, from_stdin: bool) -> None:
    """Past the token (to the reachability check): the file or stdin was accepted."""
    token_file = tmp_path / "lease.token"
    token_file.write_text("\n  t0ken  \n")
    url = f"http://127.0.0.1:{_free_port()}/v1"
    if from_stdin:
        result = _conformance("endpoint", "--base-url", url, "--token-file", "-", stdin="t0ken\n")
    else:
        result = _conformance("endpoint", "--base-url", url, "--token-file", str(token_file))
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith(f"asm conformance: cannot reach {url}")


def test_a_missing_token_file_is_a_usage_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.token"
    result = _conformance(
        "endpoint", "--base-url", "http://127.0.0.1:1/v1", "--token-file", str(missing)
    )
    assert result.returncode == 2
    assert f"cannot read the token file {missing}" in result.stderr


def _token_args(token_file: Path | None = None, token: str | None = None) -> argparse.Namespace:
    return argparse.Namespace(token=token, token_file=token_file)


@given(
    st.lists(
        st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12), max_size=4
    )
)
def test_conformance_token_file_one_token_one_line(lines: list[str]) -> None:
    """Rule conformance_token_file_one_token_one_line: a token file holds exactly one
    token (no inner whitespace) on one non-blank line, blank lines and the line's
    surrounding whitespace aside; anything else is refused without quoting it."""
    import tempfile

    text = "\n".join(lines)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "token"
        path.write_text(text, encoding="utf-8")
        meaningful = [
            line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
        ]
        if len(meaningful) == 1 and not any(c.isspace() for c in meaningful[0]):
            assert _endpoint_token(_token_args(path)) == meaningful[0]
        else:
            with pytest.raises(_TokenProblem) as caught:
                _endpoint_token(_token_args(path))
            assert all(line not in str(caught.value) for line in meaningful if len(line) > 3)


_ARGV_REFUSAL = "--token puts the token on the command line"


@given(st.text(min_size=1, max_size=40))
def test_conformance_token_never_in_argv(token: str) -> None:
    """Rule conformance_token_never_in_argv: any --token value is refused with the same
    message, which therefore never repeats it."""
    with pytest.raises(_TokenProblem) as caught:
        _endpoint_token(_token_args(token=token))
    with pytest.raises(_TokenProblem) as other:
        _endpoint_token(_token_args(token="x"))
    assert str(caught.value) == str(other.value)
    assert str(caught.value).startswith(_ARGV_REFUSAL)
