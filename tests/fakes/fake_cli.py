"""Fake claude, codex, gemini and amp CLIs for fault injection and fast tests.

``tests/fakes/bin/<provider>`` are tiny executables that call :func:`main`. Each prints its
provider's real stdout line format (see ``/work/shared/PROVIDERS.md`` and the recorded samples)
for the completion-only command line, so a supervisor and its decoders can be driven through
every fault without a real CLI. Standard library only; start-up stays cheap (no ``json``,
``re`` or ``typing`` import on the common path: the bin scripts run ``python3 -S``).

Command line (checked like the real CLI; other flags, ``--flag=value``, ``--flag value``,
``-c key=value`` and ``--config=key=value`` are accepted and ignored):

- claude: needs ``-p``/``--print``, ``--output-format=stream-json`` and ``--verbose``;
  ``--input-format=stream-json`` takes the conversation as the real one does
  (``tests/fakes/fake_cli_input.py``).
  Token deltas (``stream_event`` lines) only with ``--include-partial-messages``, as the real
  one; without it the answer is one whole ``assistant`` message.
- codex: needs ``exec``, ``--json`` and a trailing ``-``; ``codex login status`` answers on
  stderr, exit 0 (1 and "Not logged in" when ``FAKE_CLI_MODE=not_logged_in``); ``codex
  debug models`` prints a one-model catalog. ``resume <id> -`` reads the transcript
  (``tests/fakes/fake_cli_input.py``).
- gemini: needs ``--output-format=stream-json`` (or ``-o stream-json``).
- amp: needs ``-x``/``--execute`` and ``--stream-json``.
- all: ``--version`` prints :data:`VERSIONS` ``[provider]`` and exits 0. A missing required
  flag exits 2 (:data:`USAGE_EXIT_CODE`) with a message on stderr.

Environment:

- ``FAKE_CLI_MODE``: one of :data:`MODES` (default ``ok``). A directive ``[fake:MODE]``
  anywhere in the prompt overrides it for that run. An unknown mode exits 2.
- ``FAKE_CLI_STARTUP_MS`` (default 0): sleep before reading stdin (start-up cost; a warm pool
  parks processes on stdin). Not applied to ``--version`` or ``codex login status``.
- ``FAKE_CLI_DELAY_MS`` (default 200): ``slow`` mode's pause between consecutive deltas
  (``clock`` mode's too, default 50 there).
- ``FAKE_CLI_CLOCK_COUNT`` (default 20): how many deltas ``clock`` mode sends.
- ``FAKE_CLI_PID_DIR`` (optional): the process writes its pid to ``<dir>/leader`` (and, in
  ``grandchild`` mode, the grandchild's pid to ``<dir>/grandchild``) before any output; each
  file is written under a temporary name and renamed, so a reader never sees a partial file.
  ``leader`` appears after SIGTERM is ignored when ``FAKE_CLI_MODE=ignore_term``.
- ``FAKE_CLI_GRANDCHILD_STDIO``: ``inherit`` (default: the grandchild holds the leader's
  stdout and stderr open, like a real CLI's helpers, so stdout EOF only comes once the group
  is killed) or ``devnull``.

The prompt is all of stdin, read until EOF (decoded as UTF-8, errors replaced), before any
answer. Modes (``delta`` = a claude/gemini token delta, a codex item, an amp assistant line):

- ``ok``: start line, the answer, usage, the terminal line, exit 0.
- ``slow``: ``ok`` with ``FAKE_CLI_DELAY_MS`` between consecutive deltas.
- ``silent_start``: reads the prompt, prints nothing, sleeps :data:`SLEEP_FOREVER_S`.
- ``silent_mid``: the lines of ``ok`` up to and including the second delta, then sleeps.
- ``crash_mid``: the same lines, then :data:`CRASH_STDERR_LINE` on stderr, exit 3.
- ``nonjson``: start line, :data:`NOT_JSON_LINE`, then the rest of ``ok``.
- ``huge_line``: start line, one delta line whose text is :func:`huge_text` (2 MiB), then the
  terminal line (claude/amp ``result.result`` repeats the text; usage as in ``ok``).
- ``not_logged_in``: the real CLI's signed-out behaviour (see :func:`_not_logged_in`).
- ``ignore_term``: SIGTERM ignored (from start-up when set by env), start line, sleeps.
- ``grandchild``: starts ``python3 -S -c 'sleep 3600'`` in the same process group (no new
  session), then answers like ``ok`` and exits 0, leaving it running.
- ``stderr_flood``: :data:`STDERR_FLOOD_BYTES` of log lines on stderr, then ``ok``.
- ``linger``: ``ok``, then :data:`LINGER_S` seconds before exiting (a CLI flushing
  telemetry after its result).
- ``clock`` (claude and gemini only; the others exit 2): ``ok``'s lines, but the answer is
  ``FAKE_CLI_CLOCK_COUNT`` deltas ``FAKE_CLI_DELAY_MS`` apart, each text
  ``f"{time.monotonic_ns()} "`` read just before its line is written and flushed; the lines
  after them repeat the stamps (usage as in ``ok``). CLOCK_MONOTONIC is system-wide on
  Linux, so a reader in another process can tell how long a delta took to reach it
  (``benchmarks/endpoint.py``). A claude run without ``--include-partial-messages`` has one
  whole message, so all its stamps are that line's.

- ``retrying`` (claude only; the others exit 2): the start line, then an ``api_retry``
  line every :data:`RETRY_EVERY_S` forever, as claude does when its API is out of reach.
- ``leak_stdout``: a CLI that prints its API key (the value of :data:`LEAKED_KEY_VARS`
  ``[provider]``) on stdout: the start line, then :data:`LEAK_LINE` (not JSON), exit 1.
- ``leak_error`` (claude and codex only; the others exit 2): the key inside an error
  result: claude's ``is_error`` result, codex's ``error`` and ``turn.failed`` lines, both
  :data:`LEAK_ERROR`; it is also written to stderr. Exit 1.

Answer and usage (importable: ``from tests.fakes.fake_cli import expected_usage``):

- :func:`answer_text`: ``"Hello from fake <provider>. You said: " + prompt.strip()[:200]``.
- :func:`answer_pieces`: the answer split before each space (``"Hello"``, ``" from"``, ...);
  claude/gemini send one delta per piece. codex sends one reasoning item then the whole
  answer as one agent_message. amp sends three assistant lines (:func:`amp_messages`): pieces
  0-3, pieces 4-5, the rest; the answer is their concatenation (= ``result.result``).
- ``I = 8 + len(prompt) // 4`` (:func:`base_input_tokens`), ``O = len(answer_pieces(...))``.
- :func:`expected_usage` gives each provider's native usage fields, :func:`expected_tokens`
  the (prompt, completion) totals per PROVIDERS.md, :func:`expected_cost_usd` claude's
  ``total_cost_usd``.
"""

