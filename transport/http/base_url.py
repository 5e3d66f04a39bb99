"""The base URL a client is given, checked once: ``http(s)://`` with a host.

Both clients (:class:`~transport.events.EventsClient`,
:class:`~transport.ollama_client.OllamaClient`) take a base URL from configuration; a
bad one is refused here, in words that never echo it (a malformed URL may hold a
password where the host should be)::

    url = check_base_url("http://127.0.0.1:11434/", "the Ollama URL")
    url.host  # "127.0.0.1"
"""

from __future__ import annotations

import httpx

__all__ = ["check_base_url"]


def check_base_url(base_url: str, what: str, *, userinfo: bool = True) -> httpx.URL:
    """``base_url`` parsed, stripped of a trailing ``/``; ``ValueError`` naming ``what``.

    ``userinfo=False`` also refuses a user or password in the URL (httpx would send it
    as Basic auth instead of the client's bearer).
    """
    try:
        url = httpx.URL(base_url.strip().rstrip("/"))
    except httpx.InvalidURL:
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"{what} is not an http(s):// URL with a host")
    if not userinfo and url.userinfo:
        raise ValueError(f"{what} must not hold a user or password")
    return url
