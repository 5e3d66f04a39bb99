"""The fake provider CLIs print their provider's real line format and inject each fault.

Every fake runs by path from a scrubbed environment (PATH, HOME, LANG, TMPDIR and the
FAKE_CLI_* variables), as a supervisor would start it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import fake_cli
from tests.fakes.fake_cli import (
    amp_messages,
    answer_pieces,
    answer_text,
    expected_cost_usd,
    expected_tokens,
    expected_usage,
)

BIN = Path(__file__).resolve().parent.parent / "fakes" / "bin"
PROVIDERS = ("claude", "codex", "gemini", "amp")
COMMANDS = {
    "claude": [
        "-p",
        "--output-format=stream-json",
        "--verbose",
        "--include-partial-messages",
        "--model=claude-sonnet-4-5",
        "--tools=",
        "--permission-mode=plan",
        "--strict-mcp-config",
        "--setting-sources=",
    ],
    "codex": [
        "exec",
        "--json",
        "--skip-git-repo-check",
        "--color=never",
        "--ephemeral",
        "--sandbox=read-only",
        "--model=gpt-5",
        "-c",
        'approval_policy="never"',
        "--config=web_search=disabled",
        "-",
    ],
    "gemini": ["--output-format=stream-json", "--model=gemini-2.5-flash", "--approval-mode=plan"],
    "amp": ["-x", "--stream-json", "--no-ide", "--no-notifications"],
}
PROMPT = "Say hi to the fake.\n"
TIMEOUT = 10.0


def _env(**extra: str) -> dict[str, str]:
    """The scrubbed environment, with this interpreter's directory first on PATH.

    ``python3`` then resolves straight to a real interpreter, not a slow pyenv shim.
    """
    env = {
        name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TMPDIR") if name in os.environ
    }
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    env.update(extra)
    return env


def _run(
    provider: str, prompt: str = PROMPT, args: list[str] | None = None, **env: str
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [str(BIN / provider), *(COMMANDS[provider] if args is None else args)],
        input=prompt.encode(),
        capture_output=True,
        env=_env(**env),
        timeout=TIMEOUT,
        check=False,
    )


def _lines(output: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.decode().splitlines()]


@contextlib.contextmanager
def _started(provider: str, prompt: str, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    """A fake in its own process group, fed ``prompt``; its whole group is killed at the end."""
    process = subprocess.Popen(
        [str(BIN / provider), *COMMANDS[provider]],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=_env(**env),
        start_new_session=True,
    )
    try:
        assert process.stdin is not None
        process.stdin.write(prompt.encode())
        process.stdin.close()
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=TIMEOUT)
        assert process.stdout is not None
        process.stdout.close()


def _read_lines(process: subprocess.Popen[bytes], count: int) -> list[dict[str, Any]]:
    assert process.stdout is not None
    return [json.loads(process.stdout.readline()) for _ in range(count)]


def _kill_and_reap(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    # The test run is a subreaper: an orphaned grandchild is our child, so reap it.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _text(provider: str, lines: list[dict[str, Any]]) -> str:
    """The answer text a decoder would assemble from the fake's lines."""
    if provider == "claude":
        return "".join(
            line["event"]["delta"]["text"]
            for line in lines
            if line["type"] == "stream_event"
            and line["event"]["type"] == "content_block_delta"
            and line["event"]["delta"]["type"] == "text_delta"
        )
    if provider == "codex":
        messages = [
            line["item"]["text"]
            for line in lines
            if line["type"] == "item.completed" and line["item"]["type"] == "agent_message"
        ]
        return messages[-1] if messages else ""
    if provider == "gemini":
        return "".join(
            line["content"]
            for line in lines
            if line["type"] == "message" and line["role"] == "assistant" and line.get("delta")
        )
    return "".join(
        block["text"]
        for line in lines
        if line["type"] == "assistant"
        for block in line["message"]["content"]
        if block["type"] == "text"
    )


