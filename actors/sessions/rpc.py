"""One JSON-RPC connection to a long-lived CLI over its stdin and stdout lines.

A worker (:mod:`actors.sessions.worker`) owns the process; this owns the conversation
on its pipes: requests and their answers, the notifications of each thread routed to
whoever subscribed to that thread (the params' ``route_key`` names it), and the
server's own requests (approvals) answered as the worker's protocol says, a refusal by
default::

    peer = RpcPeer(child.stdin, name="codex app-server", route_key="threadId")
    nursery.start_soon(peer.serve, lines)            # read_lines(child.stdout, …)
    await peer.request("initialize", {...})
    notes = peer.subscribe(thread_id)                # (method, params) of that thread
    await peer.send_request("session/prompt", {...}, reply_to=thread_id)
    ...                                              # its answer: ("session/prompt#answer", {...})
    peer.unsubscribe(thread_id)

The reader never waits for a subscriber (a thread's notifications queue without bound,
and a turn's are bounded by its answer), so one slow client cannot stall another
conversation of the same process. A line that is not a JSON object is logged and
skipped, as the server itself does; a line past the length limit, or the end of stdout,
ends the connection: every pending request raises :class:`RpcClosed` and every
subscription ends (``trio.EndOfChannel``).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import math
from collections.abc import Callable
from typing import Any, Final

import trio

from actors.processes import LineTooLong
from contracts.providers import DECLINED, rpc_line
from contracts.session import Failed

__all__ = [
    "APPROVALS",
    "Notification",
    "RpcClosed",
    "RpcError",
    "RpcPeer",
    "TurnRefused",
    "decline_approvals",
]

log = logging.getLogger("asm.workers")

Notification = tuple[str, dict[str, Any]]
"""A notification's method and params."""

APPROVALS: Final = frozenset(
    {
        "item/commandExecution/requestApproval",
        "item/fileChange/requestApproval",
        "item/permissions/requestApproval",
        "applyPatchApproval",
        "execCommandApproval",
    }
)
"""Server requests that ask to act: each is answered :data:`~contracts.providers.DECLINED`.
Any other server request (a tool call, user input, an elicitation) gets an error."""


class RpcError(Exception):
    """The server answered a request with an error."""

    def __init__(self, method: str, code: object, message: str) -> None:
        super().__init__(f"{method}: {message} (code {code})")
        self.code = code


class TurnRefused(Exception):
    """The server would not open a conversation, for a reason the client is told
    (``failed``: e.g. ``not_logged_in``); the worker itself goes on serving."""

    def __init__(self, failed: Failed) -> None:
        super().__init__(failed.message)
        self.failed = failed


class RpcClosed(Exception):
    """The connection ended (the process exited, or its output broke the framing)."""


class _Pending:
    __slots__ = ("answer", "done", "method")

    def __init__(self, method: str) -> None:
        self.method = method
        self.done = trio.Event()
        self.answer: dict[str, Any] | None = None


