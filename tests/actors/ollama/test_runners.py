"""Command runners: local runs, ssh runs through a fake OpenSSH client, and their reaping."""

from __future__ import annotations

import hashlib
import json
import shlex
from pathlib import Path
from typing import Any

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from actors.ollama import (
    OUTPUT_LIMIT,
    CommandResult,
    LocalRunner,
    RunnerError,
    SecretNotFound,
    SecretResolver,
    SshRunner,
    runner_for,
)
from actors.ollama._ssh import remote_command
from actors.ollama.runners import LINE_LIMIT, _Lines
from contracts.nodes import NodeSettings
from tests.processes import alive, gone_within

FAKES = Path(__file__).resolve().parents[2] / "fakes" / "bin"
ENV = {"PATH": "/usr/bin:/bin"}
KEY_REF = "secret://deployment/gpu-1-key"
KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "QyNTUxOQAAACDx0zZ3Yl8YpKq0fakefakefakefakefakefakefakefakeAAAAA=\n"
    "-----END OPENSSH PRIVATE KEY-----"
)


async def _appeared(path: Path) -> None:
    """Wait until the command under test has written ``path`` (it has started)."""
    with trio.fail_after(10):
        while not path.exists():  # noqa: ASYNC110 - no event for another process's write
            await trio.sleep(0.01)


# --- LocalRunner ---------------------------------------------------------------------


