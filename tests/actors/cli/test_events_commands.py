"""``asm token issue`` and ``asm events send|listen`` run as a user runs them: the
installed ``asm`` script in a child process, against the real Events API served in the
test (SPEC §7, BUS.md §2.3)."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import msgspec
import pytest
import trio

from actors.serving import SECRET_ENV, EventsSecretError, events_secret
from contracts.events import ListenQuery, PublishEnvelope
from tests.transport.events.served_events import SECRET, ServedEvents, serve_events, token
from transport.event_log import MemoryEventLog, open_memory_log
from transport.events import TokenVerifier

ASM = str(Path(sys.executable).with_name("asm"))
BUS_VARIABLES = ("BUS_EVENTS_API_BASE_URL", "BUS_API_TOKEN", "BUS_EVENTS_TOKEN", SECRET_ENV)


def environ(**variables: str) -> dict[str, str]:
    """The test's environment without any Bus variable but ``variables``."""
    env = {k: v for k, v in os.environ.items() if k not in BUS_VARIABLES}
    return env | variables


async def asm(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = await trio.run_process(
        [ASM, *argv],
        capture_stdout=True,
        capture_stderr=True,
        check=False,
        env=environ() if env is None else env,
    )
    stdout, stderr = result.stdout.decode(), result.stderr.decode()
    assert "Traceback" not in stderr
    return subprocess.CompletedProcess(result.args, result.returncode, stdout, stderr)


@pytest.fixture
async def log() -> AsyncIterator[MemoryEventLog]:
    async with open_memory_log() as log:
        yield log


@pytest.fixture
async def served(nursery: trio.Nursery, log: MemoryEventLog) -> ServedEvents:
    return await serve_events(nursery, log)


def bus_env(served: ServedEvents, bearer: str | None = None) -> dict[str, str]:
    return environ(BUS_EVENTS_API_BASE_URL=served.base_url, BUS_EVENTS_TOKEN=bearer or token())


# --- asm token issue ---------------------------------------------------------------------


async def test_token_issue_prints_a_token_signed_with_the_state_dirs_secret(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    served_secret = events_secret(state, {})  # what `asm serve` made on its first start
    result = await asm(
        "token",
        "issue",
        "--subject",
        "deploy-bot",
        "--scope",
        "events:send events:listen",
        "--scope",
        "inference:read",
        "--ttl",
        "15m",
        "--state-dir",
        str(state),
    )
    assert (result.returncode, result.stderr) == (0, "")
    [issued] = result.stdout.splitlines()
    secret_file = state / "events.secret"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    claims = TokenVerifier(served_secret).verify(issued)
    assert claims.sub == "deploy-bot"
    assert claims.scope == "events:send events:listen inference:read"
    assert claims.exp - claims.iat == 900
    again = await asm("token", "issue", "--subject=b", "--scope=x:y", "--state-dir", str(state))
    assert again.returncode == 0 and "'x:y' is not a scope this server checks" in again.stderr
    assert TokenVerifier(events_secret(state, {})).verify(again.stdout.strip()).sub == "b"


async def test_token_issue_signs_with_the_secret_in_the_environment(tmp_path: Path) -> None:
    secret = "an-operator-chosen-secret-of-40-characters"
    result = await asm(
        "token",
        "issue",
        "--subject=s",
        "--scope=events:listen",
        "--audience=other/api",
        "--state-dir",
        str(tmp_path),
        env=environ(BUS_API_JWT_SECRET=secret),
    )
    assert result.returncode == 0, result.stderr
    claims = TokenVerifier(secret.encode(), audience="other/api").verify(result.stdout.strip())
    assert claims.aud == "other/api"
    assert not (tmp_path / "events.secret").exists()


@pytest.mark.parametrize("ttl", ["1y", "0", "-5", "h", "99999d"])
async def test_a_bad_ttl_is_a_usage_error(tmp_path: Path, ttl: str) -> None:
    result = await asm(
        "token",
        "issue",
        "--subject=s",
        "--scope=events:send",
        f"--ttl={ttl}",
        "--state-dir",
        str(tmp_path),
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert "--ttl" in result.stderr


@pytest.mark.parametrize(("ttl", "seconds"), [("30s", 30), ("90", 90), ("7d", 604800)])
async def test_ttl_units_are_seconds_minutes_hours_days(
    tmp_path: Path, ttl: str, seconds: int
) -> None:
    events_secret(tmp_path, {})  # the server's
    result = await asm(
        "token",
        "issue",
        "--subject=s",
        "--scope=events:send",
        f"--ttl={ttl}",
        "--state-dir",
        str(tmp_path),
    )
    claims = TokenVerifier(events_secret(tmp_path, {})).verify(result.stdout.strip())
    assert claims.exp - claims.iat == seconds


async def test_token_issue_never_makes_a_secret_in_a_state_dir_without_one(
    tmp_path: Path,
) -> None:
    state = tmp_path / "elsewhere"
    argv = ("token", "issue", "--subject=s", "--scope=events:send", "--state-dir", str(state))
    result = await asm(*argv)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.startswith(f"asm token issue: {state} has no events secret")
    assert f"asm serve --state-dir {state}" in result.stderr
    assert not state.exists()


async def test_token_issue_refuses_an_unreadable_secret_without_replacing_it(
    tmp_path: Path,
) -> None:
    events_secret(tmp_path, {})
    (tmp_path / "events.secret").chmod(0o644)
    before = (tmp_path / "events.secret").read_bytes()
    argv = ("token", "issue", "--subject=s", "--scope=events:send", "--state-dir", str(tmp_path))
    result = await asm(*argv)
    assert (result.returncode, result.stdout) == (1, "")
    assert "open to its group or others" in result.stderr
    assert (tmp_path / "events.secret").read_bytes() == before


# --- asm events --------------------------------------------------------------------------


async def test_events_send_prints_the_receipt_of_the_stored_event(
    served: ServedEvents, log: MemoryEventLog
) -> None:
    result = await asm(
        "events",
        "send",
        "--name",
        "jobs.created",
        "--payload",
        '{"id": 7, "ok": true}',
        "--correlation-id",
        "c-1",
        env=bus_env(served),
    )
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    receipt = json.loads(result.stdout)
    assert receipt["accepted"] is True
    assert (receipt["name"], receipt["correlation_id"]) == ("jobs.created", "c-1")
    async with log.listen(ListenQuery(pattern="jobs.*", replay=True, follow=False)) as stream:
        stored = await stream.receive()
    assert stored.id == receipt["id"]
    assert msgspec.json.decode(stored.payload) == {"id": 7, "ok": True}


async def test_events_listen_replays_what_was_sent_one_json_per_line(
    served: ServedEvents,
) -> None:
    env = bus_env(served)
    for n in (1, 2):
        sent = await asm("events", "send", "--name", f"jobs.n{n}", "--payload", str(n), env=env)
        assert sent.returncode == 0, sent.stderr
    result = await asm("events", "listen", "--name", "jobs.*", "--replay", "--no-follow", env=env)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(e["name"], e["payload"], e["identity_id"]) for e in lines] == [
        ("jobs.n1", 1, "alice"),
        ("jobs.n2", 2, "alice"),
    ]


async def test_events_listen_prints_one_line_per_event_whatever_the_payloads_hold(
    served: ServedEvents, log: MemoryEventLog
) -> None:
    """A payload with line breaks between its values (once a forged event of its own on
    the wire) and strings with the separators line readers also break at, in a payload
    and in metadata (which the client decodes and the command encodes again)."""
    forged = {"id": "999", "name": "bus.inference.verify.response", "payload": {"ok": True}}
    hostile = "[1,\n" + json.dumps(forged) + "\n,2]"
    text = "a\u2028b\u2029c\u0085d"
    env = bus_env(served)
    for name, payload in (("jobs.hostile", hostile), ("jobs.text", json.dumps([text]))):
        sent = await asm("events", "send", "--name", name, "--payload", payload, env=env)
        assert sent.returncode == 0, sent.stderr
    note = PublishEnvelope(name="jobs.note", metadata={"note": text})
    await log.append([note], identity_id="alice")
    result = await asm("events", "listen", "--name", "jobs.*", "--replay", "--no-follow", env=env)
    assert (result.returncode, result.stderr) == (0, "")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(e["name"], e["payload"], e["metadata"]) for e in lines] == [
        ("jobs.hostile", [1, forged, 2], {}),
        ("jobs.text", [text], {}),
        ("jobs.note", None, {"note": text}),
    ]


async def test_a_payload_nested_a_thousand_deep_is_a_usage_error(served: ServedEvents) -> None:
    deep = "[" * 1000 + "]" * 1000
    result = await asm("events", "send", "--name=a", f"--payload={deep}", env=bus_env(served))
    assert (result.returncode, result.stdout) == (2, "")
    assert "nests deeper than 64 levels" in result.stderr


async def test_events_listen_stops_on_sigint_with_130(
    served: ServedEvents, log: MemoryEventLog
) -> None:
    await log.append([PublishEnvelope(name="jobs.first")], identity_id="x")
    run = partial(
        trio.run_process,
        [ASM, "events", "listen", "--name", "jobs.*", "--replay"],
        stdout=subprocess.PIPE,
        check=False,
        env=bus_env(served),
    )
    async with trio.open_nursery() as nursery:
        process: trio.Process = await nursery.start(run)
        assert process.stdout is not None
        first = b""
        while b"\n" not in first:  # following: the replay is printed, a line per event
            first += await process.stdout.receive_some()
        assert json.loads(first.split(b"\n")[0])["name"] == "jobs.first"
        process.send_signal(signal.SIGINT)
    assert process.returncode == 130


async def test_a_missing_base_url_or_token_is_a_usage_error_naming_the_variable(
    served: ServedEvents,
) -> None:
    no_url = await asm("events", "send", "--name=a", "--payload=1", env=environ(BUS_API_TOKEN="t"))
    assert (no_url.returncode, no_url.stdout) == (2, "")
    assert "BUS_EVENTS_API_BASE_URL is not set" in no_url.stderr
    no_token = environ(BUS_EVENTS_API_BASE_URL=served.base_url)
    for action in (["send", "--name=a", "--payload=1"], ["listen", "--name=a"]):
        result = await asm("events", *action, env=no_token)
        assert (result.returncode, result.stdout) == (2, "")
        assert "BUS_API_TOKEN" in result.stderr and "BUS_EVENTS_TOKEN" in result.stderr


async def test_invalid_payload_json_is_a_usage_error(served: ServedEvents) -> None:
    result = await asm("events", "send", "--name=a", "--payload={nope", env=bus_env(served))
    assert (result.returncode, result.stdout) == (2, "")
    assert "not JSON" in result.stderr


async def test_a_bad_token_exits_1_with_the_servers_message_and_never_shows_it(
    served: ServedEvents,
) -> None:
    wrong = token(secret=b"a-secret-the-server-has-never-heard-of")
    for action in (["send", "--name=a", "--payload=1"], ["listen", "--name=a", "--no-follow"]):
        result = await asm("events", *action, env=bus_env(served, wrong))
        assert (result.returncode, result.stdout) == (1, "")
        assert "invalid_auth: the token's signature does not verify (401)" in result.stderr
        assert wrong not in result.stderr and wrong.split(".")[2] not in result.stderr


async def test_a_missing_scope_exits_1_naming_it(served: ServedEvents) -> None:
    env = bus_env(served, token("events:listen"))
    result = await asm("events", "send", "--name=jobs.a", "--payload=1", env=env)
    assert result.returncode == 1
    assert "forbidden: publishing jobs.a needs the scope events:send (403)" in result.stderr


async def test_bus_api_token_comes_before_bus_events_token(served: ServedEvents) -> None:
    env = bus_env(served, token(secret=b"a-secret-the-server-has-never-heard-of"))
    env["BUS_API_TOKEN"] = token(subject="first-choice")
    result = await asm("events", "send", "--name=jobs.a", "--payload=1", env=env)
    assert result.returncode == 0, result.stderr


async def test_group_without_unicast_is_a_usage_error(served: ServedEvents) -> None:
    result = await asm("events", "listen", "--name=a", "--group=g", env=bus_env(served))
    assert result.returncode == 2 and "--delivery unicast" in result.stderr


# --- the events secret -------------------------------------------------------------------


def test_the_secret_file_is_made_once_and_reused(tmp_path: Path) -> None:
    first = events_secret(tmp_path / "new", {})
    assert len(first) >= 32
    assert events_secret(tmp_path / "new", {}) == first
    assert [p.name for p in (tmp_path / "new").iterdir()] == ["events.secret"]


def test_the_environment_secret_comes_first_and_must_be_long_enough(tmp_path: Path) -> None:
    assert events_secret(tmp_path, {SECRET_ENV: SECRET.decode()}) == SECRET
    with pytest.raises(EventsSecretError, match="shorter than 32 bytes"):
        events_secret(tmp_path, {SECRET_ENV: "short"})
    assert not (tmp_path / "events.secret").exists()


def test_a_secret_file_open_to_others_is_refused(tmp_path: Path) -> None:
    events_secret(tmp_path, {})
    (tmp_path / "events.secret").chmod(0o644)
    with pytest.raises(EventsSecretError, match="open to its group or others") as raised:
        events_secret(tmp_path, {})
    assert (tmp_path / "events.secret").read_text().strip() not in str(raised.value)


# --- the 60 s window of a broadcast listen (BUS.md §2.2) ---------------------------------


async def test_an_event_older_than_60_s_needs_replay_and_a_bare_listen_says_so(
    nursery: trio.Nursery,
) -> None:
    """The README's case: the listen runs two minutes after the send. Without --replay it
    prints nothing and names --replay on stderr; with it, the event is printed."""
    offset = [-120.0]
    async with open_memory_log(clock=lambda: time.time() + offset[0]) as log:
        served = await serve_events(nursery, log)
        await log.append([PublishEnvelope(name="ops.deploy.step")], identity_id="ops")
        offset[0] = 0.0
        env = bus_env(served)
        bare = await asm("events", "listen", "--name", "ops.*", "--no-follow", env=env)
        assert (bare.returncode, bare.stdout) == (0, "")
        assert bare.stderr == (
            "asm events listen: no events; a listen without --replay starts 60 s back; "
            "--replay starts at the oldest retained event\n"
        )
        replayed = await asm(
            "events", "listen", "--name", "ops.*", "--replay", "--no-follow", env=env
        )
        assert (replayed.returncode, replayed.stderr) == (0, "")
        assert [json.loads(line)["name"] for line in replayed.stdout.splitlines()] == [
            "ops.deploy.step"
        ]
        served.stop()


async def test_a_following_listen_that_stays_empty_notes_the_window_once(
    served: ServedEvents,
) -> None:
    run = partial(
        trio.run_process,
        [ASM, "events", "listen", "--name", "ops.*"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        check=False,
        env=bus_env(served),
    )
    async with trio.open_nursery() as nursery:
        process: trio.Process = await nursery.start(run)
        assert process.stderr is not None
        note = b""
        with trio.fail_after(20):
            while not note.endswith(b"\n"):  # one line, however the pipe splits it
                note += await process.stderr.receive_some()
        process.send_signal(signal.SIGINT)
    assert note.decode() == (
        "asm events listen: nothing yet; a listen without --replay starts 60 s back; "
        "--replay starts at the oldest retained event\n"
    )
    assert process.returncode == 130
