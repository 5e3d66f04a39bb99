"""An in-memory LeaseGateway for the endpoint app's tests, and a way to serve the app.

A lease plays a script of session events, with pauses, on a channel fed by a task in
the gateway's nursery (as the real sessions run in the supervision tree, not in the
request's task), and records how each ``stream`` context was left::

    gateway = FakeGateway(nursery)
    lease = gateway.add_lease([TextDelta(text="Hi"), HANG])
    ...  # a client reads "Hi", then goes away
    await lease.exited.wait()
    assert lease.exits == [StreamExit(finished=False, error="Cancelled")]

``open_served`` serves a fresh app over a fresh gateway with real hypercorn on a loopback
port; ``call_asgi`` calls the app directly, from any peer address.
"""

from __future__ import annotations

import hmac
import math
import secrets
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import cast

import httpx
import hypercorn
import hypercorn.trio
import trio
import trio.lowlevel
from hypercorn.typing import (
    ASGIFramework,
    ASGIReceiveEvent,
    ASGISendEvent,
    ConnectionState,
    HTTPResponseBodyEvent,
    HTTPResponseStartEvent,
    HTTPScope,
)
from quart_trio import QuartTrio

from contracts.compatibility import resolve
from contracts.conversation import Conversation
from contracts.endpoint import (
    CompatibilityResult,
    ConsumerManifest,
    EndpointDescriptor,
    InferenceRequest,
    backend_manifest,
    consumer_manifest,
    endpoint_descriptor,
    filter_authority_refs,
)
from contracts.endpoint_refusal import EndpointRefusal, EndpointRefused, RefusalCode
from contracts.providers import profile
from contracts.session import Finished, SessionEvent, Started
from transport.endpoint import LeaseBusy, LeaseGone, create_endpoint_app
from transport.surface import HttpSurface


@dataclass(frozen=True)
class Pause:
    """A script step: the CLI says nothing for ``seconds`` (math.inf: until cancelled)."""

    seconds: float


HANG = Pause(math.inf)

Step = SessionEvent | Pause

DEFAULT_SCRIPT: tuple[Step, ...] = (
    Started(provider="claude"),
    Finished(finish_reason="stop", text="ok"),
)


@dataclass(frozen=True)
class StreamExit:
    """How one ``stream`` context ended: after the whole script or not, and by what."""

    finished: bool
    error: str | None


@dataclass
class FakeLease:
    lease_ref: str
    endpoint_id: str
    provider: str
    model: str
    token: str
    nursery: trio.Nursery
    script: Sequence[Step] = DEFAULT_SCRIPT
    created: int = field(default_factory=lambda: int(time.time()))
    busy: bool = False
    gone: bool = False
    prompts: list[Conversation] = field(default_factory=list)
    exits: list[StreamExit] = field(default_factory=list)
    exited: trio.Event = field(default_factory=trio.Event)

    @property
    def live(self) -> bool:
        return not self.gone

    def authorizes(self, token: str) -> bool:
        return hmac.compare_digest(token.encode(), self.token.encode())

    @asynccontextmanager
    async def stream(
        self, conversation: Conversation
    ) -> AsyncIterator[trio.MemoryReceiveChannel[SessionEvent]]:
        if self.busy:
            raise LeaseBusy()
        if self.gone:
            raise LeaseGone()
        self.prompts.append(conversation)
        send, receive = trio.open_memory_channel[SessionEvent](math.inf)
        played = trio.Event()
        player = trio.CancelScope()
        self.nursery.start_soon(self._play, send, player, played)
        error: str | None = None
        try:
            yield receive
        except BaseException as exc:
            error = type(exc).__name__
            raise
        finally:
            player.cancel()
            # Like the real lease, the cleanup is shielded: it runs in a cancelled task
            # when the client went away.
            with trio.CancelScope(shield=True):
                await trio.lowlevel.checkpoint()
            receive.close()
            self.exits.append(StreamExit(finished=played.is_set(), error=error))
            self.exited.set()

    async def _play(
        self,
        send: trio.MemorySendChannel[SessionEvent],
        scope: trio.CancelScope,
        played: trio.Event,
    ) -> None:
        with scope, send:
            for step in self.script:
                if isinstance(step, Pause):
                    await trio.sleep(step.seconds)
                else:
                    try:
                        await send.send(step)
                    except trio.BrokenResourceError:
                        return
            played.set()


