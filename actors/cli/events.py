"""``asm events send|listen``: a Bus Events API from a shell (SPEC §7, BUS.md §2).

    export BUS_EVENTS_API_BASE_URL=http://127.0.0.1:8787
    export BUS_EVENTS_TOKEN=$(asm token issue --subject me --scope "events:send events:listen")
    asm events send --name jobs.created --payload '{"id": 7}'
    asm events listen --name 'jobs.*' --replay --no-follow

The server is ``$BUS_EVENTS_API_BASE_URL`` (without ``/api/v1/events``), the token
``$BUS_API_TOKEN``, else ``$BUS_EVENTS_TOKEN``: never a command-line argument, where
other users could read it. A missing variable is a usage error (exit 2).

``send`` prints the receipt as one line of JSON. ``listen`` prints one event per line
as the server sends it (flushed each), and follows until interrupted: SIGINT or
SIGTERM ends it with 128 + the signal's number (130 for Ctrl-C), as a shell reports an
interrupted command. A lost connection is reconnected (a note on stderr) and resumes
after the last event printed; a server unreachable at the start is a failure. A reader
that goes away (``| head -1``) ends it quietly with 0. Server errors print the
server's error type and message on stderr, exit 1.

A broadcast listen without ``--replay`` starts 60 s back (BUS.md §2.2), so an event
sent earlier is not shown: when such a listen ends with nothing printed, or has printed
nothing after 10 s of following, one note on stderr says so and
names ``--replay``.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Final

import msgspec
import trio

from actors.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from actors.cli.events_client import (
    BASE_URL_ENV,
    TOKEN_ENVS,
    UsageError,
    auth_hint,
    client_from_environ,
    notes_on_stderr,
    until_signalled,
)
from contracts.events import MAX_JSON_DEPTH, ListenQuery, event_line
from transport.events import EventsClient, EventsError

__all__ = ["add_events_parser", "run_events"]

_IDLE_NOTE_SECONDS: Final = 10.0


def add_events_parser(commands: argparse._SubParsersAction[Any]) -> None:
    """Register ``asm events send|listen`` on the ``asm`` subcommand parser."""
    environment = (
        f"The server is ${BASE_URL_ENV}; the token ${TOKEN_ENVS[0]}, else ${TOKEN_ENVS[1]}."
    )
    events = commands.add_parser("events", help="publish and listen on a Bus Events API")
    actions = events.add_subparsers(dest="events_action", required=True, metavar="ACTION")
    send = actions.add_parser(
        "send", help="publish one event; prints its receipt", description=environment
    )
    send.add_argument("--name", required=True, help="the event name, e.g. jobs.created")
    send.add_argument("--payload", required=True, type=_json, help="the payload, as JSON")
    send.add_argument("--correlation-id", default=None, help="the correlation id")
    listen = actions.add_parser(
        "listen", help="print events as they come, one JSON per line", description=environment
    )
    listen.add_argument("--name", required=True, help="an event name, or a prefix ending in .*")
    listen.add_argument("--delivery", choices=("broadcast", "unicast"), default="broadcast")
    listen.add_argument("--group", default=None, help="unicast group (default: default)")
    listen.add_argument("--consumer", default=None, help="unicast consumer (default: default)")
    listen.add_argument("--correlation-id", default=None, help="only events with this id")
    listen.add_argument("--replay", action="store_true", help="start at the oldest retained event")
    listen.add_argument(
        "--no-follow", action="store_true", help="stop once the events so far are printed"
    )


def run_events(args: argparse.Namespace) -> int:
    """Run ``asm events <action>`` with parsed ``args``; returns the exit code."""
    action: str = args.events_action
    try:
        if action == "send":
            return trio.run(_send, client_from_environ(os.environ), args)
        query = _listen_query(args)
        client = client_from_environ(os.environ)
        with notes_on_stderr(f"asm events {action}"):
            return trio.run(until_signalled, lambda: _listen(client, query))
    except UsageError as error:
        print(f"asm events {action}: {error}", file=sys.stderr)
        return EXIT_USAGE
    except EventsError as error:
        print(f"asm events {action}: {error}{auth_hint(error)}", file=sys.stderr)
        return EXIT_FAILED


def _listen_query(args: argparse.Namespace) -> ListenQuery:
    if args.delivery != "unicast" and (args.group or args.consumer):
        raise UsageError("--group and --consumer need --delivery unicast")
    return ListenQuery(
        pattern=args.name,
        delivery=args.delivery,
        group=args.group or "default",
        consumer=args.consumer or "default",
        replay=args.replay,
        follow=not args.no_follow,
        correlation_id=args.correlation_id,
    )


async def _send(client: EventsClient, args: argparse.Namespace) -> int:
    async with client:
        receipt = await client.publish(args.name, args.payload, correlation_id=args.correlation_id)
    print(msgspec.json.encode(receipt).decode(), flush=True)
    return EXIT_OK


async def _listen(client: EventsClient, query: ListenQuery) -> int:
    printed = [0]
    note = _window_note(query)
    failure: EventsError | None = None
    code = EXIT_OK
    async with trio.open_nursery() as nursery:
        if note is not None and query.follow:

            async def idle_note() -> None:
                await trio.sleep(_IDLE_NOTE_SECONDS)
                if not printed[0]:
                    print(f"asm events listen: nothing yet; {note}", file=sys.stderr, flush=True)

            nursery.start_soon(idle_note)
        try:
            code = await _print_events(client, query, printed)
        except EventsError as error:  # raised after the nursery, not in its group
            failure = error
        nursery.cancel_scope.cancel()
    if failure is not None:
        raise failure
    if note is not None and not printed[0]:
        print(f"asm events listen: no events; {note}", file=sys.stderr, flush=True)
    return code


async def _print_events(client: EventsClient, query: ListenQuery, printed: list[int]) -> int:
    out = sys.stdout.buffer
    async with client, client.stream(query, wait_for_server=False) as events:
        async for event in events:
            try:
                out.write(event_line(event))  # one line, whatever its strings hold
                out.flush()
            except BrokenPipeError:
                # The reader is gone: stop quietly, and keep the interpreter's own flush
                # at exit from failing on the same pipe.
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                printed[0] += 1  # the reader saw events: no note
                return EXIT_OK
            printed[0] += 1
    return EXIT_OK


def _window_note(query: ListenQuery) -> str | None:
    """Why a broadcast listen may show nothing, when its window could be the reason."""
    back = query.start_seconds_back()
    if query.delivery != "broadcast" or back is None:
        return None
    return (
        f"a listen without --replay starts {back:g} s back; "
        "--replay starts at the oldest retained event"
    )


def _json(text: str) -> msgspec.Raw:
    """The payload as given (checked to be JSON, sent byte for byte)."""
    try:
        msgspec.json.decode(text)
    except msgspec.DecodeError as error:
        raise argparse.ArgumentTypeError(f"not JSON: {error}") from None
    except RecursionError:
        raise argparse.ArgumentTypeError(f"nests deeper than {MAX_JSON_DEPTH} levels") from None
    return msgspec.Raw(text.strip().encode())
