"""An embedded system holds its state directory for its whole life (issue 15 §8): a
second process opening it is refused and kills nothing, instead of sweeping the first
one's live CLIs as orphans."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from actors.processes import StateDirBusy
from actors.system import open_system
from tests.actors.sessions.sessions import children_environ

HOLDER = """
import sys, trio
from actors.system import open_system

async def main():
    async with open_system(bind=None, bus=None, state_dir=sys.argv[1]):
        print("ready", flush=True)
        sys.stdin.read()  # until the test closes stdin

trio.run(main)
"""


async def test_a_second_process_cannot_open_a_state_dir_a_system_holds(tmp_path: Path) -> None:
    state = tmp_path / "state"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(state)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=children_environ(),
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "ready\n"
        with pytest.raises(StateDirBusy, match=f"pid {holder.pid}"):
            async with open_system(bind=None, bus=None, state_dir=state):
                pass  # pragma: no cover
        assert holder.poll() is None
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        assert holder.wait(timeout=30) == 0
    async with open_system(bind=None, bus=None, state_dir=state):
        pass  # free again once the holder is gone