# -- ok ---------------------------------------------------------------------------------------


def test_claude_ok_streams_deltas_then_a_result_with_cache_usage_and_cost() -> None:
    done = _run("claude")
    assert done.returncode == 0, done.stderr
    lines = _lines(done.stdout)
    assert lines[0]["type"] == "system"
    assert lines[0]["subtype"] == "init"
    assert lines[0]["model"] == "claude-sonnet-4-5"
    deltas = [line for line in lines if line["type"] == "stream_event"]
    texts = [
        line["event"]["delta"]["text"]
        for line in deltas
        if line["event"]["type"] == "content_block_delta"
    ]
    assert texts == answer_pieces("claude", PROMPT)
    assert len(texts) >= 3
    assert _text("claude", lines) == answer_text("claude", PROMPT)
    assistant = next(line for line in lines if line["type"] == "assistant")
    assert assistant["message"]["content"] == [
        {"type": "text", "text": answer_text("claude", PROMPT)}
    ]
    stops = [line["event"] for line in deltas if line["event"]["type"] == "message_delta"]
    assert stops[0]["delta"]["stop_reason"] == "end_turn"
    result = lines[-1]
    assert result["type"] == "result"
    assert result["subtype"] == "success"
    assert result["is_error"] is False
    assert result["result"] == answer_text("claude", PROMPT)
    assert result["session_id"] == lines[0]["session_id"]
    usage = expected_usage("claude", PROMPT)
    assert {key: result["usage"][key] for key in usage} == usage
    assert usage["cache_read_input_tokens"] > 0
    assert usage["cache_creation_input_tokens"] > 0
    assert result["total_cost_usd"] == expected_cost_usd(PROMPT) > 0
    assert expected_tokens("claude", PROMPT) == (
        usage["input_tokens"]
        + usage["cache_read_input_tokens"]
        + usage["cache_creation_input_tokens"],
        usage["output_tokens"],
    )


def test_claude_without_partial_messages_gives_only_the_whole_message() -> None:
    args = [arg for arg in COMMANDS["claude"] if arg != "--include-partial-messages"]
    done = _run("claude", args=args)
    assert done.returncode == 0, done.stderr
    lines = _lines(done.stdout)
    assert not [line for line in lines if line["type"] == "stream_event"]
    assert [line["type"] for line in lines] == ["system", "system", "assistant", "result"]
    assert lines[-1]["result"] == answer_text("claude", PROMPT)


def test_codex_ok_gives_whole_items_and_turn_usage() -> None:
    done = _run("codex")
    assert done.returncode == 0, done.stderr
    lines = _lines(done.stdout)
    assert [line["type"] for line in lines] == [
        "thread.started",
        "turn.started",
        "item.completed",
        "item.completed",
        "turn.completed",
    ]
    assert lines[0]["thread_id"]
    assert _text("codex", lines) == answer_text("codex", PROMPT)
    assert lines[-1]["usage"] == expected_usage("codex", PROMPT)
    assert b"Reading additional input from stdin..." in done.stderr


def test_gemini_ok_echoes_the_prompt_and_streams_delta_messages() -> None:
    done = _run("gemini")
    assert done.returncode == 0, done.stderr
    lines = _lines(done.stdout)
    assert all("timestamp" in line for line in lines)
    assert lines[0]["type"] == "init"
    assert lines[0]["model"] == "gemini-2.5-flash"
    assert lines[1] == {**lines[1], "type": "message", "role": "user", "content": PROMPT}
    deltas = [line["content"] for line in lines if line.get("delta")]
    assert deltas == answer_pieces("gemini", PROMPT)
    assert _text("gemini", lines) == answer_text("gemini", PROMPT)
    result = lines[-1]
    assert result["type"] == "result"
    assert result["status"] == "success"
    usage = expected_usage("gemini", PROMPT)
    assert {key: result["stats"][key] for key in usage} == usage