async def test_a_non_zero_exit_is_a_result_with_both_streams() -> None:
    result = await LocalRunner(ENV).run(["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert result == CommandResult(exit_code=3, stdout="out\n", stderr="err\n")


async def test_each_line_reaches_on_output_while_the_command_still_runs(tmp_path: Path) -> None:
    """The first lines arrive before the command ends: it waits for a file the test
    writes only once it has seen them."""
    go = tmp_path / "go"
    script = (
        f"echo '>>> one'; printf '10%%\\r20%%\\r' >&2; while [ ! -e {go} ]; do sleep 0.01; done"
    )
    lines: list[str] = []

    def seen(line: str) -> None:
        lines.append(line)
        if len(lines) == 3:
            go.touch()

    with trio.fail_after(10):
        result = await LocalRunner(ENV).run(["sh", "-c", script], on_output=seen)
    assert result.exit_code == 0
    assert sorted(lines) == sorted([">>> one", "10%", "20%"])


@given(
    lines=st.lists(st.text(st.characters(codec="utf-8", categories=["L", "N", "P"]), min_size=1)),
    ends=st.data(),
    cut=st.integers(1, 7),
)
def test_a_line_ends_at_a_newline_or_a_carriage_return(
    lines: list[str], ends: st.DataObject, cut: int
) -> None:
    """What a command prints reaches ``on_output`` line by line, however it is chunked,
    whichever of ``\\n``, ``\\r`` or ``\\r\\n`` ends each line; blank lines are skipped.
    Between them come the lines still being written, each a start of the line it becomes."""
    stream = b"".join(
        line.encode() + ends.draw(st.sampled_from([b"\n", b"\r", b"\r\n", b"\n\n"]))
        for line in lines
    )
    seen: list[str] = []
    feed = _Lines(seen.append).feed
    for start in range(0, len(stream), cut):
        feed(stream[start : start + cut])
    expected = [line.strip()[:LINE_LIMIT] for line in lines if line.strip()]
    at = 0
    for line in seen:  # a start of the line being written, never of one already past
        while at < len(expected) and not expected[at].startswith(line):
            at += 1
        assert at < len(expected), f"{line!r} was not printed (or not in this order)"
    finished = iter(seen)
    assert all(any(line == given for given in finished) for line in expected), (seen, expected)


@pytest.mark.parametrize(
    ("printed", "given"),
    [
        (b"\x1b[1m>>> bold\x1b[0m\n", ">>> bold"),
        (b"bell\x07 and nul\x00\n", "bell and nul"),
        (b"\xff\xfe bytes\n", "\ufffd\ufffd bytes"),
        (b"x" * (LINE_LIMIT + 50) + b"\n", "x" * LINE_LIMIT),
    ],
)
def test_a_line_given_to_on_output_is_printable_and_bounded(printed: bytes, given: str) -> None:
    seen: list[str] = []
    _Lines(seen.append).feed(printed)
    assert seen == [given]


async def test_stdin_is_passed_and_closed() -> None:
    runner = LocalRunner(ENV)
    assert (await runner.run(["cat"], stdin=b"hello\n")).stdout == "hello\n"
    assert (await runner.run(["cat"])).stdout == ""  # no stdin: EOF at once


async def test_env_overrides_the_runner_environment() -> None:
    runner = LocalRunner({**ENV, "A": "base", "B": "base"})
    result = await runner.run(["sh", "-c", 'echo "$A $B $C"'], env={"B": "b", "C": "c"})
    assert result.stdout == "base b c\n"


async def test_argv_is_not_a_shell_line() -> None:
    result = await LocalRunner(ENV).run(["echo", "$HOME; exit 9"])
    assert result == CommandResult(exit_code=0, stdout="$HOME; exit 9\n", stderr="")


async def test_a_missing_program_cannot_start() -> None:
    with pytest.raises(RunnerError, match="cannot start '/nonexistent/ollama'"):
        await LocalRunner(ENV).run(["/nonexistent/ollama", "--version"])


async def test_each_stream_keeps_its_last_64_kib() -> None:
    script = "head -c 100000 /dev/zero | tr '\\0' a; printf end; head -c 70000 /dev/zero >&2"
    result = await LocalRunner(ENV).run(["sh", "-c", script])
    assert len(result.stdout) == OUTPUT_LIMIT
    assert result.stdout.endswith("aend")
    assert len(result.stderr) == OUTPUT_LIMIT


async def test_stdin_the_command_never_reads_does_not_block_it() -> None:
    result = await LocalRunner(ENV).run(["sh", "-c", "exit 4"], stdin=b"x" * 1_000_000)
    assert result.exit_code == 4


async def test_what_the_command_leaves_in_its_group_is_killed(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    # The leftover holds stdout open too: the run must not wait for it.
    result = await LocalRunner(ENV).run(["sh", "-c", f"sleep 100 & echo $! > {pid_file}"])
    assert result.exit_code == 0
    assert await gone_within([int(pid_file.read_text())], 2.0)


async def test_a_timeout_kills_and_reaps_the_whole_group(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    script = f"(trap '' TERM; exec sleep 100) & echo $$ $! > {pids}.tmp; mv {pids}.tmp {pids}; wait"
    with pytest.raises(RunnerError, match=r"did not finish within 1 s") as caught:
        await LocalRunner(ENV).run(["sh", "-c", script], timeout=1.0)
    leader, grandchild = map(int, pids.read_text().split())
    assert not alive(leader)
    assert await gone_within([grandchild], 2.0)
    assert "'sh' on local" in str(caught.value)


async def test_a_cancelled_run_kills_and_reaps_the_whole_group(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    script = f"(trap '' TERM; exec sleep 100) & echo $$ $! > {pids}.tmp; mv {pids}.tmp {pids}; wait"
    async with trio.open_nursery() as nursery:
        nursery.start_soon(LocalRunner(ENV).run, ["sh", "-c", script])
        await _appeared(pids)
        nursery.cancel_scope.cancel()
    leader, grandchild = map(int, pids.read_text().split())
    assert not alive(leader)
    assert await gone_within([grandchild], 2.0)


# --- SshRunner (tests/fakes/bin/ssh) ----------------------------------------------------


def _ssh(tmp_path: Path, *, key: str | None = KEY_REF, **environ: str) -> SshRunner:
    resolver = SecretResolver(None, {"BUS_SECRET_GPU_1_KEY": KEY})
    fake_env = {"PATH": f"{FAKES}:/usr/bin:/bin", "FAKE_SSH_RECORD": str(tmp_path / "calls")}
    return SshRunner("gpu-1", "ops", 2222, key, resolver, environ=fake_env | environ)


def _calls(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "calls"
    lines = path.read_text().splitlines() if path.exists() else []
    return [json.loads(line) for line in lines]


async def test_ssh_runs_openssh_with_the_key_in_a_private_file(tmp_path: Path) -> None:
    result = await _ssh(tmp_path).run(["uname", "-s"])
    assert result == CommandResult(exit_code=0, stdout="Linux\n", stderr="")
    [call] = _calls(tmp_path)
    key_file = call["key"]
    assert call["argv"] == [
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=accept-new",
        "-o",
        "ConnectTimeout=10",
        "-p",
        "2222",
        "-i",
        key_file,
        "-o",
        "IdentitiesOnly=yes",
        "--",
        "ops@gpu-1",
        "uname -s",
    ]
    assert (call["key_mode"], call["key_dir_mode"]) == (0o600, 0o700)
    assert call["key_sha256"] == hashlib.sha256((KEY + "\n").encode()).hexdigest()
    assert not Path(key_file).exists()
    assert not Path(key_file).parent.exists()


async def test_ssh_without_a_key_leaves_authentication_to_openssh(tmp_path: Path) -> None:
    runner = SshRunner(
        "gpu-1",
        None,
        22,
        None,
        SecretResolver(None, {}),
        environ={
            "PATH": f"{FAKES}:/usr/bin:/bin",
            "FAKE_SSH_RECORD": str(tmp_path / "calls"),
        },
    )
    assert (await runner.run(["true"])).exit_code == 0
    [call] = _calls(tmp_path)
    assert "-i" not in call["argv"]
    assert call["argv"][-2:] == ["gpu-1", "true"]


async def test_ssh_passes_env_assignments_and_stdin(tmp_path: Path) -> None:
    script = 'printf "%s|" "$X" "$Y"; cat'
    result = await _ssh(tmp_path).run(
        ["sh", "-c", script], env={"X": "a b'c", "Y": "$(id)"}, stdin=b"from stdin"
    )
    assert result.stdout == "a b'c|$(id)|from stdin"
    [call] = _calls(tmp_path)
    assert shlex.split(call["command"]) == ["env", "X=a b'c", "Y=$(id)", "sh", "-c", script]


async def test_a_failing_ssh_is_exit_255_without_the_key_or_its_path(tmp_path: Path) -> None:
    result = await _ssh(tmp_path, FAKE_SSH_FAIL="1").run(["true"])
    [call] = _calls(tmp_path)
    assert result.exit_code == 255
    assert "invalid format" in result.stderr
    for line in KEY.splitlines():
        assert line not in result.stderr
    assert str(Path(call["key"]).parent) not in result.stderr
    assert not Path(call["key"]).exists()


async def test_the_key_file_is_gone_after_a_failed_command(tmp_path: Path) -> None:
    result = await _ssh(tmp_path).run(["sh", "-c", "echo nope >&2; exit 7"])
    assert (result.exit_code, result.stderr) == (7, "nope\n")
    assert not Path(_calls(tmp_path)[0]["key"]).exists()


async def test_the_remote_output_is_scrubbed_of_the_key(tmp_path: Path) -> None:
    leak = KEY.splitlines()[1]
    result = await _ssh(tmp_path).run(["echo", f"oops {leak}"])
    assert result.stdout == "oops ***\n"


async def test_the_remote_output_is_scrubbed_of_the_key_while_it_runs(tmp_path: Path) -> None:
    leak = KEY.splitlines()[1]
    lines: list[str] = []
    await _ssh(tmp_path).run(["echo", f"oops {leak}"], on_output=lines.append)
    assert lines == ["oops ***"]


async def test_a_timed_out_ssh_names_neither_key_nor_path(tmp_path: Path) -> None:
    with pytest.raises(RunnerError, match="did not finish") as caught:
        await _ssh(tmp_path).run(["sleep", "100"], timeout=1.0)
    key_file = Path(_calls(tmp_path)[0]["key"])
    assert str(key_file.parent) not in str(caught.value)
    assert "'sleep' on ssh ops@gpu-1:2222" in str(caught.value)
    assert not key_file.exists()


async def test_a_cancelled_ssh_removes_the_key_and_reaps_ssh(tmp_path: Path) -> None:
    started = tmp_path / "started"
    async with trio.open_nursery() as nursery:
        nursery.start_soon(
            _ssh(tmp_path).run,
            ["sh", "-c", f"echo $$ > {started}.tmp; mv {started}.tmp {started}; exec sleep 100"],
        )
        await _appeared(started)
        assert Path(_calls(tmp_path)[0]["key"]).exists()  # 0600 while it runs
        nursery.cancel_scope.cancel()
    assert not Path(_calls(tmp_path)[0]["key"]).exists()
    assert not alive(int(started.read_text()))


async def test_an_unresolvable_key_raises_secret_not_found_before_ssh(tmp_path: Path) -> None:
    with pytest.raises(SecretNotFound) as caught:
        await _ssh(tmp_path, key="secret://deployment/absent").run(["true"])
    assert caught.value.reference == "secret://deployment/absent"
    assert _calls(tmp_path) == []


async def test_a_missing_ssh_client_cannot_start(tmp_path: Path) -> None:
    with pytest.raises(RunnerError, match="cannot start 'ssh'") as caught:
        await _ssh(tmp_path, PATH="/nonexistent").run(["true"])
    assert "asm-ssh-" not in str(caught.value)


def test_runner_for_picks_the_runner_of_the_node() -> None:
    resolver = SecretResolver(None, {})
    assert runner_for(NodeSettings(), resolver, ENV).description == "local"
    node = NodeSettings(runner="ssh", host="10.0.0.5", user="ops", port=2200, ssh_key=KEY_REF)
    runner = runner_for(node, resolver, ENV)
    assert isinstance(runner, SshRunner)
    assert runner.description == "ssh ops@10.0.0.5:2200"


_WORDS = st.lists(st.text(st.characters(blacklist_characters="\x00"), max_size=12), max_size=4)
_NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)


@given(_WORDS.filter(bool), st.dictionaries(_NAMES, st.text(max_size=12), max_size=3))
def test_the_remote_line_splits_back_into_env_and_argv(
    argv: list[str], env: dict[str, str]
) -> None:
    """Rule remote_command_quoting: a POSIX shell splits the remote line back into
    exactly ``env K=V ... argv`` (just ``argv`` without assignments)."""
    expected = ["env", *(f"{k}={v}" for k, v in env.items()), *argv] if env else argv
    assert shlex.split(remote_command(argv, env)) == expected
