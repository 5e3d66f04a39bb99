"""Helpers for the Ollama provider's tests: a node over the fake Ollama, requests, a provider."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from actors.ollama import OllamaProvider, SecretResolver
from actors.processes import ProcessLedger
from contracts.inference import (
    InstallRequest,
    ModelEnsureRequest,
    StatusRequest,
    VerifyRequest,
)
from contracts.nodes import NodeSettings
from tests.actors.sessions.sessions import children_environ

ROOT = Path(__file__).resolve().parents[3]
FAKES = ROOT / "tests" / "fakes"
SMALL_MODEL = "smollm2:135m"  # 270,911,521 bytes in the fake's catalogue


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def environ(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a provider (and of the runtimes it starts) in a test."""
    env = children_environ()
    env.update({"HOME": str(tmp_path), "FAKE_OLLAMA_MODELS": str(tmp_path / "models")})
    env.update(extra)
    return env


def node(url: str, **fields: Any) -> NodeSettings:
    return NodeSettings(ollama_url=url, **fields)


def installable_node(tmp_path: Path, port: int, **fields: Any) -> NodeSettings:
    """A node whose runtime is installed by the fake installer into ``tmp_path/prefix``."""
    prefix = tmp_path / "prefix"
    return NodeSettings(
        ollama_url=f"http://127.0.0.1:{port}",
        install_command=f"sh {FAKES / 'ollama_install.sh'} {prefix}",
        ollama_executable=str(prefix / "bin" / "ollama"),
        service="supervised",
        ready_timeout=20.0,
        **fields,
    )


def provider(
    nodes: Mapping[str, NodeSettings],
    tmp_path: Path,
    env: Mapping[str, str] | None = None,
    ledger: ProcessLedger | None = None,
) -> OllamaProvider:
    env = dict(env if env is not None else environ(tmp_path))
    secrets = tmp_path / "secrets"
    secrets.mkdir(mode=0o700, exist_ok=True)
    return OllamaProvider(nodes, SecretResolver(secrets, env), environ=env, ledger=ledger)


def install(**fields: Any) -> InstallRequest:
    return msgspec.convert({"provider": "ollama", "node_id": "node-1", **fields}, InstallRequest)


def ensure(model: str = SMALL_MODEL, **fields: Any) -> ModelEnsureRequest:
    body = {"provider": "ollama", "node_id": "node-1", "model": model, **fields}
    return msgspec.convert(body, ModelEnsureRequest)


def status(node_id: str = "node-1") -> StatusRequest:
    return StatusRequest(provider="ollama", node_id=node_id)


def verify(*checks: str) -> VerifyRequest:
    body: dict[str, Any] = {"provider": "ollama", "node_id": "node-1"}
    if checks:
        body["checks"] = list(checks)
    return msgspec.convert(body, VerifyRequest)


def allowed(**policy: Any) -> dict[str, Any]:
    return {"allow_model_download": True, **policy}


def is_listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0
