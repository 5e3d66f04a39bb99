"""The process mechanics every session shares: framing, stderr tail, the shutdown ladder."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import trio
import trio.testing

from actors.processes import (
    Ladder,
    LineTooLong,
    StderrTail,
    read_lines,
    reap,
    spawn,
)
from tests.processes import alive, gone_within, group_members

FAST = Ladder(voluntary=0.2, terminate=0.3)


async def _frame(chunks: list[bytes], limit: int = 16) -> list[bytes | LineTooLong]:
    send_stream, receive_stream = trio.testing.memory_stream_one_way_pair()
    send, receive = trio.open_memory_channel[bytes | LineTooLong](100)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(read_lines, receive_stream, send, limit)
        for chunk in chunks:
            await send_stream.send_all(chunk)
            await trio.testing.wait_all_tasks_blocked()
        await send_stream.aclose()
    return [item async for item in receive]


async def test_lines_are_framed_across_chunks_and_the_last_line_needs_no_newline() -> None:
    lines = await _frame([b"ab", b"c\nde", b"f\n\nlast"])
    assert lines == [b"abc", b"def", b"", b"last"]


async def test_a_line_over_the_limit_ends_framing_with_line_too_long() -> None:
    lines = await _frame([b"ok\n", b"x" * 10, b"y" * 10, b"\nmore\n"])
    assert lines[0] == b"ok"
    assert isinstance(lines[1], LineTooLong)
    assert len(lines) == 2


async def test_a_line_of_exactly_the_limit_is_accepted() -> None:
    lines = await _frame([b"x" * 16 + b"\n"])
    assert lines == [b"x" * 16]


async def test_stderr_tail_keeps_only_the_end() -> None:
    send_stream, receive_stream = trio.testing.memory_stream_one_way_pair()
    tail = StderrTail(limit=8)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(tail.drain, receive_stream)
        await send_stream.send_all(b"0123456789abcdef")
        await send_stream.aclose()
    assert tail.text() == "89abcdef"


async def test_a_process_that_exits_on_eof_is_reaped_without_signals(tmp_path: Path) -> None:
    child = await spawn(("cat",), env={"PATH": "/usr/bin:/bin"}, cwd=str(tmp_path))
    with trio.fail_after(5):
        code = await reap(child, FAST)
        await child.close_output()
    assert code == 0
    assert not alive(child.pid)


async def test_a_process_ignoring_sigterm_is_killed_within_the_ladder_budget(
    tmp_path: Path,
) -> None:
    child = await spawn(
        ("sh", "-c", "trap '' TERM; sleep 100 & wait"),
        env={"PATH": "/usr/bin:/bin"},
        cwd=str(tmp_path),
    )
    start = trio.current_time()
    code = await reap(child, FAST)
    await child.close_output()
    elapsed = trio.current_time() - start
    assert code == -signal.SIGKILL
    assert elapsed < FAST.budget + 1.0
    assert await gone_within(group_members(child.pgid), 1.0)


async def test_what_the_leader_leaves_behind_in_its_group_is_killed(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild"
    child = await spawn(
        ("sh", "-c", f"sleep 100 >/dev/null 2>&1 & echo $! > {pid_file}; exit 0"),
        env={"PATH": "/usr/bin:/bin"},
        cwd=str(tmp_path),
    )
    code = await reap(child, FAST)
    await child.close_output()
    grandchild = int(pid_file.read_text())
    assert code == 0
    assert await gone_within([grandchild], 1.0)


async def test_the_ladder_finishes_even_when_its_caller_is_cancelled(tmp_path: Path) -> None:
    child = await spawn(("sleep", "100"), env={"PATH": "/usr/bin:/bin"}, cwd=str(tmp_path))
    with trio.CancelScope() as scope:
        scope.cancel()
        await reap(child, FAST)
        await child.close_output()
    assert child.reaped
    assert not alive(child.pid)


async def test_a_missing_executable_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        await spawn(("/nonexistent/claude",), env={}, cwd=str(tmp_path))
