"""The fake Ollama: its ``ollama`` command, its installer, its knobs and its wire format.

The wire checks read raw HTTP (not the client in transport/), so the fake is held to Ollama's
documented answers on its own. The processes run by path from a scrubbed environment.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from tests.fakes.fake_ollama import FakeOllama
from tests.fakes.fake_ollama_cli import parse_host
from tests.fakes.fake_ollama_models import (
    BROKEN_PULL_ERROR,
    UNKNOWN_MODEL_ERROR,
    FakeOllamaConfig,
    default_catalog,
)

FAKES = Path(__file__).resolve().parent.parent / "fakes"
OLLAMA = FAKES / "bin" / "ollama"
INSTALLER = FAKES / "ollama_install.sh"
MODEL = "smollm2:135m"
TIMEOUT = 10.0


def _env(**extra: str) -> dict[str, str]:
    """PATH (this interpreter's directory first), HOME, LANG, TMPDIR, and ``extra``."""
    env = {
        name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TMPDIR") if name in os.environ
    }
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    env.update(extra)
    return env


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@asynccontextmanager
async def _serving(**env: str) -> AsyncIterator[tuple[trio.Process, str, str]]:
    """``ollama serve`` on a free port: (process, base URL, its startup line)."""
    process = await trio.lowlevel.open_process(
        [str(OLLAMA), "serve"],
        stderr=subprocess.PIPE,
        env=_env(**{"OLLAMA_HOST": "127.0.0.1:0", **env}),
    )
    try:
        assert process.stderr is not None
        output = b""
        with trio.fail_after(TIMEOUT):
            while b"\n" not in output:
                chunk = await process.stderr.receive_some()
                assert chunk, f"ollama serve exited: {output!r}"
                output += chunk
        line = output.decode().splitlines()[0]
        port = line.split("Listening on 127.0.0.1:")[1].split(" ")[0]
        yield process, f"http://127.0.0.1:{port}", line
    finally:
        if process.returncode is None:
            process.kill()
        with trio.fail_after(TIMEOUT):
            await process.wait()
        assert process.stderr is not None
        await process.stderr.aclose()


async def _stop(process: trio.Process) -> int:
    process.send_signal(signal.SIGTERM)
    with trio.fail_after(TIMEOUT):
        return await process.wait()


async def _pull_lines(url: str, body: dict[str, Any]) -> tuple[int, list[dict[str, Any]]]:
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{url}/api/pull", json=body, timeout=TIMEOUT)
    return response.status_code, [json.loads(line) for line in response.text.splitlines()]


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeOllama]:
    with FakeOllama(FakeOllamaConfig(models_dir=tmp_path / "models")) as server:
        yield server


async def test_version_without_a_server_warns_as_ollama_does() -> None:
    env = _env(OLLAMA_HOST=f"127.0.0.1:{_closed_port()}")
    result = await trio.run_process([str(OLLAMA), "--version"], capture_stdout=True, env=env)
    assert result.returncode == 0
    assert result.stdout.decode().splitlines() == [
        "Warning: could not connect to a running Ollama instance",
        "Warning: client version is 0.12.3",
    ]


async def test_serve_answers_on_its_port_and_sigterm_exits_zero() -> None:
    async with _serving() as (process, url, line):
        assert "level=INFO" in line
        assert line.endswith('(version 0.12.3)"')
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{url}/api/version")).json() == {"version": "0.12.3"}
            assert (await http.get(url)).text == "Ollama is running"
        env = _env(OLLAMA_HOST=url.removeprefix("http://"))
        result = await trio.run_process([str(OLLAMA), "-v"], capture_stdout=True, env=env)
        assert result.stdout.decode() == "ollama version is 0.12.3\n"
        assert await _stop(process) == 0


async def test_serve_reports_the_environment_it_was_started_with() -> None:
    async with _serving(OLLAMA_CONTEXT_LENGTH="8192", FAKE_OLLAMA_VERSION="0.11.4") as served:
        process, url, _ = served
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{url}/fake/env")).json() == {
                "OLLAMA_HOST": "127.0.0.1:0",
                "OLLAMA_CONTEXT_LENGTH": "8192",
                "OLLAMA_MODELS": None,
            }
            assert (await http.get(f"{url}/api/version")).json() == {"version": "0.11.4"}
        assert await _stop(process) == 0


async def test_serve_on_a_busy_address_exits_one() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        env = _env(OLLAMA_HOST=f"127.0.0.1:{busy.getsockname()[1]}")
        result = await trio.run_process(
            [str(OLLAMA), "serve"], capture_stderr=True, env=env, check=False
        )
    assert result.returncode == 1
    assert b"bind: address already in use" in result.stderr


async def test_pulled_models_survive_a_restart(tmp_path: Path) -> None:
    store = str(tmp_path / "models")
    async with _serving(OLLAMA_MODELS=store) as (process, url, _):
        status, lines = await _pull_lines(url, {"model": MODEL})
        assert (status, lines[-1]) == (200, {"status": "success"})
        assert await _stop(process) == 0
    async with _serving(OLLAMA_MODELS=store) as (process, url, _):
        async with httpx.AsyncClient() as http:
            tags = (await http.get(f"{url}/api/tags")).json()["models"]
        assert [tag["name"] for tag in tags] == [MODEL]
        assert await _stop(process) == 0


async def test_other_commands_exit_one() -> None:
    result = await trio.run_process(
        [str(OLLAMA), "pull", MODEL], capture_stderr=True, env=_env(), check=False
    )
    assert result.returncode == 1
    assert b'"pull"' in result.stderr


