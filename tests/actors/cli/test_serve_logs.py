"""What ``asm serve`` says on stderr: its default text log, ``-v``/``-q``, and one clear
line (no group dump, no traceback) when the port is taken or a SIGINT comes early."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import trio

from actors.serving.http_server import ListenError, serve_http
from tests.actors.cli.test_serve import ASM, ROOT, _environ
from tests.processes import alive, running_descendants

STAMP = r"\d\d:\d\d:\d\d\.\d\d\d"
TOOK = r"\d+\.\d\ds \(model 'm'\)"


@contextmanager
def _server(tmp_path: Path, *extra: str) -> Iterator[subprocess.Popen[str]]:
    state = tmp_path / "state"
    argv = [ASM, "serve", "--bind", "127.0.0.1:0", "--state-dir", str(state), "--store", "memory"]
    server = subprocess.Popen(
        [*argv, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_environ(tmp_path),
        cwd=ROOT,
    )
    try:
        yield server
    finally:
        if server.poll() is None:
            server.kill()
        server.communicate(timeout=30)


def _lease_and_two_completions(
    server: subprocess.Popen[str], state: Path
) -> tuple[dict[str, str], list[str], str]:
    """A lease, one completion that finishes and one that crashes; SIGINT; the stderr.

    Returns the secrets that must not be logged, the two request ids and stderr."""
    assert server.stdout is not None
    base_url = server.stdout.readline().split()[-1]
    admin = (state / "admin.token").read_text().strip()
    created = httpx.post(
        f"{base_url}/api/v1/endpoints",
        headers={"authorization": f"Bearer {admin}"},
        json={"request": {"model_preference": {"provider": "claude", "id": "m"}}},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    endpoint = created.json()["endpoint"]
    ids = []
    for prompt, status in (("secret prompt one", 200), ("[fake:crash_mid] secret prompt two", 502)):
        answer = httpx.post(
            f"{endpoint['base_url']}/chat/completions",
            headers=endpoint["headers"],
            json={"model": "m", "messages": [{"role": "user", "content": prompt}]},
            timeout=30,
        )
        assert answer.status_code == status, answer.text
        ids.append(answer.headers["x-request-id"])
    server.send_signal(signal.SIGINT)
    _, stderr = server.communicate(timeout=30)
    assert server.returncode == 0, stderr
    secrets = {
        "admin": admin,
        "lease token": endpoint["headers"]["authorization"].removeprefix("Bearer "),
        "prompt": "secret prompt",
        "lease ref": endpoint["lease_ref"],
    }
    return secrets, ids, stderr


def test_the_default_log_has_a_line_per_request_and_per_session_outcome(tmp_path: Path) -> None:
    with _server(tmp_path) as server:
        secrets, (finished_id, crashed_id), stderr = _lease_and_two_completions(
            server, tmp_path / "state"
        )
    lease = secrets.pop("lease ref")
    for name, secret in secrets.items():
        assert secret not in stderr, name
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert any(
        re.fullmatch(rf"{STAMP} INFO asm\.http: POST admin 201 \d+ms \[req \w+\]", x) for x in lines
    )
    ids = f"\\[req {{}} lease {re.escape(lease)}\\]"
    expected = {
        finished_id: [
            rf"{STAMP} INFO asm\.http: POST leases 200 \d+ms {ids}",
            rf"{STAMP} INFO asm\.session: claude session finished after {TOOK} {ids}",
        ],
        crashed_id: [
            rf"{STAMP} INFO asm\.http: POST leases 502 \d+ms {ids}",
            rf"{STAMP} INFO asm\.session: claude session crashed after {TOOK} {ids}",
        ],
    }
    for request_id, patterns in expected.items():
        mine = [line for line in lines if f"req {request_id} " in line]
        for pattern in patterns:
            matching = [x for x in mine if re.fullmatch(pattern.format(request_id), x)]
            assert len(matching) == 1, (pattern, stderr)
    assert not [line for line in lines if " DEBUG " in line or " ERROR " in line]
    assert not [line for line in lines if "overran" in line or "ExceptionGroup" in line]


def test_quiet_keeps_warnings_and_verbose_adds_debug(tmp_path: Path) -> None:
    with _server(tmp_path / "quiet", "-q") as server:
        _, _, quiet = _lease_and_two_completions(server, tmp_path / "quiet" / "state")
    assert "asm: SIGINT, stopping" in quiet.splitlines()
    logged = [line for line in quiet.splitlines() if not line.startswith("asm: ")]
    assert all(" WARNING " in line or " ERROR " in line for line in logged), quiet
    with _server(tmp_path / "verbose", "--verbose") as server:
        _, _, verbose = _lease_and_two_completions(server, tmp_path / "verbose" / "state")
    assert re.search(rf"{STAMP} DEBUG asm\.session: claude session spawned, pid \d+", verbose)
    assert re.search(rf"{STAMP} INFO asm\.http: POST leases 200 \d+ms", verbose)


def test_verbose_and_quiet_together_are_a_usage_error(tmp_path: Path) -> None:
    run = subprocess.run(
        [ASM, "serve", "-v", "-q", "--state-dir", str(tmp_path / "state")],
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
        env=_environ(tmp_path),
        cwd=ROOT,
    )
    assert run.returncode == 2
    assert "not allowed with argument" in run.stderr


def test_a_port_in_use_is_one_clear_line_and_exit_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        argv = [ASM, "serve", "--bind", f"127.0.0.1:{port}", "--state-dir", str(tmp_path)]
        run = subprocess.run(
            [*argv, "--store", "memory"],
            capture_output=True,
            check=False,
            text=True,
            timeout=60,
            env=_environ(tmp_path),
            cwd=ROOT,
        )
    assert run.returncode == 1
    assert run.stdout == ""
    expected = f"asm serve: cannot listen on 127.0.0.1:{port}: address already in use\n"
    assert run.stderr == expected


async def test_serve_http_says_where_and_why_it_cannot_listen() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        async def app(scope: object, receive: object, send: object) -> None:
            raise AssertionError("never served")  # pragma: no cover

        async with trio.open_nursery() as nursery:
            with pytest.raises(ListenError) as raised:  # itself, not inside nested groups
                await nursery.start(serve_http, app, f"127.0.0.1:{port}")
    assert str(raised.value) == f"cannot listen on 127.0.0.1:{port}: address already in use"


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.2])
def test_a_sigint_during_start_up_stops_cleanly_without_a_traceback(
    tmp_path: Path, delay: float
) -> None:
    """Right after the state dir is locked (before the signal receiver is up, or just
    after): one line, exit 0, nothing left running."""
    state = tmp_path / "state"
    with _server(tmp_path) as server:
        deadline = time.monotonic() + 30
        while not (state / "serve.lock").exists():
            assert time.monotonic() < deadline and server.poll() is None
            time.sleep(0.001)
        time.sleep(delay)
        children = running_descendants(server.pid)
        server.send_signal(signal.SIGINT)
        stdout, stderr = server.communicate(timeout=30)
    assert server.returncode == 0, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    assert "asm: SIGINT, stopping" in stderr.splitlines()
    assert not stdout or stdout.startswith("asm: serving on ")
    assert not any(alive(pid) for pid in children)