from __future__ import annotations

import os
import sys
import time

if __package__:  # imported by the tests
    from tests.fakes.fake_cli_input import (
        STDIN_GAVE_UP_EXIT,
        StdinGaveUp,
        read_conversation,
        record,
    )
else:  # run by tests/fakes/bin/<provider>, with tests/fakes on sys.path
    from fake_cli_input import (  # type: ignore[no-redef,import-not-found]
        STDIN_GAVE_UP_EXIT,
        StdinGaveUp,
        read_conversation,
        record,
    )

PROVIDERS = ("claude", "codex", "gemini", "amp")
MODES = (
    "ok",
    "slow",
    "silent_start",
    "silent_mid",
    "crash_mid",
    "nonjson",
    "huge_line",
    "not_logged_in",
    "ignore_term",
    "grandchild",
    "stderr_flood",
    "linger",
    "clock",
    "retrying",
    "leak_stdout",
    "leak_error",
)
RETRY_EVERY_S = 0.2
LEAKED_KEY_VARS = {
    "claude": "ANTHROPIC_API_KEY",
    "codex": "CODEX_API_KEY",
    "gemini": "GEMINI_API_KEY",
    "amp": "AMP_API_KEY",
}
LEAK_LINE = "fatal: the API key {key} was refused by the server"
LEAK_ERROR = "API Error: 400 the request with x-api-key {key} was malformed"
LEAK_PROVIDERS = ("claude", "codex")

VERSIONS = {
    "claude": "2.1.197 (Claude Code)",
    "codex": "codex-cli 0.169.0",
    "gemini": "0.61.0",
    "amp": "0.0.1790142911",
}
DEFAULT_MODELS = {
    "claude": "claude-sonnet-4-5",
    "codex": "gpt-5",
    "gemini": "gemini-2.5-flash",
    "amp": "smart",
}

USAGE_EXIT_CODE = 2
LINGER_S = 1.0
CRASH_EXIT_CODE = 3
NOT_LOGGED_IN_EXIT_CODES = {"claude": 1, "codex": 1, "gemini": 41, "amp": 1}
SLEEP_FOREVER_S = 3600.0
DEFAULT_DELAY_MS = 200
CLOCK_DELAY_MS = 50
CLOCK_COUNT = 20
CLOCK_PROVIDERS = ("claude", "gemini")
PROMPT_ECHO_CHARS = 200
DIRECTIVE_PREFIX = "[fake:"
NOT_JSON_LINE = "this is not json"
CRASH_STDERR_LINE = "fake {provider}: simulated crash (crash_mid)"
HUGE_TEXT_CHARS = 2 * 1024 * 1024
STDERR_FLOOD_BYTES = 1024 * 1024
STDERR_FLOOD_LINE_BYTES = 1024

