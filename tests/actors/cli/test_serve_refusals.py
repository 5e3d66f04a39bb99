"""What ``asm serve`` refuses, as a user meets it: a CLI that is not installed is refused
at ensure (``asm endpoint ensure`` and the admin route say why), and an unknown route
is the OpenAI error envelope, never a web page, which the official client does not retry.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.actors.sessions.sessions import children_environ, fake_environ

ASM = str(Path(sys.executable).parent / "asm")
ROOT = Path(__file__).resolve().parents[3]


@contextmanager
def _serving(tmp_path: Path) -> Iterator[tuple[str, Path, dict[str, str]]]:
    """``asm serve`` with the fake CLIs, but amp pointing at nothing: (base URL, state
    dir, environment)."""
    env = children_environ()
    env.pop("CLAUDECODE", None)
    env.update(fake_environ(tmp_path))
    env["ASM_AMP_BIN"] = str(tmp_path / "nowhere" / "amp")
    state = tmp_path / "state"
    argv = [ASM, "serve", "--bind", "127.0.0.1:0", "--store", "memory", "--state-dir", str(state)]
    server = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert line.startswith("asm: serving on http://127.0.0.1:"), line
        yield line.split()[-1], state, env
    finally:
        server.terminate()
        try:
            server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.communicate(timeout=30)


def _ensure(state: Path, env: dict[str, str], provider: str) -> subprocess.CompletedProcess[str]:
    argv = [ASM, "endpoint", "ensure", "--provider", provider, "--model", "m"]
    return subprocess.run(
        [*argv, "--state-dir", str(state)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


def _envelope(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-should-retry"] == "false"
    assert "<html" not in response.text.lower()
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return dict(body["error"])


def test_a_cli_that_is_not_installed_is_refused_at_ensure_naming_where_to_set_it(
    tmp_path: Path,
) -> None:
    with _serving(tmp_path) as (base_url, state, env):
        refused = _ensure(state, env, "amp")
        token = (state / "admin.token").read_text().strip()
        answer = httpx.post(
            f"{base_url}/api/v1/endpoints",
            json={"request": {"model_preference": {"provider": "amp", "id": "m"}}},
            headers={"authorization": f"Bearer {token}"},
        )
        listed = httpx.get(
            f"{base_url}/api/v1/endpoints", headers={"authorization": f"Bearer {token}"}
        )
    assert refused.returncode == 1, refused.stdout
    assert refused.stderr.startswith("asm endpoint ensure: not_installed: the amp CLI is not")
    assert "ASM_AMP_BIN" in refused.stderr
    assert "[providers.amp].executable" in refused.stderr
    assert refused.stderr.rstrip().endswith("(503)")
    error = _envelope(answer, 503)
    assert (error["code"], error["type"]) == ("not_installed", "server_error")
    assert str(tmp_path / "nowhere" / "amp") in error["message"]
    assert listed.json() == {"endpoints": []}


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_unknown_routes_answer_in_the_openai_envelope(tmp_path: Path, method: str) -> None:
    with _serving(tmp_path) as (base_url, state, env):
        ensured = _ensure(state, env, "claude")
        assert ensured.returncode == 0, ensured.stderr
        endpoint = json.loads(ensured.stdout)["endpoint"]
        lease_url = endpoint["base_url"]
        bearer = endpoint["headers"]["authorization"]
        paths = [
            f"{base_url}/v1/responses",
            f"{base_url}/v1/chat/completions",
            f"{lease_url}/responses",
            f"{lease_url}/embeddings",
            f"{base_url}/leases/no-such-lease/v1/responses",
        ]
        answers = [
            httpx.request(method, url, headers={"authorization": bearer}, json={"input": "hi"})
            for url in paths
        ]
    for answer in answers:
        error = _envelope(answer, 404)
        assert error["code"] == "not_found"
        assert "/leases/<lease_ref>/v1/chat/completions" in error["message"]


def test_the_official_client_gets_not_found_for_the_responses_api_once(tmp_path: Path) -> None:
    attempts: list[object] = []
    with _serving(tmp_path) as (_, state, env):
        ensured = _ensure(state, env, "claude")
        endpoint = json.loads(ensured.stdout)["endpoint"]
        bearer = endpoint["headers"]["authorization"].removeprefix("Bearer ")
        with openai.DefaultHttpxClient(event_hooks={"request": [attempts.append]}) as http:
            client = openai.OpenAI(
                base_url=endpoint["base_url"], api_key=bearer, max_retries=3, http_client=http
            )
            with pytest.raises(openai.NotFoundError) as missing:
                client.responses.create(model="m", input="hi")
    assert missing.value.code == "not_found"
    assert len(attempts) == 1
