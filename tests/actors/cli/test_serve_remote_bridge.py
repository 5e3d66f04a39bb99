"""``asm serve --events-url``: the bridge answers on a remote Bus Events API (BUS.md §3)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import msgspec
import trio

from contracts.events import ListenQuery, PublishEnvelope
from contracts.inference import STATUS_REQUEST, STATUS_RESPONSE
from tests.actors.sessions.sessions import children_environ
from tests.transport.events.served_events import serve_events, token
from transport.event_log import open_memory_log

ASM = str(Path(sys.executable).parent / "asm")


async def _serving_line(process: trio.Process) -> str:
    assert process.stdout is not None
    received = b""
    while b"\n" not in received:
        chunk = await process.stdout.receive_some()
        assert chunk, "asm serve ended before it served"
        received += chunk
    return received.decode().split("\n", 1)[0]


async def test_the_bridge_of_asm_serve_answers_requests_published_to_a_remote_api(
    tmp_path: Path,
) -> None:
    env = children_environ()
    env.update({"HOME": str(tmp_path), "BUS_API_TOKEN": token(subject="bridge-b")})
    async with open_memory_log() as log, trio.open_nursery() as nursery:
        remote = await serve_events(nursery, log)
        argv = [ASM, "serve", "--bind", "127.0.0.1:0", "--state-dir", str(tmp_path / "state")]
        argv += ["--store", "memory", "--events-url", remote.base_url]
        process = await trio.lowlevel.open_process(argv, stdout=subprocess.PIPE, env=env)
        try:
            with trio.fail_after(30):
                assert (await _serving_line(process)).startswith("asm: serving on ")
            query = ListenQuery(pattern=STATUS_RESPONSE, since=0)
            async with log.listen(query) as responses:
                request = PublishEnvelope(
                    name=STATUS_REQUEST,
                    payload=msgspec.Raw(b'{"provider":"ollama","node_id":"node-1"}'),
                    correlation_id="c-remote",
                )
                await log.append([request], identity_id="ops")
                with trio.fail_after(30):
                    response = await responses.receive()
        finally:
            process.terminate()
            with trio.fail_after(30):
                await process.wait()
            nursery.cancel_scope.cancel()
    assert process.returncode == 0
    assert response.correlation_id == "c-remote"
    assert response.identity_id == "bridge-b"  # published through the remote API's token
    assert msgspec.json.decode(response.payload)["error_class"] == "unknown_node"
