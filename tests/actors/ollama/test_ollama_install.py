"""Install through the Ollama provider: the fake installer into a temporary prefix, the
runtime as a supervised ``ollama serve``; secrets; the bridge's conflict and timeout."""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Mapping
from pathlib import Path

import msgspec
import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors.bus import InferenceBridge, ProviderRegistry, progress_to
from actors.ollama import OllamaProvider, _install
from actors.processes import ProcessLedger
from contracts.events import ListenQuery, PublishEnvelope
from contracts.inference import MODEL_ENSURE_REQUEST, MODEL_ENSURE_RESPONSE, InstallResponse
from tests.actors.ollama.ollama_nodes import (
    FAKES,
    allowed,
    ensure,
    environ,
    free_port,
    install,
    installable_node,
    is_listening,
    node,
    provider,
    status,
)
from tests.fakes.fake_ollama import FakeOllama
from tests.fakes.fake_ollama_models import FakeOllamaConfig


def runtime_env(port: int) -> dict[str, object]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/fake/env", timeout=5) as answer:
        return dict(json.load(answer))


async def test_install_dry_run_changes_nothing_and_execution_reaches_ready(
    tmp_path: Path,
) -> None:
    port = free_port()
    ledger = ProcessLedger.open(tmp_path / "process-groups")
    ollama = provider({"node-1": installable_node(tmp_path, port)}, tmp_path, ledger=ledger)
    runtime = {"listen": f"127.0.0.1:{port}", "context_length": 4096}
    async with trio.open_nursery() as nursery:
        await nursery.start(ollama.run)
        plan = await ollama.install(install(runtime=runtime))
        assert plan.ok and plan.runtime_status == "unknown"
        assert plan.actions == [
            "check-runtime",
            "download-runtime",
            "install-runtime",
            "configure-listen",
            "configure-context-length",
            "start-service",
            "wait-ready",
        ]
        assert not (tmp_path / "prefix").exists() and not is_listening(port)

        done = await ollama.install(install(runtime=runtime, dry_run=False, confirm=True))
        assert done.ok, done.diagnostics
        assert done.actions == plan.actions and done.runtime_status == "ready"
        env = await trio.to_thread.run_sync(runtime_env, port)
        assert len(list((tmp_path / "process-groups").iterdir())) == 1  # swept after a crash
        assert env["OLLAMA_HOST"] == f"127.0.0.1:{port}"
        assert env["OLLAMA_CONTEXT_LENGTH"] == "4096"

        again = await ollama.install(install(runtime=runtime, dry_run=False, confirm=True))
        assert again.ok and again.actions == ["check-runtime"]
        assert (await ollama.status(status())).runtime_status == "ready"
        nursery.cancel_scope.cancel()
    assert not is_listening(port)  # the supervised runtime is stopped with its supervisor
    assert not list((tmp_path / "process-groups").iterdir())


async def test_a_failing_installer_is_a_provider_error_and_the_runtime_failed(
    tmp_path: Path,
) -> None:
    port = free_port()
    env = environ(tmp_path, FAKE_OLLAMA_INSTALL_FAIL="1")
    ollama = provider({"node-1": installable_node(tmp_path, port)}, tmp_path, env)
    async with trio.open_nursery() as nursery:
        await nursery.start(ollama.run)
        failed = await ollama.install(install(dry_run=False, confirm=True))
        nursery.cancel_scope.cancel()
    assert not failed.ok and failed.error_class == "provider_error"
    assert failed.runtime_status == "failed"
    assert failed.diagnostics[0].startswith("download-runtime: exited 1")


async def test_an_unresolved_credential_is_secret_not_found_naming_only_the_reference(
    tmp_path: Path,
) -> None:
    ollama = provider({"node-1": node("http://127.0.0.1:9")}, tmp_path)
    reference = "secret://deployment/ollama-api-token"
    refused = await ollama.install(install(credentials={"api_token_secret": reference}))
    assert not refused.ok and refused.error_class == "secret_not_found"
    assert refused.diagnostics == [f"secret_not_found: {reference} does not resolve"]


