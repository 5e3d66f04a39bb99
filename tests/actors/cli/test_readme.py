"""The README's console examples are run, so they never rot."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
README = ROOT / "README.md"
FAKES = ROOT / "tests" / "fakes" / "bin"


def _environ() -> dict[str, str]:
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    return {**os.environ, "PATH": path}


def console_examples() -> list[tuple[str, str]]:
    """(command, expected output) pairs from the README's ```console blocks."""
    examples: list[tuple[str, str]] = []
    for block in re.findall(r"```console\n(.*?)```", README.read_text(), re.S):
        for chunk in re.split(r"^\$ ", block, flags=re.M)[1:]:
            command, _, output = chunk.partition("\n")
            examples.append((command, output))
    return examples


def test_readme_opens_with_the_two_commands() -> None:
    head = README.read_text().split("```sh\n", 1)[1].split("```", 1)[0]
    assert [line.split()[:2] for line in head.splitlines()] == [["make", "serve"], ["make", "test"]]


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