def test_amp_ok_gives_whole_assistant_messages_whose_usage_sums() -> None:
    done = _run("amp")
    assert done.returncode == 0, done.stderr
    lines = _lines(done.stdout)
    assert lines[0]["type"] == "system"
    assert lines[0]["subtype"] == "init"
    assert lines[0]["session_id"].startswith("T-")
    assistants = [line for line in lines if line["type"] == "assistant"]
    assert len(assistants) >= 2
    assert [a["message"]["content"][0]["text"] for a in assistants] == amp_messages(PROMPT)
    assert _text("amp", lines) == answer_text("amp", PROMPT)
    summed: dict[str, int] = {}
    for assistant in assistants:
        for key, value in assistant["message"]["usage"].items():
            summed[key] = summed.get(key, 0) + value
    assert summed == expected_usage("amp", PROMPT)
    result = lines[-1]
    assert result["type"] == "result"
    assert result["is_error"] is False
    assert result["result"] == answer_text("amp", PROMPT)
    assert "usage" not in result


def test_the_answer_echoes_at_most_200_characters_of_the_stripped_prompt() -> None:
    prompt = "  " + "x" * 300 + "\n"
    assert answer_text("gemini", prompt) == "Hello from fake gemini. You said: " + "x" * 200
    done = _run("gemini", prompt)
    assert _text("gemini", _lines(done.stdout)) == answer_text("gemini", prompt)


# -- command line -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "args"),
    [
        ("claude", ["--output-format=stream-json", "--verbose"]),
        ("claude", ["-p", "--verbose"]),
        ("claude", ["-p", "--output-format=stream-json"]),
        ("codex", ["--json", "-"]),
        ("codex", ["exec", "-"]),
        ("codex", ["exec", "--json"]),
        ("gemini", ["--model=gemini-2.5-flash"]),
        ("gemini", ["--output-format=json"]),
        ("amp", ["--stream-json"]),
        ("amp", ["-x"]),
    ],
)
def test_a_command_line_missing_a_required_flag_exits_2(provider: str, args: list[str]) -> None:
    done = _run(provider, args=args)
    assert done.returncode == fake_cli.USAGE_EXIT_CODE
    assert done.stdout == b""
    assert done.stderr.strip()


@pytest.mark.parametrize("provider", PROVIDERS)
def test_version_prints_one_line_and_exits_0(provider: str) -> None:
    done = _run(provider, "", args=["--version"])
    assert done.returncode == 0
    assert done.stdout.decode() == fake_cli.VERSIONS[provider] + "\n"


def test_two_argument_option_forms_are_accepted() -> None:
    args = ["-p", "--output-format", "stream-json", "--verbose", "--model", "claude-x"]
    done = _run("claude", args=args)
    assert done.returncode == 0, done.stderr
    assert _lines(done.stdout)[0]["model"] == "claude-x"
    done = _run("gemini", args=["-o", "stream-json"])
    assert done.returncode == 0, done.stderr


def test_codex_login_status() -> None:
    done = _run("codex", "", args=["login", "status"])
    assert done.returncode == 0
    assert b"Logged in" in done.stderr
    done = _run("codex", "", args=["login", "status"], FAKE_CLI_MODE="not_logged_in")
    assert done.returncode == 1
    assert b"Not logged in" in done.stderr


def test_an_unknown_mode_exits_2() -> None:
    assert _run("claude", FAKE_CLI_MODE="nonsense").returncode == 2
    assert _run("claude", "[fake:nonsense] hi").returncode == 2


# -- modes ------------------------------------------------------------------------------------


def test_the_prompt_directive_overrides_the_environment() -> None:
    done = _run("claude", "[fake:ok] hi", FAKE_CLI_MODE="crash_mid")
    assert done.returncode == 0
    assert _lines(done.stdout)[-1]["result"] == answer_text("claude", "[fake:ok] hi")
    done = _run("codex", "please [fake:crash_mid] now")
    assert done.returncode == fake_cli.CRASH_EXIT_CODE


