"""The ``asm`` entry point at this stage: it runs, and ``serve`` says what is not built."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ASM = str(Path(sys.executable).with_name("asm"))


def test_serve_says_what_is_not_built_and_exits_cleanly() -> None:
    result = subprocess.run([ASM, "serve"], check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "not built yet" in result.stderr


def test_unknown_subcommand_is_a_usage_error() -> None:
    result = subprocess.run(
        [ASM, "launch"], check=False, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2 and result.stdout == ""
