"""The README's examples are run, so they never rot.

The console examples must print what the README says, the Python examples must run, and
the shell sessions (the first session at the top, the Events flow) run as written, in a
fresh shell: ``PATH`` without the venv, in a directory holding this checkout's ``.venv``
(and ``Makefile`` and ``tests``), the way a user on a fresh clone types them. Every
server they start is stopped, and no process of theirs outlives the test.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
README = ROOT / "README.md"
FAKES = ROOT / "tests" / "fakes" / "bin"
VENV_BIN = Path(sys.executable).parent


def _environ() -> dict[str, str]:
    """A fresh shell's environment: no venv on PATH, none activated, no Bus variables."""
    path = os.pathsep.join(
        entry
        for entry in os.environ["PATH"].split(os.pathsep)
        if entry and Path(entry).resolve() != VENV_BIN.resolve()
    )
    dropped = {"VIRTUAL_ENV", "BUS_EVENTS_API_BASE_URL", "BUS_EVENTS_TOKEN", "BUS_API_TOKEN"}
    env = {k: v for k, v in os.environ.items() if k not in dropped and not k.startswith("ASM_")}
    return env | {"PATH": path}


def console_examples() -> list[tuple[str, str]]:
    """(command, expected output) pairs from the README's ```console blocks."""
    examples: list[tuple[str, str]] = []
    for block in re.findall(r"```console\n(.*?)```", README.read_text(), re.S):
        for chunk in re.split(r"^\$ ", block, flags=re.M)[1:]:
            command, _, output = chunk.partition("\n")
            examples.append((command, output))
    return examples


def section(heading: str) -> str:
    """The README's text under ``## heading``, up to the next ``## ``."""
    text = README.read_text()
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else len(text)]


def sh_blocks(heading: str) -> list[str]:
    """The ```sh blocks of one section, as written."""
    return re.findall(r"```sh\n(.*?)```", section(heading), re.S)


def first_session() -> tuple[str, str]:
    """The first session's two blocks: the server's terminal, then the client's."""
    server, client = sh_blocks("A first session")[:2]
    return server, client


