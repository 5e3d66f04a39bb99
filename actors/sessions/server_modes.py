"""The server modes a worker can speak: how to start the CLI, greet it, and run one turn.

A :class:`~actors.sessions.worker.Worker` owns the process, the pipes (an
:class:`~actors.sessions.rpc.RpcPeer`), the timers and the outcome; a :class:`ServerMode`
knows the protocol. Each completion is one :class:`OpenTurn`: opened (a fresh
conversation on the server with the client's instructions and earlier turns), started
(the last user message), read (the notifications routed to it, through its decoder),
and stopped (interrupted if unfinished, then forgotten by the server)::

    mode = SERVER_MODES["codex"]
    peer = RpcPeer(child.stdin, name=mode.name, route_key=mode.route_key, answer=mode.answer)
    await mode.handshake(peer)
    turn = await mode.open(peer, conversation, model="gpt-5", cwd=cwd, persona="completion")
    notes = peer.subscribe(turn.key)
    await turn.start(peer)
    ...                                   # turn.decoder.feed(*note) until turn.decoder.done
    await turn.stop(peer)                 # shielded by the caller
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from actors.sessions.gemini_acp_mode import GeminiAcp
from actors.sessions.rpc import RpcPeer, TurnRefused, decline_approvals
from contracts.conversation import Conversation
from contracts.providers import (
    CLIENT_INFO,
    AppServerTurn,
    Launch,
    LaunchRequest,
    Persona,
    history_items,
    thread_start_params,
    turn_start_params,
    worker_launch,
)
from contracts.session import SessionEvent

__all__ = [
    "SERVER_MODES",
    "CodexAppServer",
    "OpenTurn",
    "ServerMode",
    "TurnDecoder",
    "TurnRefused",
]


class TurnDecoder(Protocol):
    """Reads one turn's notifications into session events (see :class:`AppServerTurn`)."""

    @property
    def done(self) -> bool:
        """True once the turn has ended (its last event was returned)."""
        ...

    def feed(self, method: str, params: dict[str, Any]) -> list[SessionEvent]:
        """The events of one notification routed to this turn."""
        ...


class OpenTurn(Protocol):
    """One completion on the server: its routing key, its decoder, start and stop."""

    key: str

    @property
    def decoder(self) -> TurnDecoder:
        """Reads this turn's notifications."""
        ...

    async def start(self, peer: RpcPeer) -> None:
        """Send the last user message; its events come as notifications."""
        ...

    async def stop(self, peer: RpcPeer) -> None:
        """Interrupt the turn if it has not ended, and let the server forget it (without
        waiting for answers: the caller bounds and shields this)."""
        ...


class ServerMode(Protocol):
    """A CLI's server mode (``codex app-server``)."""

    name: str
    route_key: str

    def launch(self, request: LaunchRequest) -> Launch:
        """The server's command line for ``request`` (no conversation yet)."""
        ...

    async def handshake(self, peer: RpcPeer) -> None:
        """Greet the server; raises ``RpcError`` or ``RpcClosed`` when it will not serve."""
        ...

    async def open(
        self, peer: RpcPeer, conversation: Conversation, *, model: str, cwd: str, persona: Persona
    ) -> OpenTurn:
        """A fresh conversation on the server holding all of ``conversation`` but its last
        user message; :class:`TurnRefused` when the server says why it will not."""
        ...

    def answer(self, method: str, params: dict[str, Any]) -> dict[str, Any] | None:
        """The result for a request the server sends (None: not supported)."""
        ...


class _CodexTurn:
    """One codex thread and its turn."""

    def __init__(self, thread_id: str, conversation: Conversation, model: str) -> None:
        self.key = thread_id
        self.decoder = AppServerTurn(thread_id, model)
        self._conversation = conversation

    async def start(self, peer: RpcPeer) -> None:
        begun = await peer.request("turn/start", turn_start_params(self.key, self._conversation))
        self.decoder.turn_id = str((begun.get("turn") or {}).get("id") or "") or None

    async def stop(self, peer: RpcPeer) -> None:
        turn_id = self.decoder.turn_id
        if not self.decoder.done and turn_id:
            await peer.send_request("turn/interrupt", {"threadId": self.key, "turnId": turn_id})
        await peer.send_request("thread/unsubscribe", {"threadId": self.key})


class CodexAppServer:
    """``codex app-server``: an ephemeral thread per completion, then one turn
    (:mod:`contracts.providers.codex_app_server`)."""

    name = "codex app-server"
    route_key = "threadId"

    def launch(self, request: LaunchRequest) -> Launch:
        return worker_launch(request)

    async def handshake(self, peer: RpcPeer) -> None:
        params = {"clientInfo": CLIENT_INFO, "capabilities": {"experimentalApi": True}}
        await peer.request("initialize", params)
        await peer.notify("initialized")

    async def open(
        self, peer: RpcPeer, conversation: Conversation, *, model: str, cwd: str, persona: Persona
    ) -> OpenTurn:
        params = thread_start_params(conversation, model=model, cwd=cwd, persona=persona)
        started = await peer.request("thread/start", params)
        thread_id = str((started.get("thread") or {}).get("id") or "")
        turn = _CodexTurn(thread_id, conversation, model)
        if history := history_items(conversation):
            try:
                await peer.request("thread/inject_items", {"threadId": thread_id, "items": history})
            except BaseException:
                await turn.stop(peer)
                raise
        return turn

    def answer(self, method: str, params: dict[str, Any]) -> dict[str, Any] | None:
        return decline_approvals(method, params)


SERVER_MODES: Mapping[str, ServerMode] = {"codex": CodexAppServer(), "gemini": GeminiAcp()}
"""The server mode of each provider that has one (``[providers.<id>] mode = "worker"``)."""
