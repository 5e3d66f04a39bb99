"""``gemini --acp``: gemini's server mode, one ACP session per completion.

gemini reads the file ``GEMINI_SYSTEM_MD`` names (one path for the whole process) when
a session opens, and every live session reads it again whenever *any* session opens
(measured on 0.61.0, docs/gemini-acp.md). So each worker has one lock: a conversation
holds it from writing its system prompt into that file, through ``session/new`` (or
``session/load`` of its earlier turns) and ``session/prompt``, until the upstream has
begun to answer (its first chunk) or the turn ended; only then may the next
conversation open. Turns overlap in their answers, not in their time to first token::

    mode = GeminiAcp()
    launch = mode.launch(request)                 # gemini --acp …, GEMINI_SYSTEM_MD
    await mode.handshake(peer)                    # initialize
    turn = await mode.open(peer, chat, model=m, cwd=cwd, persona="completion")
    ...                                           # as any ServerMode (server_modes.py)

Earlier turns are a conversation record written where ``session/load`` looks for it:
``<HOME>/.gemini/tmp/<project>/chats`` of the worker's directory, found through the
``.project_root`` marker gemini writes there when it first opens a session for it.
"""

from __future__ import annotations

import contextlib
import uuid
import weakref
from collections.abc import Callable
from typing import Any

import trio

from actors.sessions.rpc import RpcError, RpcPeer, TurnRefused
from contracts.conversation import Conversation, Turn
from contracts.providers import (
    ACP_INITIALIZE,
    REFUSED_PERMISSION,
    AcpTurn,
    Launch,
    LaunchRequest,
    Persona,
    acp_failure,
    gemini_worker_launch,
    history_record,
    persona_turns,
    prompt_params,
    record_name,
    session_params,
)
from contracts.session import SessionEvent

__all__ = ["REPLAY_WAIT", "GeminiAcp"]

REPLAY_WAIT = 5.0
"""Seconds ``session/load`` may take to replay the loaded turns after its answer."""


class _Process:
    """One gemini process's lock, system prompt file and chats directory."""

    def __init__(self, system_md: str | None, homes: tuple[str, ...]) -> None:
        self.lock = trio.Lock()
        self.system_md = system_md
        self.homes = homes
        self.chats: trio.Path | None = None


class _LockedDecoder:
    """An :class:`AcpTurn` that lets the process's lock go once the upstream answers."""

    def __init__(self, turn: AcpTurn, release: Callable[[], None]) -> None:
        self._turn = turn
        self._release: Callable[[], None] | None = release

    @property
    def done(self) -> bool:
        return self._turn.done

    def feed(self, method: str, params: dict[str, Any]) -> list[SessionEvent]:
        events = self._turn.feed(method, params)
        if self._turn.answering or self._turn.done:
            self.let_go()
        return events

    def let_go(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            release()


class _AcpSession:
    """One ACP session and its one prompt."""

    def __init__(self, key: str, conversation: Conversation, decoder: _LockedDecoder) -> None:
        self.key = key
        self.decoder = decoder
        self._conversation = conversation

    async def start(self, peer: RpcPeer) -> None:
        params = prompt_params(self.key, self._conversation)
        await peer.send_request("session/prompt", params, reply_to=self.key)

    async def stop(self, peer: RpcPeer) -> None:
        try:
            if not self.decoder.done:
                await peer.notify("session/cancel", {"sessionId": self.key})
        finally:
            self.decoder.let_go()


class GeminiAcp:
    """``gemini --acp``: a fresh session per completion (see the module docs)."""

    name = "gemini --acp"
    route_key = "sessionId"

    def __init__(self) -> None:
        self._launched: dict[str, _Process] = {}  # by the worker's directory, until opened
        self._processes: weakref.WeakKeyDictionary[RpcPeer, _Process] = weakref.WeakKeyDictionary()

    def launch(self, request: LaunchRequest) -> Launch:
        launch = gemini_worker_launch(request)
        workspace = request.workspace
        homes = (workspace.path("home"), request.environ.get("HOME") or "", request.home or "")
        process = _Process(launch.env.get("GEMINI_SYSTEM_MD"), tuple(h for h in homes if h))
        self._launched[workspace.path("work")] = process
        return launch

    async def handshake(self, peer: RpcPeer) -> None:
        await peer.request("initialize", dict(ACP_INITIALIZE))

    async def open(
        self, peer: RpcPeer, conversation: Conversation, *, model: str, cwd: str, persona: Persona
    ) -> _AcpSession:
        process = self._process(peer, cwd)
        await process.lock.acquire()
        try:
            turns = persona_turns(conversation, persona)
            if process.system_md is not None and persona == "completion":
                await trio.Path(process.system_md).write_bytes(conversation.system.encode())
            if len(turns) > 1:
                key = await _load(peer, process, cwd, turns[:-1])
            else:
                opened = await peer.request("session/new", session_params(cwd))
                key = str(opened.get("sessionId") or "")
        except RpcError as exc:
            process.lock.release()
            raise TurnRefused(acp_failure(str(exc))) from None
        except BaseException:
            process.lock.release()
            raise
        decoder = _LockedDecoder(AcpTurn(key, model), process.lock.release)
        return _AcpSession(key, conversation, decoder)

    def answer(self, method: str, params: dict[str, Any]) -> dict[str, Any] | None:
        return dict(REFUSED_PERMISSION) if method == "session/request_permission" else None

    def _process(self, peer: RpcPeer, cwd: str) -> _Process:
        process = self._processes.get(peer)
        if process is None:
            process = self._launched.pop(cwd, None) or _Process(None, ())
            self._processes[peer] = process
        return process


async def _load(peer: RpcPeer, process: _Process, cwd: str, history: tuple[Turn, ...]) -> str:
    """A session holding ``history``: its record written where gemini looks, loaded."""
    if process.chats is None:
        process.chats = await _chats(process.homes, cwd)
    if process.chats is None:  # gemini registers the directory at its first session
        await peer.request("session/new", session_params(cwd))
        process.chats = await _chats(process.homes, cwd)
    if process.chats is None:
        raise RpcError("session/load", None, f"no gemini project directory for {cwd}")
    key = str(uuid.uuid4())
    record = process.chats / record_name(key)
    await process.chats.mkdir(parents=True, exist_ok=True)
    await record.write_bytes(history_record(history, key))
    # gemini replays the loaded turns as chunks, some after its answer (0.61.0 does not
    # await the replay): they are drained here, or they would join this turn's answer.
    replay = peer.subscribe(key)
    try:
        await peer.request("session/load", session_params(cwd, key))
        expected = sum(1 for turn in history if turn.text.strip())
        with trio.move_on_after(REPLAY_WAIT), contextlib.suppress(trio.EndOfChannel):
            while expected:
                _, params = await replay.receive()
                update = params.get("update")
                kind = update.get("sessionUpdate") if isinstance(update, dict) else None
                expected -= kind in ("user_message_chunk", "agent_message_chunk")
        if expected:
            raise RpcError("session/load", None, "gemini did not replay the loaded turns")
    finally:
        peer.unsubscribe(key)
        with contextlib.suppress(OSError):
            await record.unlink()
    return key


async def _chats(homes: tuple[str, ...], cwd: str) -> trio.Path | None:
    """The chats directory of the project whose ``.project_root`` names ``cwd``."""
    for home in homes:
        root = trio.Path(home) / ".gemini" / "tmp"
        if not await root.is_dir():
            continue
        for project in await root.iterdir():
            with contextlib.suppress(OSError):
                if (await (project / ".project_root").read_text()).strip() == cwd:
                    return project / "chats"
    return None