CLAUDE_CACHE_READ_TOKENS = 64
CLAUDE_CACHE_CREATION_TOKENS = 16
# USD per million tokens (Sonnet list prices): input, output, cache read, cache write.
CLAUDE_PRICES = (3.0, 15.0, 0.3, 3.75)
CODEX_CACHED_INPUT_TOKENS = 8
AMP_CACHE_READ_TOKENS_PER_STEP = 50
AMP_CACHE_CREATION_TOKENS = 10

CLAUDE_NOT_LOGGED_IN = "Not logged in · Please run /login"
CODEX_401 = (
    "unexpected status 401 Unauthorized: Missing bearer or basic authentication in header, "
    "url: https://api.openai.com/v1/responses"
)
CODEX_RETRIES = 5
GEMINI_NO_AUTH = (
    "Please set an Auth method in your {home}/.gemini/settings.json or specify one of the "
    "following environment variables before running: GEMINI_API_KEY, "
    "GOOGLE_GENAI_USE_VERTEXAI, GOOGLE_GENAI_USE_GCA"
)
AMP_NOT_LOGGED_IN = "Error: not logged in. Run `amp login` or set AMP_API_KEY."

Json = dict[str, object]


# -- The documented answer and usage --------------------------------------------------------


def answer_text(provider: str, prompt: str) -> str:
    """The fake's whole answer to ``prompt``."""
    return f"Hello from fake {provider}. You said: {prompt.strip()[:PROMPT_ECHO_CHARS]}"


def answer_pieces(provider: str, prompt: str) -> list[str]:
    """The answer cut before each space: claude's and gemini's token deltas, in order."""
    words = answer_text(provider, prompt).split(" ")
    return [words[0]] + [" " + word for word in words[1:]]


def amp_messages(prompt: str) -> list[str]:
    """The texts of amp's three assistant lines (their concatenation is the answer)."""
    pieces = answer_pieces("amp", prompt)
    return ["".join(pieces[:4]), "".join(pieces[4:6]), "".join(pieces[6:])]


def base_input_tokens(prompt: str) -> int:
    """``I``: the fake's uncached input tokens for ``prompt``."""
    return 8 + len(prompt) // 4


def output_tokens(provider: str, prompt: str) -> int:
    """``O``: one output token per answer piece."""
    return len(answer_pieces(provider, prompt))


def amp_message_usages(prompt: str) -> list[dict[str, int]]:
    """Anthropic usage on each amp assistant line (step k re-reads the context: I + k)."""
    base = base_input_tokens(prompt)
    pieces = answer_pieces("amp", prompt)
    sizes = [len(pieces[:4]), len(pieces[4:6]), len(pieces[6:])]
    return [
        {
            "input_tokens": base + step,
            "output_tokens": size,
            "cache_read_input_tokens": AMP_CACHE_READ_TOKENS_PER_STEP * step,
            "cache_creation_input_tokens": AMP_CACHE_CREATION_TOKENS if step == 0 else 0,
        }
        for step, size in enumerate(sizes)
    ]


def expected_usage(provider: str, prompt: str) -> dict[str, int]:
    """The provider-native usage fields the fake reports for ``prompt`` in ``ok`` mode.

    claude: ``result.usage``; codex: ``turn.completed.usage``; gemini: ``result.stats`` (its
    token fields); amp: the sum over its assistant lines (its result carries none).
    """
    base = base_input_tokens(prompt)
    out = output_tokens(provider, prompt)
    if provider == "claude":
        return {
            "input_tokens": base,
            "output_tokens": out,
            "cache_read_input_tokens": CLAUDE_CACHE_READ_TOKENS,
            "cache_creation_input_tokens": CLAUDE_CACHE_CREATION_TOKENS,
        }
    if provider == "codex":
        return {
            "input_tokens": base + CODEX_CACHED_INPUT_TOKENS,
            "cached_input_tokens": CODEX_CACHED_INPUT_TOKENS,
            "cache_write_input_tokens": 0,
            "output_tokens": out,
            "reasoning_output_tokens": 0,
        }
    if provider == "gemini":
        return {
            "input_tokens": base,
            "output_tokens": out,
            "total_tokens": base + out,
            "cached": 0,
            "input": base,
        }
    if provider == "amp":
        total: dict[str, int] = {}
        for usage in amp_message_usages(prompt):
            for key, value in usage.items():
                total[key] = total.get(key, 0) + value
        return total
    raise ValueError(f"unknown provider {provider!r}")


