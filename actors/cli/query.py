"""``asm query``: run one completion directly through a supervised CLI session (SPEC §7).

    asm query --provider claude --model claude-sonnet-4-5 --stream "Say hi"
    echo "Say hi" | asm query --provider codex --model gpt-5 -

The text goes to stdout (as it arrives with ``--stream``); a failure goes to stderr as
``asm query: <kind>: <message>`` with exit 1. The configuration is ``--config``, else
``./asm.toml`` when present, else the defaults.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import trio

from actors.cli.common import EXIT_FAILED, EXIT_OK, add_config_option
from actors.serving import load_config
from actors.sessions import UnknownProvider
from actors.system import SessionFailed, open_system
from contracts.config import Config, ConfigError
from contracts.openai import PromptError
from contracts.providers import PROFILES
from contracts.session import Failed, Message, TextDelta

__all__ = ["add_query_parser", "run_query"]


def add_query_parser(commands: argparse._SubParsersAction[Any]) -> None:
    """Register ``asm query`` on the ``asm`` subcommand parser."""
    query = commands.add_parser("query", help="run one completion through a provider CLI")
    query.add_argument("--provider", required=True, choices=list(PROFILES))
    query.add_argument("--model", required=True)
    query.add_argument("--stream", action="store_true", help="print text as it arrives")
    add_config_option(query)
    query.add_argument("prompt", help="the prompt, or - to read it from stdin")


def run_query(args: argparse.Namespace) -> int:
    """Run ``asm query`` with parsed ``args``; returns the exit code."""
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"asm query: {exc}", file=sys.stderr)
        return EXIT_FAILED
    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    try:
        return trio.run(_query, config, args.provider, args.model, prompt, args.stream)
    except (PromptError, UnknownProvider) as exc:
        print(f"asm query: {exc}", file=sys.stderr)
        return EXIT_FAILED


async def _query(config: Config, provider: str, model: str, prompt: str, stream: bool) -> int:
    async with open_system(config, bind=None) as system:
        if not stream:
            try:
                completion = await system.query(provider, model, prompt)
            except SessionFailed as exc:
                return _failed(exc.failed)
            print(completion.text)
            return EXIT_OK
        async with system.stream(provider, model, prompt) as events:
            async for event in events:
                if isinstance(event, TextDelta | Message):
                    sys.stdout.write(event.text)
                    sys.stdout.flush()
                elif isinstance(event, Failed):
                    print(file=sys.stdout)
                    return _failed(event)
        print()
        return EXIT_OK


def _failed(failed: Failed) -> int:
    print(f"asm query: {failed.kind}: {failed.message}", file=sys.stderr)
    return EXIT_FAILED