async def test_installer_puts_a_pinned_ollama_in_the_prefix_only(tmp_path: Path) -> None:
    prefix = tmp_path / "prefix"
    result = await trio.run_process(
        [str(INSTALLER), str(prefix)], capture_stderr=True, env=_env(OLLAMA_VERSION="0.11.0")
    )
    lines = result.stderr.decode().splitlines()
    assert lines[0] == f">>> Installing ollama to {prefix}"
    assert lines[-1] == '>>> Install complete. Run "ollama" from the command line.'
    assert list(tmp_path.iterdir()) == [prefix]
    installed = prefix / "bin" / "ollama"
    assert os.access(installed, os.X_OK)
    env = _env(OLLAMA_HOST=f"127.0.0.1:{_closed_port()}")
    version = await trio.run_process([str(installed), "--version"], capture_stdout=True, env=env)
    assert version.stdout.decode().splitlines()[-1] == "Warning: client version is 0.11.0"


async def test_installer_failure_knob_exits_one_without_a_binary(tmp_path: Path) -> None:
    prefix = tmp_path / "prefix"
    result = await trio.run_process(
        [str(INSTALLER), str(prefix)],
        capture_stderr=True,
        env=_env(FAKE_OLLAMA_INSTALL_FAIL="1"),
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.decode().splitlines()[-1].startswith("ERROR: ")
    assert not (prefix / "bin" / "ollama").exists()


def test_config_reads_every_knob_from_the_environment(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.json"
    layers = [{"digest": "sha256:" + "ab" * 32, "size": 5}]
    catalog.write_text(json.dumps({"models": [{"name": "tiny:1b", "layers": layers}]}))
    config = FakeOllamaConfig.from_env(
        {
            "FAKE_OLLAMA_CATALOG": str(catalog),
            "FAKE_OLLAMA_MODELS": str(tmp_path / "store"),
            "OLLAMA_MODELS": str(tmp_path / "ignored"),
            "FAKE_OLLAMA_PULL_DELAY_MS": "15",
            "FAKE_OLLAMA_FAIL_PULL_AFTER": "4",
            "FAKE_OLLAMA_VERSION": "0.9.0",
        }
    )
    assert list(config.catalog) == ["tiny:1b"]
    assert config.catalog["tiny:1b"].layers == (("sha256:" + "ab" * 32, 5),)
    assert config.models_dir == tmp_path / "store"
    assert (config.pull_delay_ms, config.fail_pull_after, config.version) == (15, 4, "0.9.0")
    defaults = FakeOllamaConfig.from_env({"OLLAMA_MODELS": str(tmp_path / "node")})
    assert defaults.models_dir == tmp_path / "node"
    assert (defaults.pull_delay_ms, defaults.fail_pull_after) == (0, None)
    assert set(defaults.catalog) == set(default_catalog())


def test_ollama_host_is_read_as_ollama_reads_it() -> None:
    assert parse_host("") == ("127.0.0.1", 11434)
    assert parse_host("0.0.0.0") == ("0.0.0.0", 11434)
    assert parse_host("127.0.0.1:0") == ("127.0.0.1", 0)
    assert parse_host("http://10.0.0.5:8080/") == ("10.0.0.5", 8080)
    assert parse_host("[::1]:11500") == ("::1", 11500)


async def test_a_pull_streams_manifest_layers_then_success(fake: FakeOllama) -> None:
    status, lines = await _pull_lines(fake.url, {"model": MODEL})
    assert status == 200
    assert lines[0] == {"status": "pulling manifest"}
    digest, size = default_catalog()[MODEL].layers[0]
    assert lines[1] == {"status": f"pulling {digest[7:19]}", "digest": digest, "total": size}
    assert lines[2]["completed"] > 0
    assert [line["status"] for line in lines[-3:]] == [
        "verifying sha256 digest",
        "writing manifest",
        "success",
    ]


async def test_an_unknown_model_is_an_error_line_with_http_200(fake: FakeOllama) -> None:
    assert await _pull_lines(fake.url, {"model": "nope"}) == (
        200,
        [{"status": "pulling manifest"}, {"error": UNKNOWN_MODEL_ERROR}],
    )
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{fake.url}/api/pull", json={"model": "nope", "stream": False})
    assert (response.status_code, response.json()) == (500, {"error": UNKNOWN_MODEL_ERROR})


async def test_the_fail_after_knob_ends_a_pull_with_an_error_line(tmp_path: Path) -> None:
    with FakeOllama(FakeOllamaConfig(models_dir=tmp_path, fail_pull_after=1_000)) as fake:
        status, lines = await _pull_lines(fake.url, {"model": MODEL})
        async with httpx.AsyncClient() as http:
            tags = (await http.get(f"{fake.url}/api/tags")).json()
    assert (status, lines[-1]) == (200, {"error": BROKEN_PULL_ERROR})
    assert all(line.get("completed", 0) <= 1_000 for line in lines)
    assert tags == {"models": []}


async def test_show_and_delete_answer_404_for_a_missing_model(fake: FakeOllama) -> None:
    async with httpx.AsyncClient() as http:
        show = await http.post(f"{fake.url}/api/show", json={"model": "nope"})
        delete = await http.request("DELETE", f"{fake.url}/api/delete", json={"model": "nope"})
        empty = await http.post(f"{fake.url}/api/show")
    assert (show.status_code, show.json()) == (404, {"error": "model 'nope' not found"})
    assert (delete.status_code, delete.json()) == (404, {"error": "model 'nope' not found"})
    assert (empty.status_code, empty.json()) == (400, {"error": "missing request body"})