def expected_tokens(provider: str, prompt: str) -> tuple[int, int]:
    """(prompt tokens, completion tokens) as PROVIDERS.md counts them.

    claude and amp: input + cache_read + cache_creation (Anthropic's input excludes cached);
    codex: input_tokens (OpenAI's includes cached_input_tokens); gemini: input_tokens.
    """
    usage = expected_usage(provider, prompt)
    if provider in ("claude", "amp"):
        prompt_tokens = (
            usage["input_tokens"]
            + usage["cache_read_input_tokens"]
            + usage["cache_creation_input_tokens"]
        )
        return prompt_tokens, usage["output_tokens"]
    return usage["input_tokens"], usage["output_tokens"]


def expected_cost_usd(prompt: str) -> float:
    """claude's ``total_cost_usd`` for ``prompt``: :data:`CLAUDE_PRICES` per million tokens."""
    usage = expected_usage("claude", prompt)
    price_in, price_out, price_read, price_write = CLAUDE_PRICES
    cost = (
        usage["input_tokens"] * price_in
        + usage["output_tokens"] * price_out
        + usage["cache_read_input_tokens"] * price_read
        + usage["cache_creation_input_tokens"] * price_write
    ) / 1_000_000
    return round(cost, 8)


def huge_text() -> str:
    """The text of ``huge_line`` mode's one line: :data:`HUGE_TEXT_CHARS` ASCII characters."""
    block = "0123456789abcdef" * 64
    return block * (HUGE_TEXT_CHARS // len(block))


def parse_directive(prompt: str) -> str | None:
    """The MODE of the first ``[fake:MODE]`` in ``prompt``, or None."""
    start = prompt.find(DIRECTIVE_PREFIX)
    if start < 0:
        return None
    end = prompt.find("]", start)
    if end < 0:
        return None
    return prompt[start + len(DIRECTIVE_PREFIX) : end].strip()


# -- A JSON encoder that skips importing json (and re) -------------------------------------

try:
    from _json import encode_basestring as _quote
except ImportError:  # pragma: no cover - CPython always has _json
    from json.encoder import encode_basestring as _quote


def dumps(value: object) -> str:
    """Compact JSON (UTF-8 kept as is, like the real CLIs) for the types the fake emits."""
    if isinstance(value, str):
        return str(_quote(value))
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{_quote(k)}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(item) for item in value) + "]"
    raise TypeError(f"cannot encode {type(value).__name__}")


# -- Command line ---------------------------------------------------------------------------


def _option(args: list[str], *names: str) -> str | None:
    """The value of ``--name=value`` or ``--name value`` (last one wins)."""
    found = None
    for index, arg in enumerate(args):
        for name in names:
            if arg.startswith(name + "="):
                found = arg[len(name) + 1 :]
            elif arg == name and index + 1 < len(args):
                found = args[index + 1]
    return found


def _check_argv(provider: str, args: list[str]) -> str | None:
    """Why this command line would not run a headless stream-json completion, or None."""
    if provider == "claude":
        if "-p" not in args and "--print" not in args:
            return "Error: the fake claude only runs headless: pass -p (--print)"
        if _option(args, "--output-format") != "stream-json":
            return "Error: the fake claude needs --output-format=stream-json"
        if "--verbose" not in args:
            return "Error: When using --print, --output-format=stream-json requires --verbose"
    elif provider == "codex":
        if "exec" not in args and "e" not in args:
            return "error: the fake codex only runs `codex exec`"
        if "--json" not in args:
            return "error: the fake codex needs --json"
        if args[-1] != "-":
            return "error: the fake codex reads the prompt from stdin: end with `-`"
    elif provider == "gemini":
        if _option(args, "--output-format", "-o") != "stream-json":
            return "Error: the fake gemini needs --output-format=stream-json"
    elif provider == "amp":
        if "-x" not in args and "--execute" not in args:
            return "error: the fake amp only runs in execute mode: pass -x (--execute)"
        if "--stream-json" not in args:
            return "error: the fake amp needs --stream-json"
    return None


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise _Usage(f"fake: {name} must be an integer, got {raw!r}") from None


class _Usage(Exception):
    """A configuration error: message on stderr, exit 2."""


# -- Output ---------------------------------------------------------------------------------


def _write_line(text: str) -> None:
    out = sys.stdout.buffer
    out.write(text.encode("utf-8", "surrogateescape") + b"\n")
    out.flush()


def _stderr(text: str) -> None:
    err = sys.stderr.buffer
    err.write(text.encode("utf-8", "surrogateescape") + b"\n")
    err.flush()


def _write_pid(directory: str, name: str, pid: int) -> None:
    temporary = os.path.join(directory, f".{name}.{os.getpid()}.tmp")
    with open(temporary, "w", encoding="ascii") as handle:
        handle.write(f"{pid}\n")
    os.replace(temporary, os.path.join(directory, name))