@pytest.mark.parametrize("provider", PROVIDERS)
def test_crash_mid_prints_two_deltas_then_exits_3_without_a_result(provider: str) -> None:
    done = _run(provider, FAKE_CLI_MODE="crash_mid")
    assert done.returncode == fake_cli.CRASH_EXIT_CODE
    lines = _lines(done.stdout)
    assert lines[-1]["type"] not in ("result", "turn.completed", "turn.failed")
    text = _text(provider, lines)
    if provider in ("claude", "gemini"):
        assert text == "".join(answer_pieces(provider, PROMPT)[:2])
    elif provider == "amp":
        assert text == "".join(amp_messages(PROMPT)[:2])
    assert b"simulated crash" in done.stderr


@pytest.mark.parametrize("provider", PROVIDERS)
def test_nonjson_prints_a_non_json_line_then_answers(provider: str) -> None:
    done = _run(provider, FAKE_CLI_MODE="nonjson")
    assert done.returncode == 0
    raw = done.stdout.decode().splitlines()
    assert raw[1] == fake_cli.NOT_JSON_LINE
    lines = [json.loads(line) for line in raw if line != fake_cli.NOT_JSON_LINE]
    assert _text(provider, lines) == answer_text(provider, PROMPT)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_huge_line_prints_a_valid_json_line_of_at_least_2_mib(provider: str) -> None:
    done = _run(provider, FAKE_CLI_MODE="huge_line")
    assert done.returncode == 0
    raw = done.stdout.splitlines()
    assert len(raw[1]) >= 2 * 1024 * 1024
    lines = [json.loads(line) for line in raw]
    assert _text(provider, lines) == fake_cli.huge_text()
    assert lines[-1]["type"] in ("result", "turn.completed")


def test_not_logged_in_claude_gives_an_error_result_and_exit_1() -> None:
    done = _run("claude", FAKE_CLI_MODE="not_logged_in")
    assert done.returncode == 1
    lines = _lines(done.stdout)
    assert lines[0]["subtype"] == "init"
    assert lines[-1]["type"] == "result"
    assert lines[-1]["result"] == "Not logged in · Please run /login"
    assert lines[-1]["is_error"] is True


def test_not_logged_in_codex_retries_a_401_then_fails_the_turn() -> None:
    started = time.monotonic()
    done = _run("codex", FAKE_CLI_MODE="not_logged_in")
    assert time.monotonic() - started < 5
    assert done.returncode == 1
    lines = _lines(done.stdout)
    retries = [line["message"] for line in lines if line["type"] == "error"]
    assert retries[0].startswith("Reconnecting... 1/5")
    assert all("401" in message for message in retries)
    assert lines[-1]["type"] == "turn.failed"
    assert "401 Unauthorized" in lines[-1]["error"]["message"]


def test_not_logged_in_gemini_exits_41_with_no_result() -> None:
    done = _run("gemini", FAKE_CLI_MODE="not_logged_in")
    assert done.returncode == 41
    assert done.stdout == b""
    assert b"Please set an Auth method" in done.stderr


def test_not_logged_in_amp_exits_1_asking_for_a_login() -> None:
    done = _run("amp", FAKE_CLI_MODE="not_logged_in")
    assert done.returncode == 1
    assert done.stdout == b""
    assert b"amp login" in done.stderr
    assert b"AMP_API_KEY" in done.stderr


def test_stderr_flood_writes_1_mib_to_stderr_then_answers() -> None:
    done = _run("gemini", FAKE_CLI_MODE="stderr_flood")
    assert done.returncode == 0
    assert len(done.stderr) >= fake_cli.STDERR_FLOOD_BYTES
    assert _text("gemini", _lines(done.stdout)) == answer_text("gemini", PROMPT)


