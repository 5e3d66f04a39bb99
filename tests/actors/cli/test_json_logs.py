"""``asm serve --log-format json``: one JSON object per stderr line, no secret in any."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import httpx

from tests.actors.cli.test_serve import ASM, ROOT, _environ


def test_json_logs_parse_carry_request_ids_and_no_token(tmp_path: Path) -> None:
    state = tmp_path / "state"
    argv = [
        ASM,
        "serve",
        "--bind",
        "127.0.0.1:0",
        "--state-dir",
        str(state),
        "--store",
        "memory",
        "--log-format",
        "json",
    ]
    server = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_environ(tmp_path),
        cwd=ROOT,
    )
    try:
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
        lease_token = endpoint["headers"]["authorization"].removeprefix("Bearer ")
        answer = httpx.post(
            f"{endpoint['base_url']}/chat/completions",
            headers=endpoint["headers"],
            json={"model": "m", "messages": [{"role": "user", "content": "secret prompt"}]},
            timeout=30,
        )
        assert answer.status_code == 200
        request_id = answer.headers["x-request-id"]
        failed = httpx.post(
            f"{endpoint['base_url']}/chat/completions",
            headers=endpoint["headers"],
            json={"model": "m", "messages": [{"role": "user", "content": "[fake:crash_mid]"}]},
            timeout=30,
        )
        assert failed.status_code == 502
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate(timeout=30)
    lines = [line for line in stderr.splitlines() if line.strip()]
    logged = [json.loads(line) for line in lines if not line.startswith("asm: ")]
    assert logged, stderr
    assert all({"time", "level", "logger", "message"} <= entry.keys() for entry in logged)
    mine = [entry for entry in logged if entry.get("request_id") == request_id]
    assert mine, stderr
    assert all(entry.get("lease_ref") == endpoint["lease_ref"] for entry in mine)
    # A failed completion's lines carry its own request id, not the lease creation's.
    outcome = [e for e in logged if e["message"].startswith("claude session crashed after")]
    assert [e.get("request_id") for e in outcome] == [failed.headers["x-request-id"]], stderr
    assert outcome[0]["level"] == "INFO"
    assert created.headers["x-request-id"] != failed.headers["x-request-id"]
    for secret in (lease_token, admin, "secret prompt"):
        assert secret not in stderr