def _new_id() -> str:
    raw = os.urandom(16).hex()
    return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"


def _timestamp() -> str:
    now = time.time()
    millis = int(now * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{millis:03d}Z"


# A script is the ok-mode output as (kind, line) pairs. Kinds: "start" (the first line),
# "frame" (structure around the answer), "delta" (an answer unit), "progress" (a non-text
# unit that counts as a delta for the *_mid modes), "end" (the terminal line).
Script = list[tuple[str, Json]]


class _Session:
    def __init__(self, provider: str, args: list[str], prompt: str) -> None:
        self.provider = provider
        self.args = args
        self.prompt = prompt
        self.model = _option(args, "--model", "-m") or DEFAULT_MODELS[provider]
        self.session_id = ("T-" if provider == "amp" else "") + _new_id()
        self.started = time.monotonic()

    def elapsed_ms(self) -> int:
        return int((time.monotonic() - self.started) * 1000)

    # claude ------------------------------------------------------------------------------

    def _claude_event(self, event: Json) -> Json:
        return {
            "type": "stream_event",
            "event": event,
            "session_id": self.session_id,
            "parent_tool_use_id": None,
            "uuid": _new_id(),
        }

    def _claude_init(self) -> Json:
        return {
            "type": "system",
            "subtype": "init",
            "cwd": os.getcwd(),
            "session_id": self.session_id,
            "tools": [],
            "mcp_servers": [],
            "model": self.model,
            "permissionMode": _option(self.args, "--permission-mode") or "default",
            "apiKeySource": "none",
            "claude_code_version": VERSIONS["claude"].split()[0],
            "output_style": "default",
            "uuid": _new_id(),
        }

    def _claude_ack(self) -> Json:
        """The no-op result claude writes once it took a history message in."""
        zero = {"input_tokens": 0, "output_tokens": 0}
        return {
            "type": "result",
            "subtype": "success",
            "is_error": False,
            "num_turns": 0,
            "result": "",
            "stop_reason": None,
            "session_id": self.session_id,
            "total_cost_usd": 0,
            "usage": zero,
            "uuid": _new_id(),
        }

    def _claude_result(self, text: str, usage: dict[str, int], *, error: bool = False) -> Json:
        cost = 0.0 if error else expected_cost_usd(self.prompt)
        return {
            "type": "result",
            "subtype": "success",
            "is_error": error,
            "duration_ms": self.elapsed_ms(),
            "duration_api_ms": 0 if error else self.elapsed_ms(),
            "num_turns": 1,
            "result": text,
            "stop_reason": None if error else "end_turn",
            "session_id": self.session_id,
            "total_cost_usd": cost,
            "usage": {
                "input_tokens": usage.get("input_tokens", 0),
                "cache_creation_input_tokens": usage.get("cache_creation_input_tokens", 0),
                "cache_read_input_tokens": usage.get("cache_read_input_tokens", 0),
                "output_tokens": usage.get("output_tokens", 0),
                "service_tier": "standard",
            },
            "modelUsage": {},
            "permission_denials": [],
            "uuid": _new_id(),
        }

    def _claude_script(self, text: str, units: list[str]) -> Script:
        usage = expected_usage("claude", self.prompt)
        start_usage = {
            "input_tokens": usage["input_tokens"],
            "cache_read_input_tokens": usage["cache_read_input_tokens"],
            "cache_creation_input_tokens": usage["cache_creation_input_tokens"],
            "output_tokens": 1,
        }
        message: Json = {
            "id": "msg_fake_1",
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [{"type": "text", "text": text}],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": start_usage,
        }
        assistant: Json = {
            "type": "assistant",
            "message": message,
            "parent_tool_use_id": None,
            "session_id": self.session_id,
            "uuid": _new_id(),
        }
        status: Json = {
            "type": "system",
            "subtype": "status",
            "status": "requesting",
            "uuid": _new_id(),
            "session_id": self.session_id,
        }
        script: Script = [("start", self._claude_init()), ("frame", status)]
        if "--include-partial-messages" not in self.args:
            script.append(("delta", assistant))
        else:
            started = dict(message, content=[])
            script.append(
                ("frame", self._claude_event({"type": "message_start", "message": started}))
            )
            block = {"type": "text", "text": ""}
            script.append(
                (
                    "frame",
                    self._claude_event(
                        {"type": "content_block_start", "index": 0, "content_block": block}
                    ),
                )
            )
            for unit in units:
                delta = {"type": "text_delta", "text": unit}
                event = {"type": "content_block_delta", "index": 0, "delta": delta}
                script.append(("delta", self._claude_event(event)))
            script.append(("frame", assistant))
            script.append(("frame", self._claude_event({"type": "content_block_stop", "index": 0})))
            stop: Json = {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": usage["output_tokens"]},
            }
            script.append(("frame", self._claude_event(stop)))
            script.append(("frame", self._claude_event({"type": "message_stop"})))
        script.append(("end", self._claude_result(text, usage)))
        return script

    # codex -------------------------------------------------------------------------------

    def _codex_script(self, text: str, units: list[str]) -> Script:
        del units
        reasoning = {"id": "item_0", "type": "reasoning", "text": "**Replying** to the prompt"}
        message = {"id": "item_1", "type": "agent_message", "text": text}
        return [
            ("start", {"type": "thread.started", "thread_id": _new_id()}),
            ("frame", {"type": "turn.started"}),
            ("progress", {"type": "item.completed", "item": reasoning}),
            ("delta", {"type": "item.completed", "item": message}),
            ("end", {"type": "turn.completed", "usage": expected_usage("codex", self.prompt)}),
        ]

    # gemini ------------------------------------------------------------------------------

    def _gemini_script(self, text: str, units: list[str]) -> Script:
        del text
        usage = expected_usage("gemini", self.prompt)
        stats: Json = dict(usage)
        stats.update(duration_ms=0, tool_calls=0, models={self.model: dict(usage)})
        script: Script = [
            (
                "start",
                {
                    "type": "init",
                    "timestamp": _timestamp(),
                    "session_id": self.session_id,
                    "model": self.model,
                },
            ),
            (
                "frame",
                {
                    "type": "message",
                    "timestamp": _timestamp(),
                    "role": "user",
                    "content": self.prompt,
                },
            ),
        ]
        for unit in units:
            line: Json = {
                "type": "message",
                "timestamp": _timestamp(),
                "role": "assistant",
                "content": unit,
                "delta": True,
            }
            script.append(("delta", line))
        result: Json = {"type": "result", "timestamp": _timestamp(), "status": "success"}
        result["stats"] = stats
        script.append(("end", result))
        return script

    # amp ---------------------------------------------------------------------------------

    def _amp_script(self, text: str, units: list[str]) -> Script:
        usages = amp_message_usages(self.prompt)
        if len(units) != len(usages):  # huge_line: one message carrying the summed usage
            usages = [expected_usage("amp", self.prompt)]
        init: Json = {
            "type": "system",
            "subtype": "init",
            "cwd": os.getcwd(),
            "session_id": self.session_id,
            "tools": [],
            "mcp_servers": [],
        }
        script: Script = [("start", init)]
        for index, (unit, usage) in enumerate(zip(units, usages, strict=True)):
            message: Json = {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "text", "text": unit}],
                "stop_reason": "end_turn" if index == len(units) - 1 else None,
                "usage": usage,
            }
            line: Json = {
                "type": "assistant",
                "message": message,
                "parent_tool_use_id": None,
                "session_id": self.session_id,
            }
            script.append(("delta", line))
        result: Json = {
            "type": "result",
            "subtype": "success",
            "is_error": False,
            "duration_ms": self.elapsed_ms(),
            "num_turns": 1,
            "result": text,
            "session_id": self.session_id,
        }
        script.append(("end", result))
        return script

    def script(self, text: str, units: list[str]) -> Script:
        builder = {
            "claude": self._claude_script,
            "codex": self._codex_script,
            "gemini": self._gemini_script,
            "amp": self._amp_script,
        }[self.provider]
        return builder(text, units)

    def ok_script(self) -> Script:
        text = answer_text(self.provider, self.prompt)
        units = amp_messages(self.prompt) if self.provider == "amp" else []
        if self.provider in ("claude", "gemini"):
            units = answer_pieces(self.provider, self.prompt)
        return self.script(text, units)