class RpcPeer:
    """The client side of one JSON-RPC stdio connection (see the module docs)."""

    def __init__(
        self,
        stdin: trio.abc.SendStream,
        *,
        name: str,
        route_key: str = "threadId",
        answer: Callable[[str, dict[str, Any]], dict[str, Any] | None] | None = None,
    ) -> None:
        self.name = name
        self._route_key = route_key
        self._answer = answer or decline_approvals
        self._replies: dict[int, tuple[str, str]] = {}  # request id → (subscription, method)
        self.closed = trio.Event()
        self.why_closed = f"{name} exited"
        self.malformed = 0  # lines that were not JSON objects
        self._stdin = stdin
        self._write_lock = trio.Lock()
        self._ids = itertools.count(1)
        self._pending: dict[int, _Pending] = {}
        self._threads: dict[str, trio.MemorySendChannel[Notification]] = {}

    async def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """Send a request and wait for its result; :class:`RpcError` or :class:`RpcClosed`."""
        if self.closed.is_set():
            raise RpcClosed(self.why_closed)
        rpc_id = next(self._ids)
        pending = self._pending[rpc_id] = _Pending(method)
        try:
            await self._write(rpc_line(method, params, rpc_id))
            await pending.done.wait()
        finally:
            self._pending.pop(rpc_id, None)
        answer = pending.answer
        if answer is None:
            raise RpcClosed(self.why_closed)
        if "error" in answer:
            error = answer["error"] if isinstance(answer["error"], dict) else {}
            raise RpcError(method, error.get("code"), str(error.get("message") or "error"))
        result = answer.get("result")
        return result if isinstance(result, dict) else {}

    async def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        """Send a notification (no answer)."""
        await self._write(rpc_line(method, params))

    async def send_request(
        self, method: str, params: dict[str, Any], *, reply_to: str | None = None
    ) -> None:
        """Send a request without waiting for its answer. With ``reply_to``, the answer
        joins that subscription as ``(f"{method}#answer", answer)`` (the whole answer:
        its ``result`` or ``error``); without, it is dropped."""
        rpc_id = next(self._ids)
        if reply_to is not None:
            self._replies[rpc_id] = (reply_to, method)
        await self._write(rpc_line(method, params, rpc_id))

    def subscribe(self, thread_id: str) -> trio.MemoryReceiveChannel[Notification]:
        """The notifications of ``thread_id`` from now on, until :meth:`unsubscribe`."""
        send, receive = trio.open_memory_channel[Notification](math.inf)
        if self.closed.is_set():
            send.close()
        else:
            self._threads[thread_id] = send
        return receive

    def unsubscribe(self, thread_id: str) -> None:
        """Stop routing ``thread_id``'s notifications (later ones are dropped)."""
        send = self._threads.pop(thread_id, None)
        if send is not None:
            send.close()

    async def serve(self, lines: trio.MemoryReceiveChannel[bytes | LineTooLong]) -> None:
        """Read the server's lines until its stdout ends; then close the connection."""
        try:
            async for line in lines:
                if isinstance(line, LineTooLong):
                    self.why_closed = f"{self.name} broke the protocol: {line}"
                    return
                await self._dispatch(line)
        finally:
            self._close()

    async def _dispatch(self, line: bytes) -> None:
        try:
            message = json.loads(line)
        except ValueError:
            message = None
        if not isinstance(message, dict):
            self.malformed += 1
            log.warning("%s wrote a line that is not a JSON object; skipped", self.name)
            return
        method, rpc_id = message.get("method"), message.get("id")
        params = message.get("params")
        params = params if isinstance(params, dict) else {}
        if isinstance(method, str) and rpc_id is not None:
            await self._answer_server(rpc_id, method, params)
        elif isinstance(method, str):
            self._route(params.get(self._route_key), method, params)
        elif isinstance(rpc_id, int) and (pending := self._pending.get(rpc_id)) is not None:
            pending.answer = message
            pending.done.set()
        elif isinstance(rpc_id, int) and (reply := self._replies.pop(rpc_id, None)) is not None:
            self._route(reply[0], f"{reply[1]}#answer", message)

    def _route(self, key: object, method: str, params: dict[str, Any]) -> None:
        if isinstance(key, str) and (send := self._threads.get(key)) is not None:
            send.send_nowait((method, params))

    async def _answer_server(self, rpc_id: object, method: str, params: dict[str, Any]) -> None:
        """A worker approves nothing and runs no tool: the protocol's answer (a refusal),
        or an error for a request it does not know."""
        result = self._answer(method, params)
        if result is not None:
            log.warning("%s asked %s; refused", self.name, method)
            answer: dict[str, Any] = {"id": rpc_id, "result": result}
        else:
            error = {"code": -32601, "message": f"{method} is not supported by this client"}
            answer = {"id": rpc_id, "error": error}
        text = json.dumps(answer, separators=(",", ":")).encode("utf-8") + b"\n"
        with contextlib.suppress(RpcClosed):
            await self._write(text)

    async def _write(self, line: bytes) -> None:
        async with self._write_lock:
            try:
                await self._stdin.send_all(line)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                raise RpcClosed(self.why_closed) from None

    def _close(self) -> None:
        self._replies.clear()
        self.closed.set()
        for pending in self._pending.values():
            pending.done.set()  # answer None: RpcClosed
        for send in self._threads.values():
            send.close()
        self._threads.clear()


def decline_approvals(method: str, params: dict[str, Any]) -> dict[str, Any] | None:
    """codex's approvals are declined; any other server request is not supported."""
    return dict(DECLINED) if method in APPROVALS else None
