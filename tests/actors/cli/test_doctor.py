"""``asm doctor`` run as the real command against the fake CLIs and a fake upstream.

Each provider state the doctor tells apart: ready, missing, a version other than the
verified one, not logged in, upstream unreachable; and the state dir, the store, the
config file and ``[nodes.<id>]``. Every URL is on 127.0.0.1.
"""

from __future__ import annotations

import fcntl
import json
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contracts import __version__
from contracts.providers import profile
from tests.fakes.fake_anthropic import FakeAnthropic

ASM = str(Path(sys.executable).with_name("asm"))
FAKE_BIN = Path(__file__).resolve().parents[2] / "fakes" / "bin"
KEY = "sk-doctor-7f3a9c1e5b2d-never-shown"
PROVIDERS = ("claude", "codex", "gemini", "amp")


@pytest.fixture
def upstream() -> Iterator[FakeAnthropic]:
    """One fake service answering every path: it stands in for all four upstreams."""
    with FakeAnthropic() as fake:
        yield fake


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _environ(tmp_path: Path, upstream: str) -> dict[str, str]:
    """Every CLI a fake, logged in by a key, its upstream pointed at ``upstream``."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    environ = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "ANTHROPIC_API_KEY": KEY,
        "GEMINI_API_KEY": KEY,
        "AMP_API_KEY": KEY,
        "ANTHROPIC_BASE_URL": upstream,
        "GOOGLE_GEMINI_BASE_URL": upstream,
        "AMP_URL": upstream,
    }
    for provider in PROVIDERS:
        environ[f"ASM_{provider.upper()}_BIN"] = str(FAKE_BIN / provider)
    return environ


def _codex_toml(upstream: str, extra: str = "") -> str:
    """codex reaches a custom upstream only through a model provider in its extra_args."""
    return (
        "[providers.codex]\nextra_args = ["
        '"-c", "model_provider=fake", '
        f'"-c", \'model_providers.fake.base_url="{upstream}/v1"\']\n{extra}'
    )


def _doctor(
    tmp_path: Path, environ: dict[str, str], *args: str, toml: str | None = None
) -> tuple[int, str, str]:
    if toml is not None:
        (tmp_path / "asm.toml").write_text(toml)
    result = subprocess.run(
        [ASM, "doctor", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env=environ,
        cwd=tmp_path,
    )
    assert KEY not in result.stdout + result.stderr
    return result.returncode, result.stdout, result.stderr


def _json(
    tmp_path: Path, environ: dict[str, str], *args: str, toml: str | None = None
) -> tuple[int, dict[tuple[str, str], dict[str, Any]], dict[str, Any]]:
    code, out, err = _doctor(tmp_path, environ, "--json", *args, toml=toml)
    document = json.loads(out)
    rows = {(c["subject"], c["check"]): c for c in document["checks"]}
    assert document["ready"] is (code == 0), err
    return code, rows, document


def test_ready_when_every_cli_is_installed_logged_in_and_its_upstream_answers(
    tmp_path: Path, upstream: FakeAnthropic
) -> None:
    environ = _environ(tmp_path, upstream.url)
    code, rows, _ = _json(tmp_path, environ, toml=_codex_toml(upstream.url))
    assert code == 0, rows
    for provider in PROVIDERS:
        for check in ("executable", "version", "login", "upstream"):
            assert rows[provider, check]["status"] == "ok", rows[provider, check]
        executable = rows[provider, "executable"]["detail"]
        assert executable == f"{FAKE_BIN / provider} (from ASM_{provider.upper()}_BIN)"
    assert rows["claude", "version"]["detail"] == "2.1.197 (Claude Code) (verified)"
    assert rows["claude", "login"]["detail"] == "logged in (ANTHROPIC_API_KEY)"
    assert rows["claude", "upstream"]["detail"].startswith(
        f"{upstream.url} (ANTHROPIC_BASE_URL): HTTP 200"
    )
    assert rows["codex", "upstream"]["detail"].startswith(
        f"{upstream.url}/v1 (model_providers.fake.base_url): HTTP 200"
    )
    assert rows["config", "file"] == {
        "subject": "config",
        "check": "file",
        "status": "ok",
        "detail": "./asm.toml read",
    }
    assert rows["state", "dir"]["detail"] == ".asm: absent; asm serve will create it"
    assert rows["store", "open"]["status"] == "ok"
    assert not (tmp_path / ".asm").exists()  # the doctor writes nothing
    # One credential-free GET per upstream: no key in any header.
    requests = upstream.requests()
    assert {r.method for r in requests} == {"GET"} and len(requests) == 4
    for request in requests:
        assert KEY not in json.dumps(request.headers)
        assert not {"authorization", "x-api-key"} & {h.lower() for h in request.headers}


def test_the_table_says_ready_and_names_what_fails(tmp_path: Path, upstream: FakeAnthropic) -> None:
    environ = _environ(tmp_path, upstream.url)
    code, out, _ = _doctor(tmp_path, environ, toml=_codex_toml(upstream.url))
    lines = out.splitlines()
    assert code == 0
    assert lines[0].split() == ["SUBJECT", "CHECK", "STATUS", "DETAIL"]
    assert lines[-1] == "ready: yes"
    del environ["ANTHROPIC_API_KEY"]
    code, out, _ = _doctor(tmp_path, environ)
    assert code == 1
    assert out.splitlines()[-1] == "ready: no (claude login)"
    assert any(line.split()[:3] == ["claude", "login", "FAIL"] for line in out.splitlines())


def test_a_configured_cli_that_is_missing_fails(tmp_path: Path, upstream: FakeAnthropic) -> None:
    environ = _environ(tmp_path, upstream.url)
    environ["ASM_AMP_BIN"] = str(tmp_path / "no-such-amp")
    code, rows, _ = _json(tmp_path, environ, toml=_codex_toml(upstream.url))
    assert code == 1
    assert rows["amp", "executable"]["status"] == "FAIL"
    assert rows["amp", "executable"]["detail"] == (
        f"{tmp_path / 'no-such-amp'} not found (from ASM_AMP_BIN)"
    )
    assert ("amp", "login") not in rows


def test_a_cli_neither_installed_nor_configured_is_skipped(
    tmp_path: Path, upstream: FakeAnthropic
) -> None:
    environ = _environ(tmp_path, upstream.url)
    del environ["ASM_AMP_BIN"]  # and no amp on this PATH
    code, rows, _ = _json(tmp_path, environ, "--provider", "amp")
    assert code == 0
    assert rows["amp", "executable"]["status"] == "skip"
    assert rows["amp", "executable"]["detail"].startswith("not installed")
    assert ("claude", "executable") not in rows  # --provider limits the providers checked
    # Named in the config, the same missing CLI fails.
    code, rows, _ = _json(tmp_path, environ, "--provider", "amp", toml="[providers.amp]\n")
    assert code == 1 and rows["amp", "executable"]["status"] == "FAIL"
    assert rows["amp", "executable"]["detail"] == "amp not found (from PATH)"


def test_the_executable_named_in_the_config_is_reported_as_such(
    tmp_path: Path, upstream: FakeAnthropic
) -> None:
    environ = _environ(tmp_path, upstream.url)
    del environ["ASM_GEMINI_BIN"]
    toml = f'[providers.gemini]\nexecutable = "{FAKE_BIN / "gemini"}"\n'
    code, rows, _ = _json(tmp_path, environ, "--provider", "gemini", toml=toml)
    assert code == 0
    assert rows["gemini", "executable"]["detail"] == (
        f"{FAKE_BIN / 'gemini'} (from [providers.gemini].executable)"
    )


def test_a_version_other_than_the_verified_one_warns_without_failing(
    tmp_path: Path, upstream: FakeAnthropic
) -> None:
    environ = _environ(tmp_path, upstream.url)
    environ["ASM_CLAUDE_BIN"] = str(FAKE_BIN / "claude-wrong-version")
    code, rows, _ = _json(tmp_path, environ, "--provider", "claude")
    assert code == 0
    assert rows["claude", "version"] == {
        "subject": "claude",
        "check": "version",
        "status": "warn",
        "detail": "2.0.0 (Claude Code); verified: 2.1.197",
    }


def test_a_cli_whose_version_does_not_answer_fails(tmp_path: Path, upstream: FakeAnthropic) -> None:
    broken = tmp_path / "broken-gemini"
    broken.write_text("#!/bin/sh\nexit 3\n")
    broken.chmod(0o755)
    environ = _environ(tmp_path, upstream.url)
    environ["ASM_GEMINI_BIN"] = str(broken)
    code, rows, _ = _json(tmp_path, environ, "--provider", "gemini")
    assert code == 1
    assert rows["gemini", "version"]["status"] == "FAIL"


def test_a_cli_that_is_not_logged_in_fails(tmp_path: Path, upstream: FakeAnthropic) -> None:
    environ = _environ(tmp_path, upstream.url)
    del environ["ANTHROPIC_API_KEY"]
    toml = _codex_toml(upstream.url, '[providers.codex.env]\nFAKE_CLI_MODE = "not_logged_in"\n')
    code, rows, _ = _json(tmp_path, environ, toml=toml)
    assert code == 1
    assert rows["claude", "login"]["status"] == "FAIL"
    assert rows["claude", "login"]["detail"] == (
        "not logged in (no credential file, no auth variable)"
    )
    assert rows["codex", "login"] == {
        "subject": "codex",
        "check": "login",
        "status": "FAIL",
        "detail": "not logged in (`codex login status` exited 1)",
    }
    assert rows["gemini", "login"]["status"] == "ok"


def test_an_upstream_that_does_not_answer_fails_and_its_password_is_not_shown(
    tmp_path: Path, upstream: FakeAnthropic
) -> None:
    environ = _environ(tmp_path, upstream.url)
    port = _closed_port()
    environ["ANTHROPIC_BASE_URL"] = f"http://proxyuser:pw-{KEY}@127.0.0.1:{port}"
    code, rows, _ = _json(tmp_path, environ, "--provider", "claude", "--provider", "gemini")
    assert code == 1
    claude = rows["claude", "upstream"]
    assert claude["status"] == "FAIL"
    assert claude["detail"].startswith(f"http://***@127.0.0.1:{port} (ANTHROPIC_BASE_URL): ")
    assert "not answering" in claude["detail"]
    assert rows["gemini", "upstream"]["status"] == "ok"


def test_the_upstream_url_comes_from_the_session_environment(
    tmp_path: Path, upstream: FakeAnthropic
) -> None:
    """A base URL set in ``[providers.<id>].env`` is what the CLI uses; so does the doctor."""
    environ = _environ(tmp_path, f"http://127.0.0.1:{_closed_port()}")
    toml = f'[providers.amp.env]\nAMP_URL = "{upstream.url}"\n'
    code, rows, _ = _json(tmp_path, environ, "--provider", "amp", toml=toml)
    assert code == 0
    assert rows["amp", "upstream"]["detail"].startswith(f"{upstream.url} (AMP_URL): HTTP 200")


def test_state_dir_store_and_config_problems_fail(tmp_path: Path, upstream: FakeAnthropic) -> None:
    environ = _environ(tmp_path, upstream.url)
    (tmp_path / "a-file").write_text("")
    code, rows, _ = _json(
        tmp_path, environ, "--provider", "gemini", "--state-dir", "a-file", "--store", "bogus"
    )
    assert code == 1
    assert rows["state", "dir"] == {
        "subject": "state",
        "check": "dir",
        "status": "FAIL",
        "detail": "a-file: not a directory",
    }
    assert rows["store", "open"]["status"] == "FAIL"
    assert "unknown store 'bogus'" in rows["store", "open"]["detail"]
    not_sqlite = tmp_path / "state" / "events.db"
    not_sqlite.parent.mkdir()
    not_sqlite.write_text("not a database, " * 100)
    code, rows, _ = _json(
        tmp_path, environ, "--provider", "gemini", "--state-dir", "state", toml="[leases\n"
    )
    assert code == 1
    assert rows["config", "file"]["status"] == "FAIL"
    assert "not valid TOML" in rows["config", "file"]["detail"]
    assert rows["state", "dir"]["detail"] == "state: writable; no server running"
    assert rows["store", "open"]["status"] == "FAIL"
    assert rows["store", "open"]["detail"].startswith("sqlite:state/events.db: does not open")
    code, rows, _ = _json(tmp_path, environ, "--provider", "gemini", "--store", "memory", toml="")
    assert code == 0
    assert rows["store", "open"]["detail"] == "memory: in memory, nothing kept across restarts"


def test_each_node_runner_and_ollama_api_is_checked(
    tmp_path: Path, upstream: FakeAnthropic
) -> None:
    environ = _environ(tmp_path, upstream.url)
    closed = _closed_port()
    toml = (
        f'[nodes.here]\nollama_url = "{upstream.url}"\n'
        f'[nodes.gone]\nollama_url = "http://127.0.0.1:{closed}"\n'
        f'[nodes.far]\nrunner = "ssh"\nhost = "127.0.0.1"\nport = {closed}\nuser = "ops"\n'
        f'ollama_url = "{upstream.url}"\n'
    )
    code, rows, _ = _json(tmp_path, environ, "--provider", "gemini", toml=toml)
    assert rows["node here", "runner"]["status"] == "ok"
    assert rows["node here", "ollama"]["status"] == "ok"
    assert rows["node here", "ollama"]["detail"].startswith(f"{upstream.url}: HTTP 200")
    # An Ollama that does not answer yet is a warning: the bus installs and starts it.
    assert rows["node gone", "ollama"]["status"] == "warn"
    assert rows["node gone", "runner"]["status"] == "ok"
    # An ssh host that accepts no connection fails: nothing can reach that node.
    assert rows["node far", "runner"]["status"] == "FAIL"
    assert f"127.0.0.1:{closed} does not accept connections" in rows["node far", "runner"]["detail"]
    assert code == 1
    assert "/api/version" in {r.path for r in upstream.requests()}


def test_asm_version_prints_the_package_version() -> None:
    result = subprocess.run(
        [ASM, "--version"], check=False, capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stdout) == (0, f"asm {__version__}\n")


def test_a_server_running_on_the_state_dir_is_named_and_its_lock_left_alone(
    tmp_path: Path, upstream: FakeAnthropic
) -> None:
    state = tmp_path / ".asm"
    state.mkdir()
    lock = state / "serve.lock"
    lock.write_text('{"pid": 1, "base_url": null}\n')
    (state / "server.json").write_text('{"base_url": "http://127.0.0.1:8787", "pid": 1}\n')
    environ = _environ(tmp_path, upstream.url)
    with lock.open() as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        code, rows, _ = _json(tmp_path, environ, "--provider", "gemini")
    assert code == 0
    assert rows["state", "dir"]["detail"] == (
        ".asm: writable; a server is running here (http://127.0.0.1:8787)"
    )
    assert lock.read_text() == '{"pid": 1, "base_url": null}\n'
    code, rows, _ = _json(tmp_path, environ, "--provider", "gemini")
    assert rows["state", "dir"]["detail"] == ".asm: writable; no server running"


@pytest.mark.parametrize("provider_id", ["claude", "codex", "gemini", "amp"])
def test_the_verified_version_is_the_one_the_real_cli_tier_installs(provider_id: str) -> None:
    """``asm doctor``'s "verified" is the profile's pin, and it is the Makefile's pin."""
    makefile = (Path(__file__).resolve().parents[3] / "Makefile").read_text()
    cli = profile(provider_id)
    assert cli is not None and cli.verified_version and cli.default_upstream
    pins = re.findall(r"@[a-z-]+/[a-z-]+@([0-9.]+)", makefile)
    assert cli.verified_version in pins