def _emit(line: Json) -> None:
    _write_line(dumps(line))


def _play(script: Script, *, delay_s: float = 0.0, stop_after_units: int | None = None) -> bool:
    """Print ``script``; True when it ran to its end, False when it stopped after N units."""
    units = 0
    for kind, line in script:
        is_unit = kind in ("delta", "progress")
        if is_unit and units and delay_s:
            time.sleep(delay_s)
        _emit(line)
        if is_unit:
            units += 1
            if stop_after_units is not None and units >= stop_after_units:
                return False
    return True


def _play_clock(session: _Session, count: int, delay_s: float) -> None:
    """``clock`` mode: each delta's text is the monotonic clock just before it is written.

    The script is built once with a placeholder per delta; a delta line gets its stamps
    at the last moment, and the later lines (whole message, result) the same stamps.
    """
    slots = [f"@clock{index}@" for index in range(count)]
    stamps: dict[str, str] = {}
    deltas = 0
    for kind, line in session.script("".join(slots), slots):
        text = dumps(line)
        if kind == "delta":
            if deltas and delay_s:
                time.sleep(delay_s)
            deltas += 1
            fresh = [slot for slot in slots if slot not in stamps and slot in text]
            stamp = f"{time.monotonic_ns()} "
            stamps.update(dict.fromkeys(fresh, stamp))
        for slot, stamp in stamps.items():
            text = text.replace(slot, stamp)
        _write_line(text)


