"""The run-wide guard: a test run that leaves a process behind fails."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

LEAKY_TEST = """
import subprocess
from pathlib import Path


def test_leaves_a_process_behind(tmp_path_factory):
    child = subprocess.Popen(["sleep", "30"], start_new_session=True)
    Path({pid_file!r}).write_text(str(child.pid))
"""

ORPHAN_TEST = """
import subprocess
from pathlib import Path


def test_leaves_an_orphan_behind():
    # The shell exits at once; its sleep is re-parented (to the run, its subreaper).
    subprocess.run(["sh", "-c", "sleep 30 >/dev/null 2>&1 & echo $! > {pid_file}"], check=True)
"""


def _run_guarded(tmp_path: Path, body: str) -> tuple[subprocess.CompletedProcess[str], int]:
    pid_file = tmp_path / "leaked.pid"
    test = tmp_path / "test_leak.py"
    test.write_text(body.format(pid_file=str(pid_file)))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "tests.conftest",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            str(test),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    leaked = int(pid_file.read_text())
    return result, leaked


def _kill(pid: int) -> None:
    """Kill the leaked process and reap it: the inner run's orphans are adopted by this run."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def test_a_run_that_leaves_a_child_running_fails(tmp_path: Path) -> None:
    result, leaked = _run_guarded(tmp_path, LEAKY_TEST)
    try:
        assert result.returncode != 0, result.stdout
        assert "outlived the test run" in result.stdout + result.stderr
        assert str(leaked) in result.stdout + result.stderr
    finally:
        _kill(leaked)


def test_a_run_that_leaves_an_orphaned_grandchild_fails(tmp_path: Path) -> None:
    result, leaked = _run_guarded(tmp_path, ORPHAN_TEST)
    try:
        assert result.returncode != 0, result.stdout
        assert str(leaked) in result.stdout + result.stderr
    finally:
        _kill(leaked)
