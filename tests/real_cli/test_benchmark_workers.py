"""``benchmarks/workers.py`` runs the real codex and gemini, spawned and as workers, and
prints one table with rows of each (numbers are printed, not asserted: noisy machine)."""

from __future__ import annotations

import math
import os
import secrets
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from benchmarks._endpoint_common import MARK_VARIABLE, marked_processes

__all__: list[str] = []

ROOT = Path(__file__).resolve().parents[2]
CLIS = ("codex", "gemini")
MEASURED = (
    "CPU s per completion, asm + its processes",
    "first token ms, p50, spawn cold",
    "completions/s, 2 clients, workers = 2",
    "RSS MiB, asm + its processes, end of the 2-client window",
)


def _number(cell: str) -> float:
    value = float(cell.removesuffix("x"))
    assert math.isfinite(value), cell
    return value


def test_the_workers_benchmark_prints_both_clis_rows_and_leaves_no_process(
    real_cli: Callable[[str], Path],
) -> None:
    bin_dir = real_cli("codex").parent
    real_cli("gemini")
    mark = secrets.token_hex(8)
    argv = ["--completions", "2", "--clients", "2", "--seconds", "1", "--rounds", "1"]
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.workers", "--providers", ",".join(CLIS), *argv],
        cwd=ROOT,
        env={**os.environ, "ASM_REAL_CLI_BIN": str(bin_dir), MARK_VARIABLE: mark},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert lines[0].startswith("workers benchmark: codex-cli "), lines[0]
    assert "; gemini 0.61.0 against the fake Gemini API" in lines[0], lines[0]
    assert lines[1] == "| cli | measurement | spawn | worker | worker / spawn |"
    rows: dict[tuple[str, str], list[str]] = {}
    for line in lines[3:]:
        cli, name, *cells = [cell.strip() for cell in line.strip(" |").split(" | ")]
        rows[cli, name] = cells
    assert {cli for cli, _ in rows} == set(CLIS)
    for cli in CLIS:
        for name in MEASURED:
            (cells,) = [
                cells for (c, row), cells in rows.items() if c == cli and row.startswith(name)
            ]
            assert len(cells) == 3 and cells[2].endswith("x"), (cli, name, cells)
            assert all(_number(cell) >= 0 for cell in cells), (cli, name, cells)
        failed = rows[cli, "failed completions (all phases)"]
        assert failed == ["0", "0", "target 0"], (cli, result.stderr)
        assert rows[cli, "processes of this run left at the end"] == ["0", "0", "target 0"]
    assert len(rows) == 6 * len(CLIS)
    assert marked_processes(mark) == []  # nothing the run started is alive now