def _sleep_forever() -> None:
    time.sleep(SLEEP_FOREVER_S)


def _not_logged_in(session: _Session) -> int:
    """The signed-out run. claude: init, then an is_error result "Not logged in · Please run
    /login", exit 1. codex: thread.started, turn.started, five top-level "Reconnecting... n/5
    (<401>)" errors, the 401 error, turn.failed, exit 1 (no real waiting). gemini: "Please set
    an Auth method..." on stderr, no stdout, exit 41. amp: "Error: not logged in. Run `amp
    login` or set AMP_API_KEY." on stderr, exit 1 (wording as quoted by third-party tests).
    """
    provider = session.provider
    if provider == "claude":
        _emit(session._claude_init())
        _emit(session._claude_result(CLAUDE_NOT_LOGGED_IN, {}, error=True))
    elif provider == "codex":
        _emit({"type": "thread.started", "thread_id": _new_id()})
        _emit({"type": "turn.started"})
        for attempt in range(1, CODEX_RETRIES + 1):
            _emit(
                {
                    "type": "error",
                    "message": f"Reconnecting... {attempt}/{CODEX_RETRIES} ({CODEX_401})",
                }
            )
        _emit({"type": "error", "message": CODEX_401})
        _emit({"type": "turn.failed", "error": {"message": CODEX_401}})
    elif provider == "gemini":
        _stderr(GEMINI_NO_AUTH.format(home=os.environ.get("HOME", "~")))
    else:
        _stderr(AMP_NOT_LOGGED_IN)
    return NOT_LOGGED_IN_EXIT_CODES[provider]


def _leak(session: _Session, mode: str) -> int:
    """A CLI that prints its API key: on stdout as a line that is not JSON, or inside an
    error result (and on stderr)."""
    provider = session.provider
    key = os.environ.get(LEAKED_KEY_VARS[provider], "")
    if mode == "leak_stdout":
        _emit(session.ok_script()[0][1])
        _write_line(LEAK_LINE.format(key=key))
        return 1
    if provider not in LEAK_PROVIDERS:
        _stderr(f"fake {provider}: leak_error mode is claude's and codex's")
        return USAGE_EXIT_CODE
    said = LEAK_ERROR.format(key=key)
    _stderr(said)
    if provider == "claude":
        _emit(session._claude_init())
        _emit(session._claude_result(said, {}, error=True))
    else:
        _emit({"type": "thread.started", "thread_id": _new_id()})
        _emit({"type": "turn.started"})
        _emit({"type": "error", "message": said})
        _emit({"type": "turn.failed", "error": {"message": said}})
    return 1


def _start_grandchild(pid_dir: str | None) -> None:
    import subprocess

    quiet = os.environ.get("FAKE_CLI_GRANDCHILD_STDIO", "inherit") == "devnull"
    stdio = subprocess.DEVNULL if quiet else None
    child = subprocess.Popen(
        [sys.executable, "-S", "-c", "import time; time.sleep(3600)"],
        stdin=subprocess.DEVNULL,
        stdout=stdio,
        stderr=stdio,
    )
    if pid_dir:
        _write_pid(pid_dir, "grandchild", child.pid)


def _flood_stderr(provider: str) -> None:
    lines = STDERR_FLOOD_BYTES // STDERR_FLOOD_LINE_BYTES
    err = sys.stderr.buffer
    for number in range(lines):
        head = f"fake {provider}: stderr flood line {number + 1}/{lines} "
        err.write(head.ljust(STDERR_FLOOD_LINE_BYTES - 1, ".").encode() + b"\n")
    err.flush()


