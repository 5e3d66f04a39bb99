"""``benchmarks/real_clis.py`` runs against the installed CLIs and prints its table."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_real_cli_benchmark_prints_cold_and_warm_for_claude_and_codex(
    real_cli: Callable[[str], Path],
) -> None:
    bin_dir = real_cli("claude").parent
    real_cli("codex")
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.real_clis", "--runs", "1"],
        cwd=ROOT,
        env={**os.environ, "ASM_REAL_CLI_BIN": str(bin_dir)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [line.split(" | ")[0] for line in result.stdout.splitlines() if line.startswith("| ")]
    assert rows[1:] == [
        "| claude: first token, cold / warm pool, p50",
        "| codex: first token, cold / warm pool, p50",
    ]
    assert result.stdout.count("x cold |") == 2
