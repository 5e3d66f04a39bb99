"""Chat-completion load for the soak test: workers, what each fault mode must answer, tallies.

Each request picks a lease (one per provider), a fault mode of the fake CLIs that applies
to that provider (``[fake:MODE]`` in the prompt), whole or streamed, and sometimes a
client disconnect. Its outcome is judged against :data:`EXPECTED`, which holds what the
code answers for each mode with the soak's deadlines (``asm.toml`` of ``test_soak``:
first-event and idle 2 s, a keep-alive period longer than both, so a stream always
commits on its first decisive event)::

    target = Target()
    target.aim(base_url, leases)
    traffic = Traffic(target, random.Random(7))
    async with trio.open_nursery() as nursery:
        for _ in range(16):
            nursery.start_soon(traffic.worker)
        ...
        target.stopping = True
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field

import httpx
import trio

from tests.fakes.fake_cli import CLOCK_PROVIDERS, MODES, PROVIDERS, answer_text

REQUEST_TIMEOUT_S = 30.0  # a hang guard: the slowest mode answers in ~3 s
STREAM_DISCONNECT_P = 0.25
WHOLE_DISCONNECT_P = 0.10
MAX_UNEXPECTED_KEPT = 40


@dataclass(frozen=True)
class Expected:
    """What a mode answers: whole (HTTP status, error code) and streamed.

    ``code`` is the envelope's ``code`` (the session's failure kind), None for a success.
    A stream answers the same HTTP error, unless text came first (``in_band``): then a
    200 whose error data line carries that code, then ``[DONE]``.
    """

    status: int
    code: str | None = None
    in_band: bool = False


_OK = Expected(200)
EXPECTED: dict[str, Expected] = {
    "ok": _OK,
    "slow": _OK,
    "grandchild": _OK,
    "stderr_flood": _OK,
    "linger": _OK,
    "clock": _OK,
    "silent_start": Expected(504, "timeout"),  # first-event deadline
    "ignore_term": Expected(504, "timeout"),  # a start line is no answer; SIGKILL after
    "silent_mid": Expected(504, "timeout", in_band=True),  # idle deadline after text
    "crash_mid": Expected(502, "crashed", in_band=True),
    "nonjson": Expected(502, "protocol_error"),
    "huge_line": Expected(502, "output_too_large"),
    "not_logged_in": Expected(503, "not_logged_in"),
    "retrying": Expected(503, "unreachable"),  # retries only, until the first-event deadline
    "leak_stdout": Expected(502, "protocol_error"),  # not sent: see APPLIES
    "leak_error": Expected(502, "crashed"),  # not sent: see APPLIES
}
assert set(EXPECTED) == set(MODES), "a new fake mode needs its expected outcome here"

# Modes a provider's fake does not have (it exits 2 with a usage error): not sent there.
# The leak modes test redaction (tests/actors), which depends on the key each fake was
# handed, not the server under load: not sent at all.
APPLIES: dict[str, tuple[str, ...]] = {
    "clock": CLOCK_PROVIDERS,
    "retrying": ("claude",),
    "leak_stdout": (),
    "leak_error": (),
}


def modes_for(provider: str) -> list[str]:
    """The fault modes worth sending to ``provider``'s fake."""
    return [mode for mode in MODES if provider in APPLIES.get(mode, PROVIDERS)]


@dataclass(frozen=True)
class Lease:
    """One endpoint lease: its ``.../v1`` base URL and bearer header."""

    provider: str
    model: str
    base_url: str
    authorization: str


