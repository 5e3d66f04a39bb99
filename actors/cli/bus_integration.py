"""``bus-integration-inference``: the contract command of BUS.md §5.

Results go to stdout, diagnostics to stderr. Exit 0 on success, 1 on failure (an
invalid payload, a failed self-test), 2 on a usage error. ``--validate`` reads at most
the Bus envelope limit (1 MiB, what the Events API would take): a larger input is an
invalid payload, answered without reading it to its end. No credentials are needed:
every mode is answered from :mod:`contracts` alone.

    $ bus-integration-inference --events --format json
    {"provider_neutral":true,"providers":["ollama"],"events":[...],"direct_bootstrap":true}
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import msgspec

from actors.cli.common import EXIT_FAILED, EXIT_OK, CommandParser
from contracts import __version__
from contracts.events import MAX_ENVELOPE_BYTES
from contracts.inference import (
    EVENT_NAMES,
    PROVIDERS,
    Invalid,
    encode_payload,
    event_help,
    self_test,
    validate,
)

__all__ = ["PROG", "main"]

PROG = "bus-integration-inference"


class _Summary(msgspec.Struct):
    provider_neutral: bool
    providers: list[str]
    events: list[str]
    direct_bootstrap: bool


class _Refusal(msgspec.Struct):
    ok: bool
    error_class: str
    diagnostics: list[str]


def _parser() -> CommandParser:
    parser = CommandParser(
        prog=PROG,
        description="The provider-neutral bus.inference contract: its events, their rules,"
        " and a validator. Needs no credentials.",
    )
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--version", action="store_true", help="print the version")
    mode.add_argument("--events", action="store_true", help="list the eight event names")
    mode.add_argument("--self-test", action="store_true", help="run the contract's own checks")
    mode.add_argument(
        "--validate",
        nargs="+",
        metavar="ARG",
        help="EVENT_NAME [FILE|-]: validate a payload (default: stdin); print it normalized",
    )
    mode.add_argument("--event-help", metavar="EVENT_NAME", help="fields and rules of one event")
    parser.add_argument(
        "--format", choices=["text", "json"], help="with --events: text (default) or json"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit code (the console script exits with it)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.format is not None and not args.events:
        parser.error("--format goes with --events")
    if args.version:
        print(f"{PROG} {__version__}")
        return EXIT_OK
    if args.events:
        return _events(args.format or "text")
    if args.self_test:
        return _self_test()
    if args.event_help is not None:
        return _event_help(parser, args.event_help)
    return _validate(parser, args.validate)


def _events(fmt: str) -> int:
    if fmt == "json":
        summary = _Summary(True, list(PROVIDERS), list(EVENT_NAMES), True)
        sys.stdout.write(msgspec.json.encode(summary).decode() + "\n")
    else:
        sys.stdout.write("".join(f"{name}\n" for name in EVENT_NAMES))
    return EXIT_OK


def _self_test() -> int:
    failures = self_test()
    for failure in failures:
        print(f"{PROG}: self-test: {failure}", file=sys.stderr)
    if failures:
        return EXIT_FAILED
    print(f"OK {PROG} self-test")
    return EXIT_OK


def _known_event(parser: CommandParser, name: str) -> None:
    if name not in EVENT_NAMES:
        parser.error(f"unknown event {name!r}; one of: {', '.join(EVENT_NAMES)}")


def _event_help(parser: CommandParser, name: str) -> int:
    _known_event(parser, name)
    print(event_help(name))
    return EXIT_OK


def _validate(parser: CommandParser, values: list[str]) -> int:
    if len(values) > 2:
        parser.error("--validate takes EVENT_NAME and at most one FILE")
    name, source = values[0], values[1] if len(values) == 2 else "-"
    _known_event(parser, name)
    try:
        data = _read_at_most(source, MAX_ENVELOPE_BYTES)
    except OSError as error:
        print(f"{PROG}: cannot read {source}: {error.strerror}", file=sys.stderr)
        return EXIT_FAILED
    if data is None:
        message = f"the payload is larger than {MAX_ENVELOPE_BYTES} bytes, the Bus envelope limit"
        refusal = _Refusal(False, "bad_request", [f"payload_too_large: {message}"])
        sys.stdout.write(msgspec.json.encode(refusal).decode() + "\n")
        return EXIT_FAILED
    result = validate(name, data)
    if isinstance(result, Invalid):
        refusal = _Refusal(False, result.error_class, list(result.diagnostics))
        sys.stdout.write(msgspec.json.encode(refusal).decode() + "\n")
        return EXIT_FAILED
    sys.stdout.write(encode_payload(result).decode() + "\n")
    return EXIT_OK


def _read_at_most(source: str, limit: int) -> bytes | None:
    """The bytes of ``source`` (``-``: stdin), or None once it holds more than ``limit``:
    no more than ``limit + 1`` bytes are ever read, so ``/dev/zero`` or an endless pipe
    ends at once rather than in a MemoryError."""
    if source == "-":
        data = sys.stdin.buffer.read(limit + 1)
    else:
        with Path(source).open("rb") as file:
            data = file.read(limit + 1)
    return None if len(data) > limit else data


if __name__ == "__main__":
    sys.exit(main())
