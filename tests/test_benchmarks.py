"""Benchmark scripts run and print their one table (numbers are not asserted: noisy machine)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_validation_benchmark_prints_one_row_per_request_type() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.validation", "--rounds", "1", "--seconds", "0.01"],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| bus.inference.")]
    assert len(rows) == 4
    assert all(row.rstrip(" |").endswith("x") for row in rows)
