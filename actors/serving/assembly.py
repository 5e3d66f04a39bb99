"""The parts of a served system that live in its state directory: admin token and bus.

``asm serve`` and ``hypercorn -k trio actors.asgi:app`` assemble the same system, so
both take the admin token (``<state-dir>/admin.token``, made 0600 on first use) and the
bus (its store, the events secret, the Ollama provider, the optional remote bridge)
from here::

    token = admin_token(state_dir)
    bus = serve_bus(state_dir, store, None, os.environ, config)
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from actors.bus import Bus, ProviderRegistry
from actors.ollama import OllamaProvider, SecretResolver
from actors.processes import ProcessLedger
from actors.serving.events_secret import events_secret
from contracts.config import Config

__all__ = ["admin_token", "serve_bus"]


def admin_token(state_dir: Path) -> str:
    """The admin token in ``state_dir/admin.token``, created (0600) when missing."""
    path = state_dir / "admin.token"
    try:
        token = path.read_text().strip()
    except FileNotFoundError:
        token = ""
    if not token:
        token = secrets.token_urlsafe(32)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(token + "\n")
    path.chmod(0o600)
    return token


def serve_bus(
    state_dir: Path,
    store: str | None,
    events_url: str | None,
    environ: Mapping[str, str],
    config: Config,
    *,
    config_file: str | None = None,
) -> Bus:
    """The Bus of a served system: its store (default the state dir's sqlite file), the
    events secret of the state dir, the Ollama provider over the config's nodes (secrets
    from ``[secrets] dir``, default ``<state-dir>/secrets``, or ``BUS_SECRET_*``), and
    the bridge's remote API when ``events_url`` is set. ``config_file`` is the file
    ``config`` was read from: an ``unknown_node`` answer names it as where to add a node.
    """
    token = environ.get("BUS_API_TOKEN") or environ.get("BUS_EVENTS_TOKEN")
    secrets_dir = Path(config.secrets.dir) if config.secrets.dir else state_dir / "secrets"
    resolver = SecretResolver(secrets_dir, environ)
    # The runtimes it starts go in the ledger open_system sweeps at start (SPEC §4.4).
    ledger = ProcessLedger.open(state_dir / "process-groups")
    ollama = OllamaProvider(
        config.nodes,
        resolver,
        environ=environ,
        ledger=ledger,
        config_file=None if config_file is None else os.path.abspath(config_file),
    )
    return Bus(
        store or f"sqlite:{state_dir / 'events.db'}",
        secret=events_secret(state_dir, environ),
        registry=ProviderRegistry([ollama]),
        events_url=events_url,
        events_token=token if events_url else None,
    )