@dataclass
class Target:
    """The server the load is aimed at; paused while it is killed and restarted.

    ``generation`` counts servers: a request that fails at the transport level after
    the generation it started in was killed was cut by the kill -9, not by a fault.
    """

    generation: int = 0
    ready: trio.Event = field(default_factory=trio.Event)
    base_url: str = ""
    leases: dict[str, Lease] = field(default_factory=dict)
    stopping: bool = False

    def aim(self, base_url: str, leases: dict[str, Lease]) -> None:
        self.base_url, self.leases = base_url, leases
        self.ready.set()

    def pause(self) -> None:
        """Before the kill: new requests wait; requests in flight now belong to the past."""
        self.generation += 1
        self.ready = trio.Event()

    async def wait_ready(self) -> int:
        """Wait until a server is up; its generation."""
        while not self.ready.is_set():
            await self.ready.wait()
        return self.generation


@dataclass
class ModeTally:
    """What the requests of one fault mode got."""

    requests: int = 0
    complete: int = 0  # 200 with the whole answer
    expected_errors: int = 0  # the HTTP error or in-band error the mode calls for
    in_band: int = 0  # of expected_errors: an error data line after a 200
    unexpected: int = 0
    disconnects: int = 0  # the client went away on purpose
    cut_by_kill: int = 0  # the connection died with the killed server
    statuses: Counter[int] = field(default_factory=Counter)


@dataclass
class _Answer:
    status: int
    code: str | None = None  # the error's code, in the envelope or in band
    text: str = ""
    finish: str | None = None
    done: bool = False  # saw ``data: [DONE]``
    disconnected: bool = False


class Traffic:
    """Stream workers and their tallies per mode."""

    def __init__(self, target: Target, rng: random.Random) -> None:
        self.target = target
        self.rng = rng
        sent = {mode for provider in PROVIDERS for mode in modes_for(provider)}
        self.tallies: dict[str, ModeTally] = {mode: ModeTally() for mode in MODES if mode in sent}
        self.unexpected: list[str] = []
        self._sequence = 0

    async def worker(self) -> None:
        """Send requests until the target stops; one HTTP client per server generation."""
        client: httpx.AsyncClient | None = None
        client_generation = -1
        try:
            while not self.target.stopping:
                generation = await self.target.wait_ready()
                if self.target.stopping:
                    break
                if client is None or client_generation != generation:
                    if client is not None:
                        await client.aclose()
                    client = httpx.AsyncClient(trust_env=False, timeout=REQUEST_TIMEOUT_S)
                    client_generation = generation
                await self._one(client, generation)
        finally:
            if client is not None:
                with trio.CancelScope(shield=True):
                    await client.aclose()

    async def _one(self, client: httpx.AsyncClient, generation: int) -> None:
        rng = self.rng
        lease = self.target.leases[rng.choice(sorted(self.target.leases))]
        mode = rng.choice(modes_for(lease.provider))
        stream = rng.random() < 0.5
        self._sequence += 1
        prompt = f"[fake:{mode}] soak request {self._sequence}"
        tally = self.tallies[mode]
        tally.requests += 1
        what = f"{mode}/{lease.provider}/{'stream' if stream else 'whole'}"
        try:
            if stream:
                cut = rng.randint(1, 4) if rng.random() < STREAM_DISCONNECT_P else None
                answer = await _streamed(client, lease, prompt, cut)
            else:
                wait = rng.uniform(0.0, 1.0) if rng.random() < WHOLE_DISCONNECT_P else None
                answer = await _whole(client, lease, prompt, wait)
        except httpx.TransportError as error:
            if generation != self.target.generation:
                tally.cut_by_kill += 1
            else:
                self._unexpected(tally, f"{what}: {type(error).__name__}: {error}")
            return
        tally.statuses[answer.status] += 1
        if answer.disconnected:
            tally.disconnects += 1
            return
        verdict = _judge(
            EXPECTED[mode], answer, stream=stream, provider=lease.provider, prompt=prompt, mode=mode
        )
        if verdict is None:
            tally.complete += answer.code is None
            tally.expected_errors += answer.code is not None
            tally.in_band += answer.code is not None and answer.status == 200
        else:
            self._unexpected(tally, f"{what}: {verdict}")

    def _unexpected(self, tally: ModeTally, description: str) -> None:
        tally.unexpected += 1
        if len(self.unexpected) < MAX_UNEXPECTED_KEPT:
            self.unexpected.append(description)