@contextmanager
def session_of(
    command: str, cwd: Path, env: dict[str, str], output: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """``command`` in ``bash`` in a session of its own, stdout and stderr to ``output`` (a
    file: a server it leaves in the background keeps them open); on leaving, SIGINT to
    its group (a terminal's Ctrl-C), then a check that nothing of that session is left."""
    with output.open("wb") as sink:
        process = subprocess.Popen(
            ["bash", "-c", command],
            cwd=cwd,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            _signal_group(process.pid, signum)
            if _session_ended(process.pid, timeout=20):
                break
        process.wait(timeout=10)
        assert _members(process.pid) == [], "processes outlived the README's session"


def _signal_group(pgid: int, signum: int) -> None:
    with suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def _members(sid: int) -> list[int]:
    """Processes in session ``sid`` (process groups of its own included), zombies aside."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def _session_ended(sid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _members(sid):
            return True
        time.sleep(0.1)
    return False


def _workdir(tmp_path: Path) -> Path:
    """A directory where the README's relative paths resolve to this checkout."""
    tmp_path.mkdir()
    for name in (".venv", "Makefile", "tests", "pyproject.toml"):
        (tmp_path / name).symlink_to(ROOT / name)
    return tmp_path


def _port_8787_is_free() -> bool:
    import socket

    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", 8787)) != 0


def test_readme_opens_with_a_first_session_on_the_fake_cli() -> None:
    headings = re.findall(r"^## (.*)$", README.read_text(), re.M)
    assert headings[0] == "A first session"
    server, client = first_session()
    assert server.startswith("ASM_CLAUDE_BIN=$PWD/tests/fakes/bin/claude make serve ARGS=")
    assert all(line.split()[0] != "asm" for line in client.splitlines())  # not on PATH
    assert "**With a real CLI:**" in section("A first session")


def test_readme_console_examples_print_what_the_readme_says() -> None:
    examples = console_examples()
    assert len(examples) >= 5
    for command, expected in examples:
        result = subprocess.run(
            ["bash", "-c", command],
            check=False,
            capture_output=True,
            text=True,
            env=_environ(),
            cwd=ROOT,
            timeout=60,
        )
        assert result.stdout == expected, command


def test_readme_events_flow_runs_as_written(tmp_path: Path) -> None:
    """The Events section's block, in a fresh shell: its server started in the
    background, a token with the scopes the commands need, the step sent and replayed."""
    if not _port_8787_is_free():
        pytest.fail("127.0.0.1:8787 is in use; the README's example serves there")
    (block,) = [b for b in sh_blocks("The Bus Events API and the bridge") if "events send" in b]
    cwd, log = _workdir(tmp_path / "work"), tmp_path / "output"
    with session_of(f"set -euo pipefail\n{block}", cwd, _environ(), log) as shell:
        shell.wait(timeout=60)  # the block; its server runs on in the background
        output = log.read_text()
        assert shell.returncode == 0, output
    # The background server logs to the same terminal: a log line may land on the same
    # line as a printed object, so each object is read from where it starts.
    decoder = json.JSONDecoder()
    objects = [
        decoder.raw_decode(line, line.index('{"'))[0]
        for line in output.splitlines()
        if '{"' in line
    ]
    receipt, event = objects[-2], objects[-1]
    assert (receipt["accepted"], receipt["name"]) == (True, "ops.deploy.step")
    assert (event["id"], event["name"], event["payload"]) == (
        receipt["id"],
        "ops.deploy.step",
        {"step": 1},
    )


def wait_for_line(output: Path, text: str, timeout: float) -> None:
    """Wait until ``output`` holds ``text`` (a server's ready line)."""
    deadline = time.monotonic() + timeout
    while text not in output.read_text():
        assert time.monotonic() < deadline, output.read_text()
        time.sleep(0.1)


def check_first_session(client_output: str) -> None:
    """What the first session's second block prints: the completion, the receipt, the
    event read back (one JSON document per line)."""
    completion, receipt, event = (json.loads(line) for line in client_output.splitlines())
    assert completion["choices"][0]["message"]["content"] == (
        "Hello from fake claude. You said: Say hi"
    )
    assert (receipt["accepted"], receipt["name"]) == (True, "demo.hello")
    assert (event["id"], event["name"], event["payload"]) == (receipt["id"], "demo.hello", {"n": 1})


def test_readme_first_session_runs_as_written(tmp_path: Path) -> None:
    """The two blocks at the top, each in a fresh shell of its own. One change: make is
    told the venv is installed (``-o``), so the test never installs into this checkout's
    venv; ``.ci/fresh_clone.sh`` runs the blocks untouched on a fresh clone."""
    if not _port_8787_is_free():
        pytest.fail("127.0.0.1:8787 is in use; the README's first session serves there")
    server, client = first_session()
    assert server.count("make serve") == 1
    server = server.replace("make serve", "make -o .venv/.runtime -o .venv/bin/python serve")
    cwd, served = _workdir(tmp_path / "work"), tmp_path / "server"
    with session_of(server, cwd, _environ(), served):
        wait_for_line(served, "asm: serving on http://127.0.0.1:8787", timeout=60)
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", client],
            check=False,
            capture_output=True,
            text=True,
            env=_environ(),
            cwd=cwd,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        check_first_session(result.stdout)
    assert "asm: SIGINT, stopping" in served.read_text()


def _python_examples() -> list[str]:
    pattern = r"```python\n(# Run by tests/actors/cli/test_readme.py.*?)```"
    return re.findall(pattern, README.read_text(), re.S)


def _run_python(block: str) -> list[str]:
    env = {
        **_environ(),
        "ASM_CLAUDE_BIN": str(FAKES / "claude"),
        "ASM_CODEX_BIN": str(FAKES / "codex"),
    }
    result = subprocess.run(
        [sys.executable, "-c", block],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_readme_python_examples_run() -> None:
    sessions, endpoint, bus = _python_examples()
    lines = _run_python(sessions)
    assert lines[0].startswith("Hello from fake claude. You said: Say hi Usage(")
    assert lines[1] == "Started"
    assert lines[-1] == "Finished"
    assert _run_python(endpoint) == ["protocol_match Hello from fake claude. You said: Say hi"]
    assert _run_python(bus) == ["unsupported_provider"]
