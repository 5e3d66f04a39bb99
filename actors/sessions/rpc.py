"""One JSON-RPC connection to a long-lived CLI over its stdin and stdout lines.

A worker (:mod:`actors.sessions.worker`) owns the process; this owns the conversation
on its pipes: requests and their answers, the notifications of each thread routed to
whoever subscribed to that thread, and the server's own requests (approvals) answered
with a refusal::

    peer = RpcPeer(child.stdin, name="codex app-server")
    nursery.start_soon(peer.serve, lines)            # read_lines(child.stdout, …)
    await peer.request("initialize", {...})
    notes = peer.subscribe(thread_id)                # (method, params) of that thread
    ...
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
from typing import Any, Final

import trio

from actors.processes import LineTooLong
from contracts.providers import DECLINED, rpc_line

__all__ = ["APPROVALS", "Notification", "RpcClosed", "RpcError", "RpcPeer"]

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

    def __init__(self, stdin: trio.abc.SendStream, *, name: str) -> None:
        self.name = name
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

    async def send_request(self, method: str, params: dict[str, Any]) -> None:
        """Send a request whose answer nobody waits for (it is dropped when it comes)."""
        await self._write(rpc_line(method, params, next(self._ids)))

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
        if isinstance(method, str) and rpc_id is not None:
            await self._answer_server(rpc_id, method)
        elif isinstance(method, str):
            params = message.get("params")
            params = params if isinstance(params, dict) else {}
            thread = params.get("threadId")
            if isinstance(thread, str) and (send := self._threads.get(thread)) is not None:
                send.send_nowait((method, params))
        elif isinstance(rpc_id, int) and (pending := self._pending.get(rpc_id)) is not None:
            pending.answer = message
            pending.done.set()

    async def _answer_server(self, rpc_id: object, method: str) -> None:
        """A worker approves nothing and runs no tool: the server's requests are refused."""
        if method in APPROVALS:
            log.warning("%s asked for approval (%s); declined", self.name, method)
            answer: dict[str, Any] = {"id": rpc_id, "result": DECLINED}
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
        self.closed.set()
        for pending in self._pending.values():
            pending.done.set()  # answer None: RpcClosed
        for send in self._threads.values():
            send.close()
        self._threads.clear()
