"""The ``[nodes.<node_id>]`` and ``[secrets]`` sections of ``asm.toml`` (BUS.md §4.1, §4.3).

A node is one machine that runs (or will run) an Ollama runtime; the Ollama provider
reaches its REST API at ``ollama_url`` and runs commands on it through its runner::

    >>> from contracts.config import parse_config
    >>> config = parse_config(
    ...     b'[nodes.gpu-1]\\nrunner = "ssh"\\nhost = "10.0.0.5"\\nuser = "ops"\\n'
    ...     b'ssh_key = "secret://deployment/gpu-1-key"\\n'
    ... )
    >>> node = config.nodes["gpu-1"]
    >>> node.port, node.environment, node.service
    (22, 'dev', 'auto')
    >>> node.installer()
    'curl -fsSL https://ollama.com/install.sh | OLLAMA_VERSION=0.12.3 sh'

The configuration names secrets only by reference (``secret://deployment/<name>``); an
inline key is an error whose message never repeats the value. Node ids are checked by
:func:`validate_node_ids`, which :func:`contracts.config.parse_config` calls, since a
dict key has no ``__post_init__`` of its own; ``parse_config`` also names the node in
every message about its table (``[nodes.gpu-1].runnr: unknown key``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Final, Literal
from urllib.parse import urlsplit

import msgspec

from contracts.inference import NODE_ID_PATTERN, Environment, secret_ref_ok

__all__ = [
    "DEFAULT_OLLAMA_URL",
    "DEFAULT_OLLAMA_VERSION",
    "NodeSettings",
    "SecretsSettings",
    "official_installer",
    "validate_node_ids",
]

DEFAULT_OLLAMA_URL: Final = "http://127.0.0.1:11434"
DEFAULT_OLLAMA_VERSION: Final = "0.12.3"

# A version goes into a shell command line unquoted, so it may hold no shell syntax.
_VERSION_OK: Final = re.compile(r"[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}").fullmatch
# ssh takes these as words of its own command line: no option look-alikes, no spaces,
# no ``@`` in a user (it would move the split between user and host).
_HOST_OK: Final = re.compile(r"[A-Za-z0-9_.:][A-Za-z0-9_.:-]{0,252}").fullmatch
_USER_OK: Final = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.$-]{0,63}").fullmatch
_NODE_ID_OK: Final = re.compile(NODE_ID_PATTERN).match


def official_installer(version: str) -> str:
    """The official Linux installer of Ollama, pinned to ``version``."""
    return f"curl -fsSL https://ollama.com/install.sh | OLLAMA_VERSION={version} sh"


class NodeSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[nodes.<node_id>]``: where a node's Ollama answers and how commands reach it.

    ``runner`` "local" runs commands on this machine; "ssh" runs them through the
    system's OpenSSH client on ``user@host:port``, authenticated by ``ssh_key`` (a
    secret reference) or, without one, by the agent and the default keys.
    ``install_command`` (a shell command line) defaults to :func:`official_installer`
    of ``ollama_version``. ``service`` says how the runtime runs: a systemd unit, an
    ``ollama serve`` child supervised by asm, or "auto" (systemd when the node has it).
    ``ready_timeout`` bounds the wait for the API after an install or a start.
    """

    ollama_url: str = DEFAULT_OLLAMA_URL
    runner: Literal["local", "ssh"] = "local"
    host: str | None = None
    user: str | None = None
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 22
    ssh_key: str | None = None
    environment: Environment = "dev"
    install_command: str | None = None
    ollama_version: str = DEFAULT_OLLAMA_VERSION
    ollama_executable: str = "ollama"
    service: Literal["auto", "systemd", "supervised"] = "auto"
    ready_timeout: Annotated[float, msgspec.Meta(gt=0)] = 60.0

    def __post_init__(self) -> None:
        # Messages name the key, never the value: an ssh_key may be the key itself.
        if self.ssh_key is not None and secret_ref_ok(self.ssh_key) is None:
            raise ValueError(
                "ssh_key must be a reference secret://deployment/<name>, not the key itself"
            )
        if self.runner == "ssh":
            if self.host is None:
                raise ValueError('runner = "ssh" needs host')
        elif self.host is not None or self.user is not None or self.ssh_key is not None:
            raise ValueError('host, user and ssh_key are for runner = "ssh" only')
        if self.host is not None and _HOST_OK(self.host) is None:
            raise ValueError("host must be a host name or an IP address")
        if self.user is not None and _USER_OK(self.user) is None:
            raise ValueError("user must be a user name (letters, digits, '_', '.', '-')")
        if _VERSION_OK(self.ollama_version) is None:
            raise ValueError("ollama_version must be a version such as 0.12.3")
        if not self.ollama_executable:
            raise ValueError("ollama_executable must not be empty")
        _check_url(self.ollama_url)

    def installer(self) -> str:
        """The shell command line that installs Ollama on this node."""
        if self.install_command is not None:
            return self.install_command
        return official_installer(self.ollama_version)


def _check_url(url: str) -> None:
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a port that is not 0-65535
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("ollama_url must be an http:// or https:// URL with a host")


class SecretsSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[secrets]``: where secret files live (``None``: ``<state-dir>/secrets``).

    A reference ``secret://deployment/<name>`` resolves to the file ``<dir>/<name>``
    (mode 0600) or to the environment variable ``BUS_SECRET_<NAME>`` (BUS.md §4.3).
    """

    dir: str | None = None


def validate_node_ids(nodes: Mapping[str, NodeSettings]) -> None:
    """Raise ``ValueError`` naming the first node id that is not 1-64 ``[A-Za-z0-9_-]``."""
    for node_id in nodes:
        if _NODE_ID_OK(node_id) is None:
            raise ValueError(f"[nodes.{node_id!r}]: a node id is 1-64 letters, digits, '_' or '-'")