def _ignore_term() -> None:
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _run(provider: str, args: list[str]) -> int:
    if "--version" in args or (provider == "codex" and "-V" in args) or args == ["-v"]:
        _write_line(VERSIONS[provider])
        return 0
    env_mode = os.environ.get("FAKE_CLI_MODE", "") or "ok"
    if env_mode not in MODES:
        raise _Usage(
            f"fake {provider}: unknown FAKE_CLI_MODE {env_mode!r} (known: {', '.join(MODES)})"
        )
    if provider == "codex" and args[:2] == ["debug", "models"]:
        # The model catalog a driver's probe reads: one model with a tool of its own.
        _write_line('{"models":[{"slug":"gpt-5","apply_patch_tool_type":"freeform"}]}')
        return 0
    if provider == "codex" and args[:2] == ["login", "status"]:
        if env_mode == "not_logged_in":
            _stderr("Not logged in")
            return 1
        _stderr("Logged in using an API key - sk-fake-***0000")
        return 0
    if env_mode == "ignore_term":
        _ignore_term()
    pid_dir = os.environ.get("FAKE_CLI_PID_DIR") or None
    if pid_dir:
        _write_pid(pid_dir, "leader", os.getpid())
    problem = _check_argv(provider, args)
    if problem:
        _stderr(problem)
        return USAGE_EXIT_CODE
    startup_ms = _env_int("FAKE_CLI_STARTUP_MS", 0)
    delay_ms = _env_int("FAKE_CLI_DELAY_MS", DEFAULT_DELAY_MS)
    if startup_ms > 0:
        time.sleep(startup_ms / 1000)

    if provider == "codex":
        _stderr("Reading additional input from stdin...")
    session = _Session(provider, args, "")

    def acknowledge() -> None:
        _emit(session._claude_init())
        _emit(session._claude_ack())

    try:
        received = read_conversation(provider, args, _emit, acknowledge)
    except (StdinGaveUp, FileNotFoundError) as problem:
        _stderr(str(problem))
        return STDIN_GAVE_UP_EXIT
    record(provider, received, args)
    session.prompt = prompt = received.prompt
    said = " ".join([received.system or "", *(text for _, text in received.turns), prompt])
    mode = parse_directive(said) or env_mode
    if mode not in MODES:
        raise _Usage(
            f"fake {provider}: unknown mode {mode!r} in the prompt (known: {', '.join(MODES)})"
        )

    if mode == "silent_start":
        _sleep_forever()
        return 0
    if mode == "not_logged_in":
        return _not_logged_in(session)
    if mode == "ignore_term":
        _ignore_term()
        _emit(session.ok_script()[0][1])
        _sleep_forever()
        return 0
    if mode == "grandchild":
        _start_grandchild(pid_dir)
    if mode == "stderr_flood":
        _flood_stderr(provider)

    if mode == "retrying":
        if provider != "claude":
            _stderr(f"fake {provider}: retrying mode is claude's api_retry")
            return USAGE_EXIT_CODE
        _emit(session.ok_script()[0][1])
        for attempt in range(1, 1_000_000):
            _emit(
                {
                    "type": "system",
                    "subtype": "api_retry",
                    "attempt": attempt,
                    "max_retries": 10,
                    "retry_delay_ms": 200,
                    "error_status": None,
                    "error": "Connection error.",
                }
            )
            time.sleep(RETRY_EVERY_S)
        return 0

    if mode in ("leak_stdout", "leak_error"):
        return _leak(session, mode)

    if mode == "clock":
        if provider not in CLOCK_PROVIDERS:
            _stderr(f"fake {provider}: clock mode needs token deltas (claude or gemini)")
            return USAGE_EXIT_CODE
        count = _env_int("FAKE_CLI_CLOCK_COUNT", CLOCK_COUNT)
        _play_clock(session, count, _env_int("FAKE_CLI_DELAY_MS", CLOCK_DELAY_MS) / 1000)
        return 0

    script = session.ok_script()
    if mode in ("silent_mid", "crash_mid"):
        _play(script, stop_after_units=2)
        if mode == "silent_mid":
            _sleep_forever()
            return 0
        _stderr(CRASH_STDERR_LINE.format(provider=provider))
        sys.stdout.flush()
        os._exit(CRASH_EXIT_CODE)
    if mode == "nonjson":
        _emit(script[0][1])
        _write_line(NOT_JSON_LINE)
        _play(script[1:])
        return 0
    if mode == "huge_line":
        text = huge_text()
        kept = ("start", "delta", "end")
        _play([item for item in session.script(text, [text]) if item[0] in kept])
        return 0
    _play(script, delay_s=delay_ms / 1000 if mode == "slow" else 0.0)
    if mode == "linger":
        sys.stdout.flush()
        time.sleep(LINGER_S)
    if _option(args, "--input-format") == "stream-json":
        sys.stdout.flush()
        sys.stdin.buffer.read()  # claude's input loop ends when stdin does
    return 0


def main(provider: str, argv: list[str]) -> int:
    """Run the fake ``provider`` CLI with ``argv`` (without the program name); the exit code."""
    if provider not in PROVIDERS:
        _stderr(f"fake: unknown provider {provider!r}")
        return USAGE_EXIT_CODE
    try:
        return _run(provider, list(argv))
    except _Usage as problem:
        _stderr(str(problem))
        return USAGE_EXIT_CODE
    except BrokenPipeError:
        # The reader went away: leave quietly, without Python's flush-at-exit complaint.
        os._exit(1)
