"""``asm endpoint ensure|release|list`` against a fake admin API, and ``asm providers``
against the fake CLIs (SPEC §3.4, §7)."""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from actors.cli import providers as providers_command
from actors.cli.endpoint import add_endpoint_parser, run_endpoint
from actors.cli.providers import add_providers_parser, run_providers
from contracts.providers import PROFILES
from tests.fakes.fake_admin_api import serve_fake_admin_api
from tests.fakes.fake_cli import VERSIONS
from tests.processes import alive

ADMIN_TOKEN = "adm-7f3a9c1e5b2d4f60-never-shown"
ENDPOINTS = "/api/v1/endpoints"
FAKE_BIN = Path(__file__).resolve().parents[2] / "fakes" / "bin"

DESCRIPTOR = {
    "endpoint_id": "ep_1",
    "base_url": "http://127.0.0.1:9/leases/lease_1/v1",
    "lease_ref": "lease_1",
}
COMPATIBLE = {"compatible": True, "reason": "compatible"}
ENSURED = {"endpoint": DESCRIPTOR, "compatibility": COMPATIBLE}
INCOMPATIBLE = {
    "error": {
        "message": "the consumer needs streaming",
        "type": "invalid_request_error",
        "param": None,
        "code": "incompatible",
    },
    "compatibility": {"compatible": False, "missing_requirements": ["streaming"]},
}
REFUSED = {
    "error": {
        "message": "unknown provider 'llama'",
        "type": "invalid_request_error",
        "param": None,
        "code": "unsupported_provider",
    }
}


