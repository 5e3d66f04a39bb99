"""Assembling ``asm serve``: the state directory, the HTTP server, logging, the secrets.

What ``asm serve`` and ``hypercorn -k trio actors.asgi:app`` share: the admin token and
the events secret kept in the state directory, the bus assembled from a store name,
``asm.toml`` found and read, and hypercorn serving the HTTP surface::

    token = admin_token(state_dir)
    bus = serve_bus(state_dir, store, None, os.environ, config)
"""

from __future__ import annotations

from actors.serving.assembly import admin_token, serve_bus
from actors.serving.config_file import config_path, load_config
from actors.serving.events_secret import SECRET_ENV, EventsSecretError, events_secret
from actors.serving.http_server import serve_http
from actors.serving.logging_setup import LOG_FORMATS, JsonFormatter, configure_logging

__all__ = [
    "LOG_FORMATS",
    "SECRET_ENV",
    "EventsSecretError",
    "JsonFormatter",
    "admin_token",
    "config_path",
    "configure_logging",
    "events_secret",
    "load_config",
    "serve_bus",
    "serve_http",
]