async def test_an_ssh_node_whose_key_does_not_resolve_is_secret_not_found(
    tmp_path: Path,
) -> None:
    key = "secret://deployment/gpu-1-key"
    ssh_node = node("http://127.0.0.1:9", runner="ssh", host="gpu-1", user="ops", ssh_key=key)
    ollama = provider({"node-1": ssh_node}, tmp_path)
    answer = await ollama.status(status())
    assert not answer.ok and answer.error_class == "secret_not_found"
    assert key in answer.diagnostics[0]


# Any printable value of 8 or more characters with one character no protocol word or
# address holds: a "secret" equal to, say, "provider" is in every answer by nature, and
# no redaction could tell it from the protocol (Hypothesis once drew exactly that).
_secret_values = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=8, max_size=40
).filter(lambda value: any(char in "!#$%&*+=?@^~" for char in value))


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=_secret_values)
def test_rule_no_secret_value_reaches_a_response_diagnostic_or_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, value: str
) -> None:
    """Secrets (BUS.md §4.3): for any value the resolver holds and a request or node
    references, no response, diagnostic, log record or exception text contains it."""
    env = environ(tmp_path, BUS_SECRET_API_TOKEN=value, BUS_SECRET_NODE_KEY=value)
    # The fake ssh client; told to fail, it prints the key file's content, as a broken
    # real one might: the runner and the provider must keep it out of every answer.
    env.update(PATH=f"{FAKES / 'bin'}:{env['PATH']}", FAKE_SSH_FAIL="1")
    ssh_node = node(
        "http://127.0.0.1:9",
        runner="ssh",
        host="gpu-1",
        user="ops",
        ssh_key="secret://deployment/node-key",
        service="systemd",  # so an execution runs its steps, and ssh's stderr is quoted
    )
    ollama = provider({"node-1": ssh_node}, tmp_path, env)
    credentials = {"api_token_secret": "secret://deployment/api-token"}
    seen: list[str] = []

    async def every_operation() -> None:
        for answer in (
            await ollama.install(install(credentials=credentials)),
            await ollama.install(install(credentials=credentials, dry_run=False, confirm=True)),
            await ollama.ensure_model(ensure(dry_run=False, confirm=True, policy=allowed())),
            await ollama.status(status()),
        ):
            seen.append(msgspec.json.encode(answer).decode())

    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        try:
            trio.run(every_operation)
        except Exception as error:  # an exception is output too: its text is checked
            seen.append(repr(error))
    seen += [record.getMessage() for record in caplog.records]
    assert seen and all(value not in text for text in seen)


async def test_two_downloads_on_one_node_conflict_and_a_slow_one_times_out(
    tmp_path: Path,
) -> None:
    from transport.event_log import open_memory_log

    config = FakeOllamaConfig(models_dir=tmp_path / "models", pull_delay_ms=300)
    with FakeOllama(config) as fake:
        ollama = provider({"node-1": node(fake.url)}, tmp_path)
        deadlines = {MODEL_ENSURE_REQUEST: 1.5}
        async with open_memory_log() as log, trio.open_nursery() as nursery:
            bridge = InferenceBridge(log, ProviderRegistry([ollama]), deadlines=deadlines)
            await nursery.start(bridge.run)
            async with log.listen(ListenQuery(pattern=MODEL_ENSURE_RESPONSE, since=0)) as out:
                body = {
                    "provider": "ollama",
                    "node_id": "node-1",
                    "model": "smollm2:135m",
                    "dry_run": False,
                    "confirm": True,
                    "policy": allowed(),
                }
                for correlation in ("first", "second"):
                    envelope = PublishEnvelope(
                        name=MODEL_ENSURE_REQUEST,
                        payload=msgspec.Raw(msgspec.json.encode(body)),
                        correlation_id=correlation,
                    )
                    await log.append([envelope], identity_id="ops")
                    await trio.sleep(0.2)  # the first is pulling when the second arrives
                answers: dict[str | None, dict[str, object]] = {}
                with trio.fail_after(30):
                    while len(answers) < 2:
                        event = await out.receive()
                        answers[event.correlation_id] = msgspec.json.decode(event.payload)
            nursery.cancel_scope.cancel()
    assert answers["second"]["error_class"] == "conflict"
    assert answers["first"]["error_class"] == "timeout"


# --- progress: each executed action as it starts and ends ------------------------------


