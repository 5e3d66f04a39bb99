"""Install on a systemd node: the plan and the commands, through a recording runner.

No systemd runs here, so the runner records what it is asked and answers like a node
where nothing is installed yet and every command succeeds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import msgspec

from actors.ollama import CommandResult, OutputSink, RuntimeSupervisor
from actors.ollama._install import Installer
from actors.ollama._node import NodeAccess
from contracts.inference import (
    InstallRequest,
    RuntimeProbe,
    RuntimeWish,
    install_actions,
    listen_of_url,
    model_present,
    service_override,
)
from contracts.nodes import NodeSettings
from tests.fakes.fake_ollama import FakeOllama
from tests.fakes.fake_ollama_models import FakeOllamaConfig


class RecordingRunner:
    description = "ssh ops@gpu-1:22"

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], bytes | None]] = []

    async def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = 60.0,  # noqa: ASYNC109 - the Runner Protocol's signature
        on_output: OutputSink | None = None,
    ) -> CommandResult:
        self.calls.append((list(argv), stdin))
        installed = any("install.sh" in " ".join(call) for call, _ in self.calls[:-1])
        missing = argv[-1] == "--version" and not installed
        return CommandResult(exit_code=127 if missing else 0, stdout="", stderr="")


async def test_a_systemd_node_gets_a_user_a_unit_an_override_and_a_restart(
    tmp_path: Path,
) -> None:
    with FakeOllama(FakeOllamaConfig(models_dir=tmp_path / "models")) as runtime:
        listen = listen_of_url(runtime.url)  # "already answering" once restarted
        node = NodeSettings(
            ollama_url=runtime.url,
            runner="ssh",
            host="gpu-1",
            user="ops",
            service="systemd",
            ollama_executable="/usr/local/bin/ollama",
        )
        runner = RecordingRunner()
        request = msgspec.convert(
            {
                "provider": "ollama",
                "node_id": "gpu-1",
                "dry_run": False,
                "confirm": True,
                "runtime": {"listen": listen, "context_length": 2048},
            },
            InstallRequest,
        )
        installer = Installer(NodeAccess(node, runner), RuntimeSupervisor(), request, {})
        plan = await installer.plan()
        assert plan == [
            "check-runtime",
            "download-runtime",
            "install-runtime",
            "create-service-user",
            "write-service-unit",
            "configure-listen",
            "configure-context-length",
            "start-service",
            "wait-ready",
        ]
        assert await installer.execute(plan) == plan
    commands = [" ".join(argv) for argv, _ in runner.calls]
    assert any("https://ollama.com/install.sh | OLLAMA_VERSION=" in c for c in commands)
    assert any("useradd -r -s /bin/false -U -m -d /usr/share/ollama ollama" in c for c in commands)
    written = {
        argv[-1].split("cat > ")[1].split("'")[1]: stdin
        for argv, stdin in runner.calls
        if stdin is not None
    }
    assert b"ExecStart=/usr/local/bin/ollama serve" in written["/etc/systemd/system/ollama.service"]
    override = written["/etc/systemd/system/ollama.service.d/override.conf"]
    assert override.decode() == (
        f'[Service]\nEnvironment="OLLAMA_HOST={listen}"\nEnvironment="OLLAMA_CONTEXT_LENGTH=2048"\n'
    )
    assert any("systemctl restart ollama" in c for c in commands)


def test_an_installed_answering_runtime_configured_as_asked_needs_only_a_check() -> None:
    wish = RuntimeWish(listen="127.0.0.1:11434", context_length=4096)
    probe = RuntimeProbe(
        installed=True, answering=True, systemd=True, configured=wish.environment()
    )
    assert install_actions(probe, wish) == ["check-runtime"]
    changed = RuntimeProbe(installed=True, answering=True, systemd=True, configured=None)
    assert "download-runtime" not in install_actions(changed, wish)
    assert service_override(wish).startswith("[Service]\n")


def test_a_model_is_present_as_named_or_as_its_latest_tag() -> None:
    assert model_present("llama3.2", ["llama3.2:latest"])
    assert model_present("llama3.2:1b", ["llama3.2:1b"])
    assert not model_present("llama3.2:1b", ["llama3.2:latest"])
    assert listen_of_url("http://user:pw@[::1]:8080/x") == "[::1]:8080"
    assert listen_of_url("http://gpu-1") == "gpu-1:11434"