def _asm(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Parse ``argv`` with the parsers ``asm`` registers and run the command."""
    parser = argparse.ArgumentParser(prog="asm")
    commands = parser.add_subparsers(dest="command", required=True)
    add_endpoint_parser(commands)
    add_providers_parser(commands)
    args = parser.parse_args(argv)
    run = run_endpoint if args.command == "endpoint" else run_providers
    code = run(args)
    out, err = capsys.readouterr()
    return code, out, err


# --- asm endpoint ------------------------------------------------------------------------


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A state dir holding the admin token as ``asm serve`` writes it (no server.json)."""
    monkeypatch.delenv("ASM_ADMIN_TOKEN", raising=False)
    state = tmp_path / "state"
    state.mkdir()
    token = state / "admin.token"
    token.write_text(ADMIN_TOKEN + "\n")
    token.chmod(0o600)
    return state


def _endpoint(
    capsys: pytest.CaptureFixture[str], state_dir: Path, *argv: str
) -> tuple[int, str, str]:
    action, *rest = argv
    code, out, err = _asm(capsys, "endpoint", action, "--state-dir", str(state_dir), *rest)
    assert ADMIN_TOKEN not in out and ADMIN_TOKEN not in err
    assert "Traceback" not in err
    return code, out, err


def test_ensure_posts_the_request_with_the_admin_bearer_and_prints_the_201_body(
    capsys: pytest.CaptureFixture[str], state_dir: Path
) -> None:
    with serve_fake_admin_api({("POST", ENDPOINTS): (201, ENSURED)}) as api:
        code, out, err = _endpoint(
            capsys,
            state_dir,
            "ensure",
            "--provider=claude",
            "--model=claude-sonnet-4-5",
            "--stream",
            "--server",
            api.base_url,
            "--context",
            '{"authority_ref": "auth-1"}',
        )
    assert code == 0, err
    assert out.count("\n") == 1 and json.loads(out) == ENSURED
    [request] = api.requests
    assert request.authorization == f"Bearer {ADMIN_TOKEN}"
    assert request.body == {
        "request": {
            "model_preference": {"provider": "claude", "id": "claude-sonnet-4-5"},
            "stream": True,
        },
        "context": {"authority_ref": "auth-1"},
    }


def test_ensure_without_stream_or_context_sends_stream_false_and_no_context(
    capsys: pytest.CaptureFixture[str], state_dir: Path
) -> None:
    with serve_fake_admin_api({("POST", ENDPOINTS): (201, ENSURED)}) as api:
        code, _, err = _endpoint(
            capsys,
            state_dir,
            "ensure",
            "--provider=codex",
            "--model=gpt-5",
            "--server",
            api.base_url,
        )
    assert code == 0, err
    assert api.requests[0].body == {
        "request": {"model_preference": {"provider": "codex", "id": "gpt-5"}, "stream": False}
    }


def test_ensure_finds_the_server_in_server_json(
    capsys: pytest.CaptureFixture[str], state_dir: Path
) -> None:
    with serve_fake_admin_api({("POST", ENDPOINTS): (201, ENSURED)}) as api:
        server = {"base_url": api.base_url, "pid": os.getpid(), "store": None}
        (state_dir / "server.json").write_text(json.dumps(server) + "\n")
        code, out, err = _endpoint(capsys, state_dir, "ensure", "--provider=amp", "--model=smart")
    assert code == 0, err
    assert json.loads(out) == ENSURED
    assert api.requests[0].authorization == f"Bearer {ADMIN_TOKEN}"


def test_incompatible_ensure_prints_the_compatibility_result_and_exits_1(
    capsys: pytest.CaptureFixture[str], state_dir: Path
) -> None:
    with serve_fake_admin_api({("POST", ENDPOINTS): (409, INCOMPATIBLE)}) as api:
        code, out, err = _endpoint(
            capsys, state_dir, "ensure", "--provider=gemini", "--model=g", "--server", api.base_url
        )
    assert code == 1
    assert json.loads(out) == INCOMPATIBLE
    assert "incompatible" in err


def test_refused_ensure_says_why_on_stderr_and_exits_1(
    capsys: pytest.CaptureFixture[str], state_dir: Path
) -> None:
    with serve_fake_admin_api({("POST", ENDPOINTS): (400, REFUSED)}) as api:
        code, out, err = _endpoint(
            capsys, state_dir, "ensure", "--provider=llama", "--model=m", "--server", api.base_url
        )
    assert (code, out) == (1, "")
    assert err == "asm endpoint ensure: unsupported_provider: unknown provider 'llama' (400)\n"


def test_an_error_body_without_a_message_is_reported_by_its_status(
    capsys: pytest.CaptureFixture[str], state_dir: Path
) -> None:
    with serve_fake_admin_api({("GET", ENDPOINTS): (500, "oops")}) as api:
        code, out, err = _endpoint(capsys, state_dir, "list", "--server", api.base_url)
    assert (code, out) == (1, "")
    assert err == "asm endpoint list: the server answered Internal Server Error (500)\n"


def test_release_deletes_the_lease_and_exits_0(
    capsys: pytest.CaptureFixture[str], state_dir: Path
) -> None:
    with serve_fake_admin_api({("DELETE", f"{ENDPOINTS}/lease_1"): (204, None)}) as api:
        code, out, err = _endpoint(
            capsys, state_dir, "release", "lease_1", "--server", api.base_url
        )
    assert (code, out) == (0, "")
    assert "released lease_1" in err
    [request] = api.requests
    assert (request.method, request.authorization) == ("DELETE", f"Bearer {ADMIN_TOKEN}")


def test_release_quotes_the_lease_ref_into_one_path_segment(
    capsys: pytest.CaptureFixture[str], state_dir: Path
) -> None:
    with serve_fake_admin_api({("DELETE", f"{ENDPOINTS}/a%2F..%2Fb"): (204, None)}) as api:
        code, _, err = _endpoint(capsys, state_dir, "release", "a/../b", "--server", api.base_url)
    assert code == 0, err
    assert api.requests[0].path == f"{ENDPOINTS}/a%2F..%2Fb"


def test_list_prints_the_live_leases_as_json(
    capsys: pytest.CaptureFixture[str], state_dir: Path
) -> None:
    leases = {"endpoints": [{"lease_ref": "lease_1", "headers": {"authorization": "[redacted]"}}]}
    with serve_fake_admin_api({("GET", ENDPOINTS): (200, leases)}) as api:
        code, out, err = _endpoint(capsys, state_dir, "list", "--server", api.base_url)
    assert code == 0, err
    assert json.loads(out) == leases
    assert api.requests[0].authorization == f"Bearer {ADMIN_TOKEN}"


def test_missing_server_json_says_to_start_asm_serve(
    capsys: pytest.CaptureFixture[str], state_dir: Path
) -> None:
    code, out, err = _endpoint(capsys, state_dir, "list")
    assert (code, out) == (1, "")
    assert err.count("\n") == 1
    assert "server.json" in err and "start `asm serve` or pass --server" in err


def test_server_json_without_a_base_url_is_a_clear_failure(
    capsys: pytest.CaptureFixture[str], state_dir: Path
) -> None:
    (state_dir / "server.json").write_text("{not json")
    code, _, err = _endpoint(capsys, state_dir, "list")
    assert code == 1
    assert "names no base_url" in err


def test_missing_admin_token_says_where_to_get_one(
    capsys: pytest.CaptureFixture[str], state_dir: Path
) -> None:
    (state_dir / "admin.token").unlink()
    with serve_fake_admin_api({}) as api:
        code, out, err = _endpoint(capsys, state_dir, "list", "--server", api.base_url)
    assert (code, out) == (1, "")
    assert err.count("\n") == 1
    assert "admin.token" in err and "asm serve" in err and "ASM_ADMIN_TOKEN" in err
    assert api.requests == []


def test_the_token_file_flag_and_the_environment_come_before_the_state_dir(
    capsys: pytest.CaptureFixture[str],
    state_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token_file = tmp_path / "other.token"
    token_file.write_text("from-the-flag\n")
    with serve_fake_admin_api({("GET", ENDPOINTS): (200, {"endpoints": []})}) as api:
        monkeypatch.setenv("ASM_ADMIN_TOKEN", "from-the-env")
        assert _endpoint(capsys, state_dir, "list", "--server", api.base_url)[0] == 0
        flag = ("--admin-token-file", str(token_file))
        assert _endpoint(capsys, state_dir, "list", "--server", api.base_url, *flag)[0] == 0
    assert [r.authorization for r in api.requests] == [
        "Bearer from-the-env",
        "Bearer from-the-flag",
    ]


def test_rejected_admin_token_names_its_source_not_its_value(
    capsys: pytest.CaptureFixture[str], state_dir: Path
) -> None:
    with serve_fake_admin_api({("GET", ENDPOINTS): (401, {"error": "unauthorized"})}) as api:
        code, out, err = _endpoint(capsys, state_dir, "list", "--server", api.base_url)
    assert (code, out) == (1, "")
    assert "401" in err and str(state_dir / "admin.token") in err


def test_a_token_that_is_no_bearer_token_is_refused_without_echoing_it(
    capsys: pytest.CaptureFixture[str], state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASM_ADMIN_TOKEN", "secret with\tspaces-é")
    with serve_fake_admin_api({}) as api:
        code, out, err = _endpoint(capsys, state_dir, "list", "--server", api.base_url)
    assert (code, out) == (1, "")
    assert "$ASM_ADMIN_TOKEN is not a valid bearer token" in err
    assert "secret" not in err and api.requests == []


def test_unreachable_server_is_one_line_naming_what_to_do(
    capsys: pytest.CaptureFixture[str], state_dir: Path
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    code, out, err = _endpoint(
        capsys,
        state_dir,
        "ensure",
        "--provider=claude",
        "--model=m",
        "--server",
        f"http://127.0.0.1:{closed_port}",
    )
    assert (code, out) == (1, "")
    assert err.count("\n") == 1
    assert f"cannot reach http://127.0.0.1:{closed_port}" in err and "asm serve" in err


def test_context_that_is_not_a_json_object_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], state_dir: Path
) -> None:
    with pytest.raises(SystemExit) as exited:
        _endpoint(capsys, state_dir, "ensure", "--provider=c", "--model=m", "--context", "[1]")
    assert exited.value.code == 2
    assert "must be a JSON object" in capsys.readouterr().err


# --- asm providers -----------------------------------------------------------------------

API_KEY_VALUE = "sk-ant-fake-value-never-printed"


@pytest.fixture
def fake_clis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An operator environment whose CLIs are the fakes; returns the (empty) HOME."""
    home = tmp_path / "home"
    home.mkdir()
    for profile in PROFILES.values():
        for name in profile.auth_env:
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv(profile.bin_env, str(FAKE_BIN / profile.id))
    monkeypatch.delenv("FAKE_CLI_MODE", raising=False)
    monkeypatch.setenv("HOME", str(home))
    # A real python3 first: the fakes run ``python3 -S``.
    monkeypatch.setenv("PATH", f"{os.path.dirname(sys.executable)}:/usr/bin:/bin")
    monkeypatch.chdir(tmp_path)  # no ./asm.toml but the one a test writes
    return home


def _providers(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, dict[str, Any]]:
    code, out, err = _asm(capsys, "providers", "--json", *argv)
    assert code == 0, err
    assert API_KEY_VALUE not in out and API_KEY_VALUE not in err
    document = json.loads(out)
    return {report["id"]: report for report in document["providers"]}


def test_providers_reports_every_cli_with_its_version_and_publication(
    capsys: pytest.CaptureFixture[str], fake_clis: Path
) -> None:
    reports = _providers(capsys)
    assert list(reports) == ["claude", "codex", "gemini", "amp"]
    for provider, report in reports.items():
        assert report["installed"] is True
        assert report["executable"] == str(FAKE_BIN / provider)
        assert report["version"] == VERSIONS[provider]
        assert report["publication"]["cli_completion_v1"] is True
    assert reports["claude"]["version"] == "2.1.197 (Claude Code)"
    assert reports["claude"]["publication"]["cli_agent_v2"] is True
    assert reports["gemini"]["publication"]["common_surface_only"] is True


def test_codex_login_is_what_codex_login_status_answers(
    capsys: pytest.CaptureFixture[str], fake_clis: Path
) -> None:
    assert _providers(capsys)["codex"]["logged_in"] is True
    # The probe runs in the session environment, so the fake's mode arrives the way an
    # operator's configured variables do: through the config.
    Path("asm.toml").write_text('[providers.codex.env]\nFAKE_CLI_MODE = "not_logged_in"\n')
    codex = _providers(capsys)["codex"]
    assert codex["logged_in"] is False
    assert codex["login_evidence"] == "`codex login status` exited 1"


def test_the_probe_sees_the_session_environment_not_the_operators(
    capsys: pytest.CaptureFixture[str], fake_clis: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_CLI_MODE", "not_logged_in")  # scrubbed, as a session's would be
    assert _providers(capsys)["codex"]["logged_in"] is True


def test_claude_is_logged_in_by_its_api_key_named_not_shown(
    capsys: pytest.CaptureFixture[str], fake_clis: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _providers(capsys)["claude"]["logged_in"] is False
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY_VALUE)
    claude = _providers(capsys)["claude"]
    assert (claude["logged_in"], claude["login_evidence"]) == (True, "ANTHROPIC_API_KEY")
    code, out, err = _asm(capsys, "providers")
    assert code == 0 and API_KEY_VALUE not in out + err
    assert "logged in: yes (ANTHROPIC_API_KEY)" in out


def test_a_credential_file_under_home_counts_as_a_login(
    capsys: pytest.CaptureFixture[str], fake_clis: Path
) -> None:
    credentials = fake_clis / ".local/share/amp/secrets.json"
    credentials.parent.mkdir(parents=True)
    credentials.write_text("{}")
    amp = _providers(capsys)["amp"]
    assert (amp["logged_in"], amp["login_evidence"]) == (True, str(credentials))


def test_a_base_url_alone_is_no_login(
    capsys: pytest.CaptureFixture[str], fake_clis: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", "http://127.0.0.1:9")
    gemini = _providers(capsys)["gemini"]
    assert (gemini["logged_in"], gemini["login_evidence"]) == (False, None)


def test_a_cli_that_is_not_installed_says_so(
    capsys: pytest.CaptureFixture[str], fake_clis: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASM_AMP_BIN", "/nonexistent")
    amp = _providers(capsys)["amp"]
    assert amp["installed"] is False
    assert (amp["version"], amp["logged_in"]) == (None, None)
    assert amp["publication"]["published_capabilities"]
    code, out, _ = _asm(capsys, "providers")
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 4
    assert lines[0].startswith("claude ") and "2.1.197 (Claude Code)" in lines[0]
    assert "publishes: cli_completion_v1, cli_streaming_v1, cli_agent_v2" in lines[0]
    assert lines[3].startswith("amp ") and "/nonexistent  not installed" in lines[3]
    assert "logged in: unknown" in lines[3]


def test_a_cli_that_hangs_is_killed_with_its_helpers(
    capsys: pytest.CaptureFixture[str],
    fake_clis: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    helper_pid = tmp_path / "helper.pid"
    hanging = tmp_path / "hanging-gemini"
    hanging.write_text(f"#!/bin/sh\nsleep 3600 &\necho $! > {helper_pid}\nexec sleep 3600\n")
    hanging.chmod(0o755)
    monkeypatch.setenv("ASM_GEMINI_BIN", str(hanging))
    monkeypatch.setattr(providers_command, "PROBE_TIMEOUT_S", 0.5)
    started = time.monotonic()
    gemini = _providers(capsys)["gemini"]
    assert time.monotonic() - started < 5
    assert (gemini["installed"], gemini["version"]) == (True, None)
    assert not alive(int(helper_pid.read_text()))


@pytest.mark.parametrize("server", ["http://", "ftp://127.0.0.1:1", "http://[::1"])
def test_a_server_url_that_is_no_http_url_is_refused_before_any_request(
    capsys: pytest.CaptureFixture[str], state_dir: Path, server: str
) -> None:
    code, out, err = _endpoint(capsys, state_dir, "list", "--server", server)
    assert (code, out) == (1, "")
    assert "not an http:// URL" in err
