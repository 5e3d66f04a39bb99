"""``benchmarks/upstream.py`` runs against the installed CLIs and prints its table."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_upstream_benchmark_prints_bytes_and_first_tokens_for_three_clis(
    real_cli: Callable[[str], Path],
) -> None:
    bin_dir = real_cli("claude").parent
    real_cli("codex")
    real_cli("gemini")
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.upstream", "--runs", "1"],
        cwd=ROOT,
        env={**os.environ, "ASM_REAL_CLI_BIN": str(bin_dir)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [line.split(" | ")[0] for line in result.stdout.splitlines() if line.startswith("| ")]
    assert rows[1:] == [
        "| claude: upstream bytes, reference chat, agent / completion",
        "| codex: upstream bytes, reference chat, agent / completion",
        "| gemini: upstream bytes, reference chat, agent / completion",
        *(
            f"| {cli}: first token, {spacing} s apart, cold / warm, p50"
            for cli in ("claude", "codex", "gemini")
            for spacing in ("0.5", "3")
        ),
    ]
    # The default persona sends a tenth of the agent's bytes or less.
    ratios = [float(r) for r in re.findall(r"\| (\d\.\d+)x \|", result.stdout)]
    assert len(ratios) == 3 and all(ratio <= 0.1 for ratio in ratios), result.stdout