def _body(lease: Lease, prompt: str, stream: bool) -> dict[str, object]:
    messages = [{"role": "user", "content": prompt}]
    return {"model": lease.model, "messages": messages, "stream": stream}


def _headers(lease: Lease) -> dict[str, str]:
    return {"authorization": lease.authorization}


async def _whole(
    client: httpx.AsyncClient, lease: Lease, prompt: str, disconnect_after: float | None
) -> _Answer:
    """A non-streaming completion; with ``disconnect_after`` the client gives up then."""
    url = f"{lease.base_url}/chat/completions"
    with trio.move_on_after(disconnect_after if disconnect_after is not None else float("inf")):
        response = await client.post(url, json=_body(lease, prompt, False), headers=_headers(lease))
        try:
            payload = response.json()
        except ValueError:
            return _Answer(response.status_code, code=f"not JSON: {response.text[:80]!r}")
        if response.status_code != 200:
            return _Answer(response.status_code, code=_error_code(payload))
        choice = payload["choices"][0]
        return _Answer(200, text=choice["message"]["content"], finish=choice["finish_reason"])
    return _Answer(0, disconnected=True)


async def _streamed(
    client: httpx.AsyncClient, lease: Lease, prompt: str, disconnect_after: int | None
) -> _Answer:
    """A streamed completion read chunk by chunk; with ``disconnect_after`` the client
    closes the connection after that many data chunks (if the stream lasts that long)."""
    url = f"{lease.base_url}/chat/completions"
    request = client.build_request(
        "POST", url, json=_body(lease, prompt, True), headers=_headers(lease)
    )
    response = await client.send(request, stream=True)
    try:
        if response.status_code != 200:
            await response.aread()
            try:
                return _Answer(response.status_code, code=_error_code(response.json()))
            except ValueError:
                return _Answer(response.status_code, code=f"not JSON: {response.text[:80]!r}")
        answer, chunks = _Answer(200), 0
        async for line in response.aiter_lines():
            if not line.startswith("data: "):
                continue  # blank separators, ``: keep-alive`` comments
            data = line.removeprefix("data: ")
            if data == "[DONE]":
                answer.done = True
                break
            chunk = json.loads(data)
            if "error" in chunk:
                answer.code = _error_code(chunk)
                continue
            for choice in chunk["choices"]:
                answer.text += choice["delta"].get("content") or ""
                answer.finish = choice["finish_reason"] or answer.finish
            chunks += 1
            if disconnect_after is not None and chunks >= disconnect_after and not answer.finish:
                answer.disconnected = True
                break
        return answer
    finally:
        await response.aclose()


def _error_code(payload: object) -> str:
    try:
        return str(payload["error"]["code"])  # type: ignore[index]
    except (KeyError, TypeError):
        return f"no error code in {str(payload)[:80]}"


def _judge(
    expected: Expected, answer: _Answer, *, stream: bool, provider: str, prompt: str, mode: str
) -> str | None:
    """None when ``answer`` is what the mode calls for, else what is wrong with it."""
    if expected.code is None:
        if answer.status != 200 or answer.code is not None:
            return f"expected 200, got {answer.status} {answer.code}"
        if stream and not answer.done:
            return "the stream ended without [DONE]"
        if answer.finish != "stop":
            return f"finish_reason {answer.finish!r}"
        if mode != "clock" and answer.text != answer_text(provider, prompt):
            return f"wrong answer {answer.text[:80]!r}"
        return None
    status = 200 if stream and expected.in_band else expected.status
    if (answer.status, answer.code) != (status, expected.code):
        return f"expected {status} {expected.code}, got {answer.status} {answer.code}"
    if status == 200 and not answer.done:
        return "the in-band error was not followed by [DONE]"
    return None
