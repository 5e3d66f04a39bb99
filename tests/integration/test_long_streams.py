"""Streams as long as a slow CLI makes them: no timeout cuts them, keep-alives flow.

Slow by design (about 100 s): run by ``make test-slow`` and ``.ci/run``.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import msgspec
import pytest

from actors.system import open_system
from contracts.config import Config, ProviderSettings, ServerSettings
from contracts.endpoint import InferenceRequest
from tests.actors.sessions.sessions import fake_environ
from tests.fakes.fake_cli import answer_pieces

pytestmark = pytest.mark.slow

GAP_MS = 16_000  # longer than the 15 s keep-alive period
PROMPT = "x"


@pytest.mark.timeout(240)
async def test_a_stream_longer_than_60_s_completes_with_keep_alives_in_its_silences(
    tmp_path: Path,
) -> None:
    env = {"FAKE_CLI_MODE": "slow", "FAKE_CLI_DELAY_MS": str(GAP_MS)}
    config = Config(
        providers={"claude": ProviderSettings(env=env)},
        server=ServerSettings(keepalive_seconds=15.0),
    )
    async with open_system(config, environ=fake_environ(tmp_path)) as system:
        request = msgspec.convert(
            {"model_preference": {"provider": "claude", "id": "m"}}, InferenceRequest
        )
        endpoint, _ = await system.ensure_endpoint(request)
        body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": PROMPT}]}
        started = time.monotonic()
        lines: list[str] = []
        async with (
            httpx.AsyncClient(headers=endpoint.headers, timeout=None) as http,
            http.stream("POST", f"{endpoint.base_url}/chat/completions", json=body) as response,
        ):
            assert response.status_code == 200
            lines = [line async for line in response.aiter_lines() if line]
        elapsed = time.monotonic() - started
    gaps = len(answer_pieces("claude", PROMPT)) - 1
    assert elapsed > 60
    assert lines[-1] == "data: [DONE]"
    assert '"finish_reason":"stop"' in lines[-2]
    assert sum(line == ": keep-alive" for line in lines) >= gaps