class FakeGateway:
    """Leases by reference; ``ensure_endpoint`` follows the real compatibility rules."""

    origin = "http://127.0.0.1:8787"

    def __init__(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery
        self.leases: dict[str, FakeLease] = {}
        self.descriptors: dict[str, EndpointDescriptor] = {}
        self.released: list[str] = []
        self.ensured: list[tuple[InferenceRequest, ConsumerManifest | None, dict[str, object]]] = []

    def add_lease(
        self,
        script: Sequence[Step] = DEFAULT_SCRIPT,
        *,
        provider: str = "claude",
        model: str = "claude-sonnet-4-5",
    ) -> FakeLease:
        number = len(self.leases) + 1
        lease = FakeLease(
            lease_ref=f"lease-{number}-{secrets.token_hex(4)}",
            endpoint_id=f"ep-{number}",
            provider=provider,
            model=model,
            token=secrets.token_urlsafe(32),
            nursery=self._nursery,
            script=script,
        )
        self.leases[lease.lease_ref] = lease
        return lease

    def lease(self, lease_ref: str) -> FakeLease | None:
        return self.leases.get(lease_ref)

    def consumer_manifest(self) -> ConsumerManifest:
        return consumer_manifest()

    async def ensure_endpoint(
        self,
        request: InferenceRequest,
        manifest: ConsumerManifest | None = None,
        context: Mapping[str, object] | None = None,
    ) -> tuple[EndpointDescriptor, CompatibilityResult]:
        self.ensured.append((request, manifest, dict(context or {})))
        provider = request.model_preference.provider or ""
        provider_profile = profile(provider)
        if provider_profile is None:
            raise _refused("unsupported_provider", f"unknown provider {provider!r}")
        model = request.model_preference.id
        if not model:
            raise _refused("missing_model_identity", "the request names no model")
        compatibility = resolve(
            backend_manifest(provider_profile), manifest or consumer_manifest(), request
        )
        if not compatibility.compatible:
            raise EndpointRefused(
                EndpointRefusal(
                    code="incompatible", message=compatibility.reason, compatibility=compatibility
                )
            )
        lease = self.add_lease(provider=provider, model=model)
        descriptor = endpoint_descriptor(
            provider_profile,
            model=model,
            origin=self.origin,
            endpoint_id=lease.endpoint_id,
            lease_ref=lease.lease_ref,
            token=lease.token,
            authority_refs=filter_authority_refs(request.authority_refs, context or {}),
        )
        self.descriptors[lease.lease_ref] = descriptor
        return descriptor, compatibility

    async def release_endpoint(self, lease_ref: str) -> None:
        self.released.append(lease_ref)
        self.leases.pop(lease_ref, None)
        self.descriptors.pop(lease_ref, None)

    def endpoints(self) -> list[EndpointDescriptor]:
        # Deliberately not redacted: the app must redact whatever the gateway returns.
        return list(self.descriptors.values())


def _refused(code: RefusalCode, message: str) -> EndpointRefused:
    return EndpointRefused(EndpointRefusal(code=code, message=message))


# ------------------------------------------------------------------ serving the app


ADMIN_TOKEN = "admin-token-for-tests-0123456789abcdef"
MODEL = "claude-sonnet-4-5"
HELLO: dict[str, object] = {"messages": [{"role": "user", "content": "Hi"}]}


async def serve_on_loopback(nursery: trio.Nursery, app: QuartTrio | HttpSurface) -> str:
    """Serve ``app`` with real hypercorn on a free loopback port; returns its origin."""
    config = hypercorn.Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    config.graceful_timeout = 0.1
    # QuartTrio is an ASGI app; hypercorn's Framework union does not name it.
    urls: list[str] = await nursery.start(hypercorn.trio.serve, cast(ASGIFramework, app), config)
    return urls[0]


@dataclass
class Served:
    """The app served over ``gateway``, and an httpx client pointed at it."""

    gateway: FakeGateway
    origin: str
    http: httpx.AsyncClient

    def lease(self, script: Sequence[Step] = DEFAULT_SCRIPT, provider: str = "claude") -> FakeLease:
        return self.gateway.add_lease(script, provider=provider, model=MODEL)

    async def post_chat(
        self, lease: FakeLease, body: object = HELLO, token: str | None = None
    ) -> httpx.Response:
        return await self.http.post(
            f"/leases/{lease.lease_ref}/v1/chat/completions",
            json=body,
            headers={"authorization": f"Bearer {token or lease.token}"},
        )


@asynccontextmanager
async def open_served(
    nursery: trio.Nursery, *, keepalive_seconds: float = 0.2, read_seconds: float = 10
) -> AsyncIterator[Served]:
    """Serve a fresh app over a fresh FakeGateway: ``async with open_served(nursery) as s``."""
    gateway = FakeGateway(nursery)
    app = create_endpoint_app(gateway, admin_token=ADMIN_TOKEN, keepalive_seconds=keepalive_seconds)
    origin = await serve_on_loopback(nursery, HttpSurface(app, None))
    async with httpx.AsyncClient(base_url=origin, timeout=read_seconds) as http:
        yield Served(gateway, origin, http)


def http_scope(
    method: str,
    path: str,
    *,
    headers: Mapping[str, str] | None = None,
    client: tuple[str, int] | None = ("127.0.0.1", 50000),
) -> HTTPScope:
    """An ASGI HTTP scope as hypercorn would build it, from any ``client`` address."""
    raw_headers = [(b"host", b"127.0.0.1:8787")] + [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in (headers or {}).items()
    ]
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.1"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": raw_headers,
        "client": client,
        "server": ("127.0.0.1", 8787),
        "extensions": {},
        "state": ConnectionState({}),
    }


@dataclass(frozen=True)
class AsgiAnswer:
    status: int
    headers: dict[str, str]
    body: bytes


async def call_asgi(
    app: QuartTrio,
    method: str,
    path: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
    client: tuple[str, int] | None = ("127.0.0.1", 50000),
) -> AsgiAnswer:
    """One request straight into the ASGI app, with any peer address as ``client``."""
    scope = http_scope(method, path, headers=headers, client=client)
    incoming: list[ASGIReceiveEvent] = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[ASGISendEvent] = []

    async def receive() -> ASGIReceiveEvent:
        if incoming:
            return incoming.pop(0)
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    async def send(message: ASGISendEvent) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = cast(HTTPResponseStartEvent, sent[0])
    bodies = [cast(HTTPResponseBodyEvent, message) for message in sent[1:]]
    return AsgiAnswer(
        status=start["status"],
        headers={name.decode(): value.decode() for name, value in start["headers"]},
        body=b"".join(message.get("body", b"") for message in bodies),
    )
