"""Project-wide test configuration: Hypothesis profiles and the orphan-process guard."""

from __future__ import annotations

import contextlib
import ctypes
import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from tests.processes import descendants

pytest_plugins = ["tests.redis_server"]  # redis_url, redis_server_factory

settings.register_profile(
    "default",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("ci", parent=settings.get_profile("default"), max_examples=200)
settings.load_profile("ci" if os.environ.get("CI") else "default")


_PR_SET_CHILD_SUBREAPER = 36


def _become_subreaper() -> None:
    """Adopt orphaned descendants, so a grandchild a CLI left behind is still ours to see.

    Without this an orphan is re-parented to init and escapes the guard below.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _leaked(before: set[int]) -> list[int]:
    """Descendants that outlived the run: alive, or a session leader nobody reaped.

    Zombies of adopted orphans (a grandchild killed with its group) are dead: reap them.
    """
    me = os.getpid()
    leaked = []
    for pid, (parent, state, session) in descendants(me).items():
        if pid in before:
            continue
        if state == "Z" and parent == me and session != pid:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            continue
        leaked.append(pid)
    return sorted(leaked)


@pytest.fixture(scope="session", autouse=True)
def no_process_outlives_the_run() -> Iterator[None]:
    """Fail the run if any descendant process of the test run is still alive at the end."""
    _become_subreaper()
    before = set(descendants(os.getpid()))
    yield
    leaked = _leaked(before)
    if leaked:
        pytest.fail(f"child processes outlived the test run: {leaked}", pytrace=False)
