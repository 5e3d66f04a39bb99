"""The Ollama provider: install, model.ensure, status and verify on configured nodes (BUS.md §4).

:class:`OllamaProvider` answers the bridge's requests for each ``[nodes.<id>]`` of
``asm.toml``; it reaches a node through a command runner (here or over SSH), runs
``ollama serve`` itself where systemd is absent (:class:`RuntimeSupervisor`), and
resolves ``secret://deployment/<name>`` references (:class:`SecretResolver`)::

    provider = OllamaProvider(config.nodes, SecretResolver(secrets_dir, os.environ))
"""

from __future__ import annotations

from actors.ollama.provider import OllamaProvider
from actors.ollama.runners import (
    OUTPUT_LIMIT,
    CommandResult,
    LocalRunner,
    OutputSink,
    RunnerError,
    SshRunner,
    runner_for,
)
from actors.ollama.runtime import RuntimeSupervisor
from actors.ollama.secret_resolver import (
    SecretNotFound,
    SecretRefused,
    SecretResolver,
    environment_name,
    scrub,
)

__all__ = [
    "OUTPUT_LIMIT",
    "CommandResult",
    "LocalRunner",
    "OllamaProvider",
    "OutputSink",
    "RunnerError",
    "RuntimeSupervisor",
    "SecretNotFound",
    "SecretRefused",
    "SecretResolver",
    "SshRunner",
    "environment_name",
    "runner_for",
    "scrub",
]
