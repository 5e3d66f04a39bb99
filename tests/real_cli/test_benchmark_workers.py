"""``benchmarks/workers.py`` runs the real codex, spawned and as workers, and prints its
table (numbers are printed, not asserted: noisy machine)."""

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


def test_the_workers_benchmark_prints_spawn_worker_and_ratio_and_leaves_no_process(
    real_cli: Callable[[str], Path],
) -> None:
    bin_dir = real_cli("codex").parent
    mark = secrets.token_hex(8)
    argv = ["--completions", "2", "--clients", "2", "--seconds", "1", "--rounds", "1"]
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.workers", *argv, "--workers", "2"],
        cwd=ROOT,
        env={**os.environ, "ASM_REAL_CLI_BIN": str(bin_dir), MARK_VARIABLE: mark},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert lines[0].startswith("workers benchmark: codex-cli "), lines[0]
    assert lines[1] == "| measurement | spawn | worker | worker / spawn |"
    rows = {
        cells[0]: cells[1:]
        for line in lines[3:]
        if (cells := [cell.strip() for cell in line.strip(" |").split(" | ")])
    }
    for name in MEASURED:
        (cells,) = [cells for row, cells in rows.items() if row.startswith(name)]
        spawn, worker, ratio = cells
        assert ratio.endswith("x"), (name, cells)
        assert all(_number(cell) >= 0 for cell in (spawn, worker, ratio)), (name, cells)
    assert rows["failed completions (all phases)"] == ["0", "0", "target 0"], result.stderr
    assert rows["processes of this run left at the end"] == ["0", "0", "target 0"]
    assert marked_processes(mark) == []  # nothing the run started is alive now
