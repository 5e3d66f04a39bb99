"""``asm token issue`` signs with the running server's secret, or refuses; never makes one.

A token signed with a secret the server does not have gets 401, so the command finds the
server's state dir (``--state-dir``, ``./.asm``, else the one running server's, found by
the ``serve.lock`` it holds open) and refuses, saying where it looked, when no secret is
there.
"""

from __future__ import annotations

import argparse
import os
import subprocess
from pathlib import Path

import httpx
import pytest

from actors.cli import tokens
from actors.cli.tokens import add_token_parser, run_token, running_state_dirs
from actors.serving import events_secret
from tests.actors.cli.test_state_dir_lock import ASM, _environ, _serving
from transport.events import TokenVerifier


def test_running_state_dirs_are_the_serve_locks_held_open(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    layout = {
        "101": ["/srv/a/serve.lock", "socket:[42]", "/srv/a/events.db"],
        "102": ["/srv/b/serve.lock", "/srv/a/serve.lock"],
        "103": ["/srv/c/serve.lock (deleted)", "pipe:[7]"],
        str(os.getpid()): ["/srv/mine/serve.lock"],  # this process is no server
    }
    for pid, targets in layout.items():
        (proc / pid / "fd").mkdir(parents=True)
        for number, target in enumerate(targets):
            (proc / pid / "fd" / str(number)).symlink_to(target)
    (proc / "104").mkdir()  # no fd directory readable
    (proc / "self").mkdir()
    assert running_state_dirs(proc) == [Path("/srv/a"), Path("/srv/b")]
    assert running_state_dirs(tmp_path / "no-proc") == []


def _issue(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="asm")
    add_token_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["token", "issue", "--subject=s", "--scope=events:send", *argv])
    return run_token(args)


def test_no_secret_and_no_server_is_refused_saying_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BUS_API_JWT_SECRET", raising=False)
    monkeypatch.setattr(tokens, "running_state_dirs", list)
    assert _issue() == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("asm token issue: no events secret: .asm/events.secret does not exist")
    assert "no asm server is running" in err and "--state-dir" in err
    assert list(tmp_path.iterdir()) == []  # nothing made


def test_several_running_servers_are_named_and_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BUS_API_JWT_SECRET", raising=False)
    servers = [tmp_path / "a", tmp_path / "b"]
    monkeypatch.setattr(tokens, "running_state_dirs", lambda: servers)
    assert _issue() == 1
    err = capsys.readouterr().err
    assert f"several asm servers are running (state dirs {servers[0]}, {servers[1]})" in err


def test_the_one_running_servers_secret_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    monkeypatch.delenv("BUS_API_JWT_SECRET", raising=False)
    state = tmp_path / "state"
    secret = events_secret(state, {})
    monkeypatch.setattr(tokens, "running_state_dirs", lambda: [state])
    assert _issue() == 0
    out, err = capsys.readouterr()
    assert err == f"asm token issue: signed for the running asm server of {state}\n"
    assert secret.decode() not in out + err
    assert TokenVerifier(secret).verify(out.strip()).sub == "s"


def test_a_token_issued_away_from_the_state_dir_is_accepted_by_the_server(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = _environ(tmp_path)
    env.pop("BUS_API_JWT_SECRET", None)
    with _serving(state, env) as server:
        issued = subprocess.run(
            [ASM, "token", "issue", "--subject", "ops", "--scope", "events:send"],
            cwd=elsewhere,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if issued.returncode != 0:  # another engineer's server runs too: ours is named
            assert "several asm servers are running" in issued.stderr
            assert str(state) in issued.stderr
            return
        assert issued.stderr == f"asm token issue: signed for the running asm server of {state}\n"
        response = httpx.post(
            f"{server.base_url}/api/v1/events",
            json={"name": "jobs.created", "payload": {}},
            headers={"Authorization": f"Bearer {issued.stdout.strip()}"},
            timeout=10,
        )
        assert response.status_code == 202, response.text
    assert list(elsewhere.iterdir()) == []
