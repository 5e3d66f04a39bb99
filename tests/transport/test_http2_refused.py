"""HTTP/2 is not served (issue 15, low): hypercorn would accept it on cleartext, so the
surface answers a request that arrives as HTTP/2 with 505 before any route sees it.

Against ``open_system``'s real hypercorn socket, with httpx speaking HTTP/2 with prior
knowledge (what an ``Upgrade: h2c`` turns a connection into as well).
"""

from __future__ import annotations

from pathlib import Path

import httpx

from actors.system import open_system
from contracts.config import Config
from tests.actors.sessions.sessions import fake_environ


async def test_a_request_over_http2_is_refused_505_and_http11_is_served(tmp_path: Path) -> None:
    async with open_system(Config(), environ=fake_environ(tmp_path)) as system:
        admin = {"authorization": f"Bearer {system.admin_token}"}
        async with httpx.AsyncClient(http1=False, http2=True, timeout=30) as h2:
            health = await h2.get(f"{system.base_url}/healthz")
            ensure = await h2.post(
                f"{system.base_url}/api/v1/endpoints",
                headers=admin,
                json={"request": {"model_preference": {"provider": "claude", "id": "m"}}},
            )
            events = await h2.get(f"{system.base_url}/api/v1/events/capabilities")
        async with httpx.AsyncClient(timeout=30) as h1:
            served = await h1.get(f"{system.base_url}/healthz")
    for refused in (health, ensure, events):
        assert refused.http_version == "HTTP/2"
        assert refused.status_code == 505
        assert refused.json()["error"]["type"] == "http_version_not_supported"
    assert (served.http_version, served.status_code) == ("HTTP/1.1", 200)
