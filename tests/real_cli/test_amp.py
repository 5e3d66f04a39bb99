"""The real amp (0.0.1790142911-g7618fb) through ``asm providers`` and ``asm serve``.

amp talks to its own service (``AMP_URL``), not to a model API, so offline this tier
exercises what amp does without that service: its version, its handling of the prompt
on stdin (read, then stdin closed: it must not hang), and its failure paths — a server
out of reach, no key at all, a key the server rejects. AMP_URL always points at
127.0.0.1: a port bound but not listening, or a fake answering HTTP 401 to everything.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
import pytest
import trio
from openai.types.chat import ChatCompletionMessageParam

from tests.fakes.fake_anthropic import FakeAnthropic, Script
from tests.processes import running_descendants
from tests.real_cli import served
from tests.real_cli.served import (
    ASM,
    LADDER,
    Served,
    closed_port,
    provider_toml,
    serve,
    settled,
)

VERSION = "0.0.1790142911-g7618fb"
MODEL = "amp-smart"  # bookkeeping only: amp has no model flag
FIRST_EVENT = 8.0
START = 5.0  # asm spawning amp, amp starting (~0.5 s measured), the HTTP round trip
PROMPT: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Say hello"}]


def asm_toml(amp: Path, env: dict[str, str], *, pool: int = 0, isolate: bool = False) -> str:
    return provider_toml("amp", amp, env, first_event=FIRST_EVENT, pool=pool, isolate=isolate)


def operator_environ(tmp_path: Path) -> dict[str, str]:
    """asm serve's environment: an empty HOME of its own and no amp credentials."""
    return served.operator_environ(tmp_path, "AMP_API_KEY", "AMP_URL", "ASM_AMP_BIN")


def refused(
    target: Served | openai.OpenAI, *, stream: bool = False
) -> tuple[openai.APIStatusError, dict[str, Any], float]:
    """Ask a completion that must fail (on a new lease of ``target`` when it is asm serve):
    (the error, its envelope, seconds it took)."""
    client = target.lease("amp", MODEL) if isinstance(target, Served) else target
    began = time.monotonic()
    with pytest.raises(openai.APIStatusError) as caught:
        if stream:
            list(client.chat.completions.create(model=MODEL, messages=PROMPT, stream=True))
        else:
            client.chat.completions.create(model=MODEL, messages=PROMPT)
    envelope: dict[str, Any] = caught.value.response.json()["error"]
    return caught.value, envelope, time.monotonic() - began


async def test_providers_reports_the_installed_amp_version(
    tmp_path: Path, real_cli: Callable[[str], Path]
) -> None:
    amp = real_cli("amp")
    env = {**operator_environ(tmp_path), "ASM_AMP_BIN": str(amp)}
    own = subprocess.run(
        [str(amp), "--version"], capture_output=True, text=True, env=env, timeout=30, check=True
    )
    listed = subprocess.run(
        [ASM, "providers", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=True,
    )
    report = json.loads(listed.stdout)
    [entry] = [provider for provider in report["providers"] if provider["id"] == "amp"]
    assert entry["executable"] == str(amp) and entry["installed"] is True
    assert entry["version"] == own.stdout.splitlines()[0]
    assert entry["version"].startswith(VERSION)
    assert entry["logged_in"] is False  # no AMP_API_KEY, no secrets.json in this HOME


async def test_unreachable_amp_server_answers_503_unreachable_at_once(
    tmp_path: Path, real_cli: Callable[[str], Path]
) -> None:
    amp = real_cli("amp")
    with closed_port() as nowhere:
        env = {"AMP_URL": nowhere, "AMP_API_KEY": "sgamp_fake"}
        with serve(tmp_path, asm_toml(amp, env), operator_environ(tmp_path)) as server:
            error, envelope, seconds = refused(server)
            left = await settled(server, 0)
    assert error.status_code == 503
    assert envelope["code"] == "unreachable"
    assert "couldn't connect to the Amp server" in envelope["message"]
    assert "AMP_URL" in envelope["message"]
    # amp read the prompt, found stdin closed and exited: no deadline was needed.
    assert seconds < FIRST_EVENT
    assert left == []


async def test_a_parked_amp_reads_its_prompt_and_a_stream_fails_cleanly(
    tmp_path: Path, real_cli: Callable[[str], Path]
) -> None:
    """The warm pool parks amp on an open stdin; it must wait there, not fail or hang."""
    amp = real_cli("amp")
    with closed_port() as nowhere:
        env = {"AMP_URL": nowhere, "AMP_API_KEY": "sgamp_fake"}
        with serve(tmp_path, asm_toml(amp, env, pool=1), operator_environ(tmp_path)) as server:
            client = server.lease("amp", MODEL)
            parked = await settled(server, 1, seconds=30)
            error, envelope, seconds = refused(client, stream=True)
            with trio.move_on_after(LADDER):
                while set(parked) & set(running_descendants(server.process.pid)):  # noqa: ASYNC110
                    await trio.sleep(0.05)
            still = set(parked) & set(running_descendants(server.process.pid))
    assert len(parked) == 1
    assert error.status_code == 503 and envelope["code"] == "unreachable"
    assert seconds < FIRST_EVENT
    assert still == set()  # the amp that ran is reaped (a fresh one is parked instead)


async def test_no_amp_key_answers_503_not_logged_in_saying_to_log_in(
    tmp_path: Path, real_cli: Callable[[str], Path]
) -> None:
    amp = real_cli("amp")
    with closed_port() as nowhere:
        # No key, a private empty HOME: amp starts its interactive login flow on stdout.
        config = asm_toml(amp, {"AMP_URL": nowhere}, isolate=True)
        with serve(tmp_path, config, operator_environ(tmp_path)) as server:
            error, envelope, seconds = refused(server)
            left = await settled(server, 0)
    assert error.status_code == 503
    assert envelope["code"] == "not_logged_in"
    assert "amp login" in envelope["message"]
    assert seconds < FIRST_EVENT + LADDER + START
    assert left == []


async def test_rejected_amp_key_answers_503_not_logged_in(
    tmp_path: Path, real_cli: Callable[[str], Path]
) -> None:
    amp = real_cli("amp")
    with FakeAnthropic(Script(status=401)) as fake:
        env = {"AMP_URL": fake.url, "AMP_API_KEY": "sgamp_revoked"}
        with serve(tmp_path, asm_toml(amp, env), operator_environ(tmp_path)) as server:
            error, envelope, seconds = refused(server)
            left = await settled(server, 0)
    assert error.status_code == 503
    assert envelope["code"] == "not_logged_in"
    assert "amp login" in envelope["message"] and "AMP_API_KEY" in envelope["message"]
    assert seconds < FIRST_EVENT
    assert left == []
    # amp asked its server (ours, on 127.0.0.1) who the key belongs to, with that key.
    calls = fake.requests()
    assert calls and all(call.path == "/api/internal" for call in calls)
    assert calls[0].headers["authorization"] == "Bearer sgamp_revoked"