async def _install_reporting(
    ollama: OllamaProvider, **fields: object
) -> tuple[InstallResponse, list[dict[str, object]]]:
    reports: list[dict[str, object]] = []

    async def sink(progress: Mapping[str, object]) -> None:
        reports.append(dict(progress))

    async with trio.open_nursery() as nursery:
        await nursery.start(ollama.run)
        with progress_to(sink):
            answer = await ollama.install(install(**fields))
        nursery.cancel_scope.cancel()
    return answer, reports


async def test_an_executed_install_reports_each_action_as_it_starts_and_ends(
    tmp_path: Path,
) -> None:
    port = free_port()
    ollama = provider({"node-1": installable_node(tmp_path, port)}, tmp_path)
    runtime = {"listen": f"127.0.0.1:{port}"}
    plan, planned = await _install_reporting(ollama, runtime=runtime)
    assert plan.ok and planned == []  # a dry run reports nothing
    done, reports = await _install_reporting(ollama, runtime=runtime, dry_run=False, confirm=True)
    assert done.ok, done.diagnostics
    steps = len(done.actions)
    expected = []
    for step, action in enumerate(done.actions, start=1):
        expected += [(action, step, steps, "started"), (action, step, steps, "done")]
    seen = [(r["action"], r["step"], r["steps"], r["status"]) for r in reports]
    assert seen == expected
    assert all(isinstance(r["seconds"], float) for r in reports if r["status"] == "done")


async def test_a_failing_action_is_reported_failed(tmp_path: Path) -> None:
    port = free_port()
    env = environ(tmp_path, FAKE_OLLAMA_INSTALL_FAIL="1")
    ollama = provider({"node-1": installable_node(tmp_path, port)}, tmp_path, env)
    failed, reports = await _install_reporting(ollama, dry_run=False, confirm=True)
    assert not failed.ok
    assert [(r["action"], r["status"]) for r in reports][-2:] == [
        ("download-runtime", "started"),
        ("download-runtime", "failed"),
    ]


async def test_a_long_action_reports_running_while_it_lasts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_install, "PROGRESS_EVERY", 0.05)
    port = free_port()
    env = environ(tmp_path, FAKE_OLLAMA_INSTALL_DELAY_MS="400")
    ollama = provider({"node-1": installable_node(tmp_path, port)}, tmp_path, env)
    done, reports = await _install_reporting(
        ollama, runtime={"listen": f"127.0.0.1:{port}"}, dry_run=False, confirm=True
    )
    assert done.ok, done.diagnostics
    download = [r["status"] for r in reports if r["action"] == "download-runtime"]
    assert download[0] == "started" and download[-1] == "done"
    assert download.count("running") >= 2


async def test_the_download_reports_what_the_installer_prints_as_it_prints_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fake installer prints its status line, then curl's bar at 25, 50, 75 and 100 %
    (200 ms apart): the reports carry each as it comes, before the download is done."""
    monkeypatch.setattr(_install, "OUTPUT_EVERY", 0.02)
    monkeypatch.setattr(_install, "PROGRESS_EVERY", 3600.0)  # no heartbeat: output only
    port = free_port()
    env = environ(tmp_path, FAKE_OLLAMA_INSTALL_DELAY_MS="800")
    ollama = provider({"node-1": installable_node(tmp_path, port)}, tmp_path, env)
    done, reports = await _install_reporting(
        ollama, runtime={"listen": f"127.0.0.1:{port}"}, dry_run=False, confirm=True
    )
    assert done.ok, done.diagnostics
    download = [r for r in reports if r["action"] == "download-runtime"]
    running = [r for r in download if r["status"] == "running"]
    assert download[-1]["status"] == "done"
    assert running[0]["output"] == ">>> Downloading Linux amd64 bundle"
    assert "percent" not in running[0]
    percents = [float(str(r["percent"])) for r in running if "percent" in r]
    assert {25.0, 50.0, 75.0} <= set(percents), running
    assert percents == sorted(percents)
    assert all(str(r["output"]).endswith(f"{r['percent']}%") for r in running if "percent" in r)
    outputs = [r["output"] for r in running]
    assert len(outputs) == len(set(outputs))  # a line is reported once, not at every tick
