"""From configuration to a session spec: executable resolution, environment, options."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import trio

from actors.sessions import (
    SessionActor,
    SessionSpec,
    UnknownProvider,
    redact,
    resolve_executable,
    seed_home,
    session_spec,
)
from contracts.config import Config, ProviderSettings, parse_config
from contracts.providers import CliDriver, Workspace, driver
from tests.actors.sessions.sessions import fake_spec, until


def _driver(provider: str) -> CliDriver:
    found = driver(provider)
    assert found is not None
    return found


CLAUDE = _driver("claude")


def _executable(path: Path) -> Path:
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_the_bin_variable_wins_over_config_and_path(tmp_path: Path) -> None:
    chosen = _executable(tmp_path / "my-claude")
    configured = Config(providers={"claude": ProviderSettings(executable="/opt/claude")})
    environ = {"ASM_CLAUDE_BIN": str(chosen), "PATH": str(tmp_path)}
    assert resolve_executable(CLAUDE, configured, environ) == str(chosen)


def test_the_config_file_is_used_when_the_variable_is_unset(tmp_path: Path) -> None:
    configured = _executable(tmp_path / "claude-from-config")
    config = Config(providers={"claude": ProviderSettings(executable=str(configured))})
    assert resolve_executable(CLAUDE, config, {"PATH": "/nonexistent"}) == str(configured)


def test_a_relative_executable_is_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _executable(tmp_path / "claude")
    monkeypatch.chdir(tmp_path)
    environ = {"ASM_CLAUDE_BIN": "./claude", "PATH": "/nonexistent"}
    assert resolve_executable(CLAUDE, Config(), environ) == str(tmp_path / "claude")


def test_path_is_searched_last(tmp_path: Path) -> None:
    on_path = _executable(tmp_path / "claude")
    assert resolve_executable(CLAUDE, Config(), {"PATH": str(tmp_path)}) == str(on_path)


def test_a_missing_executable_keeps_its_name_so_the_session_says_not_installed() -> None:
    assert resolve_executable(CLAUDE, Config(), {"PATH": "/nonexistent"}) == "claude"


def test_the_session_environment_is_scrubbed(tmp_path: Path) -> None:
    environ = {
        "PATH": "/usr/bin",
        "HOME": str(tmp_path),
        "CLAUDECODE": "1",
        "AWS_SECRET_ACCESS_KEY": "do-not-pass",
        "ANTHROPIC_API_KEY": "sk-ant-pass-this",
    }
    config = Config(
        providers={"claude": ProviderSettings(env={"ANTHROPIC_BASE_URL": "http://127.0.0.1:9"})}
    )
    spec = session_spec("claude", "m", config, work_root=str(tmp_path), environ=environ)
    assert "CLAUDECODE" not in spec.env
    assert "AWS_SECRET_ACCESS_KEY" not in spec.env
    assert spec.env["ANTHROPIC_API_KEY"] == "sk-ant-pass-this"
    assert spec.env["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:9"
    assert spec.env["DISABLE_AUTOUPDATER"] == "1"
    assert set(spec.env) <= {
        "PATH",
        "HOME",
        "LANG",
        "TMPDIR",
        *CLAUDE.profile.auth_env,
        *CLAUDE.fixed_env(),
    }


def test_operator_extra_args_come_before_codexs_resume(tmp_path: Path) -> None:
    config = Config(providers={"codex": ProviderSettings(extra_args=("--config=x=1",))})
    spec = session_spec("codex", "m", config, work_root=str(tmp_path), environ={})
    workspace = Workspace(str(tmp_path), "9b2e")
    argv = spec.driver.launch(spec.launch_request(workspace, None)).argv
    assert argv[-4:] == ("--config=x=1", "resume", "9b2e", "-")


def test_the_persona_comes_from_the_config(tmp_path: Path) -> None:
    parsed = parse_config(b'[providers.gemini]\npersona = "agent"\n')
    spec = session_spec("gemini", "m", parsed, work_root=str(tmp_path), environ={})
    assert spec.persona == "agent"
    assert session_spec("claude", "m", parsed, work_root=str(tmp_path), environ={}).persona == (
        "completion"
    )


def test_session_timers_and_ladder_come_from_the_config(tmp_path: Path) -> None:
    parsed = parse_config(
        b"[sessions]\nfirst_event_timeout = 5\nidle_timeout = 7\nrun_timeout = 9\n"
        b"exit_grace = 0.5\nterminate_grace = 0.25\n"
    )
    spec = session_spec("gemini", "m", parsed, work_root=str(tmp_path), environ={})
    assert (spec.timers.first_event, spec.timers.idle, spec.timers.total) == (5, 7, 9)
    assert (spec.ladder.voluntary, spec.ladder.terminate) == (0.5, 0.25)


def test_an_unknown_provider_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UnknownProvider):
        session_spec("llama", "m", Config(), work_root=str(tmp_path), environ={})


def test_an_isolated_home_holds_read_only_copies_of_the_login_only(tmp_path: Path) -> None:
    operator = tmp_path / "operator"
    (operator / ".claude").mkdir(parents=True)
    (operator / ".claude" / ".credentials.json").write_text('{"token": "t"}')
    (operator / ".claude" / "settings.json").write_text("{}")
    (operator / ".ssh").mkdir()
    (operator / ".ssh" / "id_ed25519").write_text("key")
    home = seed_home(tmp_path / "home", str(operator), CLAUDE.credential_files)
    files = sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file())
    assert files == [".claude/.credentials.json"]
    copy = home / ".claude" / ".credentials.json"
    assert stat.S_IMODE(copy.stat().st_mode) == 0o400
    assert copy.read_text() == '{"token": "t"}'


async def test_an_isolated_session_runs_with_its_private_home(tmp_path: Path) -> None:
    spec = fake_spec("claude", tmp_path)
    isolated = SessionSpec(**{**spec.__dict__, "isolate_home": True, "operator_home": "/x"})
    actor = SessionActor(isolated)
    async with trio.open_nursery() as nursery:
        session = await nursery.start(actor.run)

        def homes() -> list[bytes]:  # empty while the fake's shebang execs its python
            environ = Path(f"/proc/{session.pid}/environ").read_bytes().split(b"\0")
            return [v for v in environ if v.startswith(b"HOME=")]

        await until(lambda: bool(homes()))
        home = homes()[0].decode()[5:]
        assert home.startswith(str(tmp_path / "sessions"))
        assert home != os.environ.get("HOME")
        session.cancel()


def test_auth_values_are_cut_out_of_the_stderr_tail() -> None:
    env = {"ANTHROPIC_API_KEY": "sk-ant-secret-value"}
    tail = redact("error: key sk-ant-secret-value rejected", env, CLAUDE.profile.auth_env)
    assert tail == "error: key [redacted] rejected"
