"""The real-CLI tier (``make test-real-clis``): the real claude, codex, gemini and amp.

The CLIs are the pinned npm releases the Makefile installs into ``.cache/real-clis``
(``$ASM_REAL_CLI_BIN`` points elsewhere). Every test here is marked ``real_cli``; the
default run leaves them out. Without the CLIs they skip, saying why, unless
``ASM_REQUIRE_REAL_CLIS=1`` (set by ``make test-real-clis``) turns that into a failure.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BIN = ROOT / ".cache" / "real-clis" / "node_modules" / ".bin"
BIN = Path(os.environ.get("ASM_REAL_CLI_BIN") or DEFAULT_BIN)
HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.real_cli)


@pytest.fixture
def real_cli() -> Callable[[str], Path]:
    """The path of an installed real CLI (``claude``, ``codex``, ``gemini``, ``amp``)."""

    def find(name: str) -> Path:
        path = BIN / name
        if not path.exists():
            reason = f"the real {name} CLI is not installed at {BIN} (run make test-real-clis)"
            if os.environ.get("ASM_REQUIRE_REAL_CLIS"):
                pytest.fail(reason)
            pytest.skip(reason)
        return path

    return find
