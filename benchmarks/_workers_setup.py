"""What ``benchmarks/workers.py`` runs per CLI: the real codex or gemini, its fake upstream
in a process of its own, the provider settings of each mode, and the operator HOME.

- codex: ``codex exec`` (spawn) or ``codex app-server`` (worker) against the fake OpenAI
  Responses API (``tests/fakes/fake_openai_responses.py``), through a ``--config`` model
  provider whose key is ``FAKE_KEY``.
- gemini: ``gemini`` (spawn) or ``gemini --acp`` (worker) against the fake Gemini API
  (``tests/fakes/fake_gemini.py``) through ``GOOGLE_GEMINI_BASE_URL`` and
  ``GEMINI_API_KEY``; the operator HOME holds ``.gemini/settings.json`` (API-key login,
  usage statistics off, so nothing leaves 127.0.0.1) and the sessions run with
  ``isolate_home`` (as ``tests/real_cli/test_gemini.py`` runs it).

Every CLI process carries the run's marker variable, so leftovers are found by it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

from benchmarks._endpoint_common import MARK_VARIABLE
from contracts.config import ProviderSettings

__all__ = ["ANSWER", "BIN", "CLIS", "Cli", "Mode", "environ", "fake_upstream", "version"]

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(os.environ.get("ASM_REAL_CLI_BIN") or ROOT / ".cache/real-clis/node_modules/.bin")
ANSWER = "Bonne nuit"
_PATH = f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin"
_GEMINI_KEY = "fake-gemini-key-0123456789"
_GEMINI_SETTINGS = {
    "security": {"auth": {"selectedType": "gemini-api-key"}},
    "privacy": {"usageStatisticsEnabled": False},
}

Mode = Literal["spawn", "worker"]

# Each fake prints its URL, then serves until its stdin closes; argv[1] is the answer.
_FAKE_RESPONSES = (
    "import sys\n"
    "from tests.fakes.fake_openai_responses import FakeResponses, Script\n"
    "with FakeResponses(Script(answer=sys.argv[1], chunks=3)) as fake:\n"
    "    print(fake.url, flush=True)\n"
    "    sys.stdin.read()\n"
)
_FAKE_GEMINI = (
    "import sys\n"
    "from tests.fakes.fake_gemini import FakeGemini, GeminiScript\n"
    "words = sys.argv[1].split(' ')\n"
    "chunks = tuple(words[:1] + [' ' + word for word in words[1:]])\n"
    "with FakeGemini(GeminiScript(chunks=chunks)) as fake:\n"
    "    print(fake.url, flush=True)\n"
    "    sys.stdin.read()\n"
)


def _codex(url: str, mode: Mode, workers: int, mark: str) -> ProviderSettings:
    fake_provider = (
        "--config=model_provider=fake",
        '--config=model_providers.fake.name="fake"',
        f'--config=model_providers.fake.base_url="{url}"',
        '--config=model_providers.fake.wire_api="responses"',
        '--config=model_providers.fake.env_key="FAKE_KEY"',
    )
    return ProviderSettings(
        executable=str(BIN / "codex"),
        extra_args=fake_provider,
        env={"FAKE_KEY": "sk-fake", MARK_VARIABLE: mark},
        pool_size=0,
        mode=mode,  # explicit: worker is codex's default
        workers=workers,
    )


def _gemini(url: str, mode: Mode, workers: int, mark: str) -> ProviderSettings:
    return ProviderSettings(
        executable=str(BIN / "gemini"),
        env={"GEMINI_API_KEY": _GEMINI_KEY, "GOOGLE_GEMINI_BASE_URL": url, MARK_VARIABLE: mark},
        isolate_home=True,
        pool_size=0,
        mode=mode,
        workers=workers,
    )


def _gemini_home(home: Path) -> None:
    (home / ".gemini").mkdir(parents=True, exist_ok=True)
    (home / ".gemini" / "settings.json").write_text(json.dumps(_GEMINI_SETTINGS))


@dataclasses.dataclass(frozen=True)
class Cli:
    """One CLI under test: its provider id, model, fake upstream and settings."""

    name: str  # the provider id: "codex", "gemini"
    model: str
    upstream: str  # what the fake serves, for the title
    fake: str  # Python source of the fake upstream process
    settings: Callable[[str, Mode, int, str], ProviderSettings]  # (url, mode, workers, mark)
    prepare_home: Callable[[Path], None] = lambda home: None

    @property
    def executable(self) -> Path:
        return BIN / self.name


CLIS: dict[str, Cli] = {
    "codex": Cli("codex", "gpt-5.5", "fake Responses API", _FAKE_RESPONSES, _codex),
    "gemini": Cli(
        "gemini", "gemini-2.5-flash", "fake Gemini API", _FAKE_GEMINI, _gemini, _gemini_home
    ),
}


def environ(cli: Cli, home: Path, mark: str) -> dict[str, str]:
    """The operator environment of one round: a fresh HOME (and TMPDIR inside it)."""
    cli.prepare_home(home)
    tmp = home / "tmp"
    tmp.mkdir(exist_ok=True)
    return {
        "PATH": _PATH,
        "HOME": str(home),
        "TMPDIR": str(tmp),
        "LANG": "C.UTF-8",
        MARK_VARIABLE: mark,
    }


@contextlib.contextmanager
def fake_upstream(cli: Cli, mark: str) -> Iterator[tuple[str, int]]:
    """``cli``'s fake upstream in a process of its own: (its URL, its pid)."""
    process = subprocess.Popen(
        [sys.executable, "-c", cli.fake, ANSWER],
        cwd=ROOT,
        env={**os.environ, MARK_VARIABLE: mark},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url:
            raise RuntimeError(f"{cli.upstream} did not start (exit {process.wait()})")
        yield url, process.pid
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        assert process.stdout is not None
        process.stdout.close()


def version(cli: Cli) -> str:
    """``codex-cli 0.x`` / ``gemini 0.61.0``: what ``--version`` prints."""
    try:
        with tempfile.TemporaryDirectory(prefix="asm-bench-version-") as home:
            done = subprocess.run(
                [str(cli.executable), "--version"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
                env={"PATH": _PATH, "HOME": home, "LANG": "C.UTF-8"},
            )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"{cli.name} (version unknown: {error})"
    printed = done.stdout.strip().splitlines()
    if not printed:
        return f"{cli.name} (version unknown)"
    return printed[-1] if printed[-1].startswith(cli.name) else f"{cli.name} {printed[-1]}"
