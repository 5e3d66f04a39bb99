"""A command line no exec can pass is one failed run, never an exception (issue 15).

A model id with a NUL byte used to reach ``subprocess.Popen``, whose ``ValueError``
took the session actor, then its lease, down (a 500, then 404s). ``spawn`` now refuses
such an argv or environment with :class:`UnsafeCommandLine`, and the session reports
``Failed(kind="crashed")`` naming where, never the value.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.processes import (
    MAX_ARGUMENT_BYTES,
    UnsafeCommandLine,
    check_command_line,
    reap,
    spawn,
)
from contracts.session import Failed, Finished
from tests.actors.sessions.sessions import FAST_LADDER, fake_spec, run_once

_text = st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=30)


@given(_text, _text, st.integers(0, 3))
def test_rule_command_line_strings_hold_no_nul(before: str, after: str, where: int) -> None:
    """Rule: no argument, variable name or value holds a NUL byte; the message names the
    place, never the value."""
    bad = before + "\x00" + after
    argv = ["cli", "--model", "m"]
    env = {"HOME": "/home/x"}
    if where < 3:
        argv[where] = bad
    else:
        env["API_KEY"] = bad
    with pytest.raises(UnsafeCommandLine) as caught:
        check_command_line(argv, env)
    assert "NUL" in str(caught.value)
    if len(before) >= 4:
        assert before not in str(caught.value)
    check_command_line([before or "cli", after], {"API_KEY": before + after})  # passes


@given(st.integers(MAX_ARGUMENT_BYTES + 1, MAX_ARGUMENT_BYTES + 64), st.booleans())
def test_rule_command_line_strings_are_bounded(size: int, in_env: bool) -> None:
    """Rule: one argument (or ``NAME=value``) is at most 128 KiB, as exec allows."""
    long = "x" * size
    with pytest.raises(UnsafeCommandLine, match="over"):
        if in_env:
            check_command_line(["cli"], {"V": long})
        else:
            check_command_line(["cli", long], {})


@pytest.mark.parametrize("env", [{"": "x"}, {"A=B": "x"}, {"\x00": "x"}])
def test_an_unusable_variable_name_is_refused(env: dict[str, str]) -> None:
    with pytest.raises(UnsafeCommandLine, match="unusable name"):
        check_command_line(["cli"], env)


async def test_spawn_refuses_before_it_forks(tmp_path: Path) -> None:
    with pytest.raises(UnsafeCommandLine):
        await spawn(["/bin/echo", "a\x00b"], env={}, cwd=str(tmp_path))
    child = await spawn(["/bin/true"], env={}, cwd=str(tmp_path))
    assert await reap(child, FAST_LADDER) == 0


@pytest.mark.parametrize("provider", ["claude", "codex", "gemini"])  # amp takes no model
async def test_a_model_with_a_nul_byte_is_a_crashed_run_not_an_exception(
    provider: str, tmp_path: Path
) -> None:
    spec = dataclasses.replace(fake_spec(provider, tmp_path), model="fake\x00model")
    _, events = await run_once(spec, "Hi")
    [failed] = events
    assert isinstance(failed, Failed), events
    assert failed.kind == "crashed"
    assert "NUL" in failed.message and "fake\x00" not in failed.message
    _, events = await run_once(fake_spec(provider, tmp_path), "Hi")  # the next one runs
    assert isinstance(events[-1], Finished)
