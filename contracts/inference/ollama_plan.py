"""What the Ollama provider would do on a node, decided from what it found there (BUS.md §4.2).

Pure: a probe of the node goes in, the ordered actions come out, so a dry run and an
execution plan the same steps and tests can state the rules directly::

    >>> probe = RuntimeProbe(installed=False, answering=False, systemd=False)
    >>> install_actions(probe, RuntimeWish(listen="127.0.0.1:11434"))[:3]
    ['check-runtime', 'download-runtime', 'install-runtime']
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import msgspec

from contracts.inference.payloads import Action

__all__ = [
    "DEFAULT_LISTEN",
    "RuntimeProbe",
    "RuntimeWish",
    "install_actions",
    "listen_of_url",
    "model_present",
    "service_override",
    "service_unit",
]

DEFAULT_LISTEN: Final = "127.0.0.1:11434"
SERVICE_USER: Final = "ollama"


class RuntimeWish(msgspec.Struct, frozen=True, kw_only=True):
    """How the runtime should run: from the request's ``runtime`` and the node's config."""

    listen: str = DEFAULT_LISTEN
    context_length: int | None = None
    service_user: str = SERVICE_USER

    def environment(self) -> dict[str, str]:
        """The runtime's environment: OLLAMA_HOST and, when asked, OLLAMA_CONTEXT_LENGTH."""
        env = {"OLLAMA_HOST": self.listen}
        if self.context_length is not None:
            env["OLLAMA_CONTEXT_LENGTH"] = str(self.context_length)
        return env


class RuntimeProbe(msgspec.Struct, frozen=True, kw_only=True):
    """What ``check-runtime`` found on the node."""

    installed: bool
    answering: bool
    systemd: bool
    configured: dict[str, str] | None = None  # the environment the runtime runs with, if known


def install_actions(probe: RuntimeProbe, wish: RuntimeWish) -> list[Action]:
    """The actions an install takes on a node in the state ``probe`` describes.

    Installed, answering and configured as wished: only ``check-runtime``. Otherwise:
    download and install when missing; on systemd the service user and unit; the
    listen and context-length settings; then start (or restart) and wait until ready.
    """
    actions: list[Action] = ["check-runtime"]
    if probe.installed and probe.answering and probe.configured == wish.environment():
        return actions
    if not probe.installed:
        actions += ["download-runtime", "install-runtime"]
    if probe.systemd:
        actions += ["create-service-user", "write-service-unit"]
    actions.append("configure-listen")
    if wish.context_length is not None:
        actions.append("configure-context-length")
    actions += ["start-service", "wait-ready"]
    return actions


def listen_of_url(url: str) -> str:
    """``host:port`` of an ``http://host:port`` URL (the node's ``ollama_url``)."""
    rest = url.split("://", 1)[-1].split("/", 1)[0]
    rest = rest.rpartition("@")[2]
    if rest.startswith("["):
        host, _, port = rest[1:].partition("]")
        return f"[{host}]:{port.removeprefix(':') or '11434'}"
    host, _, port = rest.partition(":")
    return f"{host}:{port or '11434'}"


def model_present(model: str, names: Iterable[str]) -> bool:
    """Whether ``model`` is among the tags' ``names``: as given, or as ``model:latest``."""
    wanted = {model} if ":" in model else {model, f"{model}:latest"}
    return any(name in wanted for name in names)


def service_unit(executable: str, user: str = SERVICE_USER) -> str:
    """The systemd unit that runs ``ollama serve`` as ``user``."""
    return (
        "[Unit]\nDescription=Ollama Service\nAfter=network-online.target\n\n"
        f"[Service]\nExecStart={executable} serve\nUser={user}\nGroup={user}\n"
        "Restart=always\nRestartSec=3\n\n[Install]\nWantedBy=default.target\n"
    )


def service_override(wish: RuntimeWish) -> str:
    """The unit's drop-in override carrying OLLAMA_HOST and OLLAMA_CONTEXT_LENGTH."""
    lines = [f'Environment="{name}={value}"' for name, value in wish.environment().items()]
    return "[Service]\n" + "\n".join(lines) + "\n"