def test_slow_waits_between_deltas() -> None:
    started = time.monotonic()
    done = _run("gemini", FAKE_CLI_MODE="slow", FAKE_CLI_DELAY_MS="30")
    elapsed = time.monotonic() - started
    assert done.returncode == 0
    pieces = len(answer_pieces("gemini", PROMPT))
    assert elapsed >= (pieces - 1) * 0.03
    assert _text("gemini", _lines(done.stdout)) == answer_text("gemini", PROMPT)


def test_startup_delay_comes_before_reading_stdin(tmp_path: Path) -> None:
    started = time.monotonic()
    done = _run("amp", FAKE_CLI_STARTUP_MS="150", FAKE_CLI_PID_DIR=str(tmp_path))
    assert time.monotonic() - started >= 0.15
    assert done.returncode == 0
    assert int((tmp_path / "leader").read_text()) > 0
    assert not [path for path in tmp_path.iterdir() if path.name != "leader"]


def test_grandchild_stays_in_the_leaders_group_after_the_leader_exits(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [str(BIN / "claude"), *COMMANDS["claude"]],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=_env(FAKE_CLI_MODE="grandchild", FAKE_CLI_PID_DIR=str(tmp_path)),
        start_new_session=True,
    )
    grandchild = 0
    try:
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdin.write(PROMPT.encode())
        process.stdin.close()
        lines: list[dict[str, Any]] = []
        while not lines or lines[-1]["type"] != "result":
            lines.append(json.loads(process.stdout.readline()))
        assert process.wait(timeout=TIMEOUT) == 0
        leader = int((tmp_path / "leader").read_text())
        grandchild = int((tmp_path / "grandchild").read_text())
        assert leader == process.pid
        assert os.getpgid(grandchild) == process.pid
        # It still holds stdout open: no EOF until the group is killed.
        assert _text("claude", lines) == answer_text("claude", PROMPT)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=TIMEOUT)
        if grandchild:
            _kill_and_reap(grandchild)
        assert process.stdout is not None
        assert process.stdout.read() == b""
        process.stdout.close()


def test_silent_start_prints_nothing(tmp_path: Path) -> None:
    with _started("gemini", PROMPT, FAKE_CLI_MODE="silent_start") as process:
        assert process.stdout is not None
        os.set_blocking(process.stdout.fileno(), False)
        time.sleep(0.2)
        assert process.poll() is None
        assert process.stdout.read() is None  # nothing written, nothing at EOF


@pytest.mark.parametrize("provider", PROVIDERS)
def test_silent_mid_prints_two_deltas_then_stalls(provider: str) -> None:
    with _started(provider, PROMPT, FAKE_CLI_MODE="silent_mid") as process:
        count = {"claude": 6, "codex": 4, "gemini": 4, "amp": 3}[provider]
        lines = _read_lines(process, count)
        text = _text(provider, lines)
        if provider in ("claude", "gemini"):
            assert text == "".join(answer_pieces(provider, PROMPT)[:2])
        elif provider == "amp":
            assert text == "".join(amp_messages(PROMPT)[:2])
        else:
            assert text == answer_text("codex", PROMPT)
        assert process.poll() is None


@pytest.mark.parametrize("provider", PROVIDERS)
def test_ignore_term_survives_sigterm_after_its_start_line(provider: str) -> None:
    with _started(provider, "[fake:ignore_term]") as process:
        first = _read_lines(process, 1)[0]
        assert first["type"] in ("system", "thread.started", "init")
        process.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        assert process.poll() is None


def test_ignore_term_from_the_environment_ignores_sigterm_while_parked_on_stdin(
    tmp_path: Path,
) -> None:
    process = subprocess.Popen(
        [str(BIN / "codex"), *COMMANDS["codex"]],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=_env(FAKE_CLI_MODE="ignore_term", FAKE_CLI_PID_DIR=str(tmp_path)),
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + TIMEOUT
        while not (tmp_path / "leader").exists():  # written once SIGTERM is ignored
            assert time.monotonic() < deadline
            time.sleep(0.01)
        process.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        assert process.poll() is None
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=TIMEOUT)
        assert process.stdin is not None
        process.stdin.close()
