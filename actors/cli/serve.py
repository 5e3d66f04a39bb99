"""``asm serve``: endpoints, admin routes, the Bus Events API and the bridge (SPEC §7).

    asm serve --bind 127.0.0.1:8787 --state-dir .asm [--store sqlite:PATH|memory|redis://…] [-v|-q]

One server per state directory: before it touches anything there it takes the
directory's lock (``serve.lock``, :mod:`actors.processes.state_lock`) for its whole life; a second
start on the same directory exits 1 naming the running server's pid and port, and
changes nothing. On ready it writes ``<state-dir>/server.json``
(``{"base_url","pid","store"}``) and prints ``asm: serving on <base_url>``. The state
directory holds ``admin.token`` and ``events.secret`` (kept across restarts), the
default event store ``events.db`` (sqlite), and the ledger of live CLI process groups,
swept at start (under the lock) so nothing a crashed run left behind survives. Every
file there is 0600: they hold secrets, events or pids. ``--events-url`` puts the bridge on a
remote Bus Events API (its token from ``BUS_API_TOKEN`` or ``BUS_EVENTS_TOKEN``).
SIGINT or SIGTERM stops it: the HTTP surface first, then the bridge and the store, then
every lease and session, every CLI reaped. A start that fails (the port is taken, the
store does not open) says why in one line and exits 1.

The log goes to stderr (:mod:`actors.serving.logging_setup`): one line per HTTP request
(method, route group, status, duration) and per session outcome (provider, outcome,
duration), never a token, prompt or secret; INFO by default, ``-v`` adds DEBUG, ``-q``
keeps WARNING and above; ``--log-format json`` makes each line a JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import msgspec
import trio

from actors.bus import Bus
from actors.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    add_config_option,
    add_state_dir_option,
    add_verbosity_options,
    log_level,
)
from actors.processes import StateDirBusy, StateDirLock, hold_state_dir
from actors.serving import (
    LOG_FORMATS,
    EventsSecretError,
    admin_token,
    config_path,
    configure_logging,
    load_config,
    serve_bus,
)
from actors.supervisor import SupervisorEscalation
from actors.system import open_system
from contracts.config import Config, ConfigError
from contracts.loopback import BindError, parse_bind
from transport.event_log import StoreError, StoreSpecError

__all__ = ["add_serve_parser", "run_serve"]

SERVE_POOL_SIZE = 1  # SPEC §4.5: one parked session per lease unless configured


def add_serve_parser(commands: argparse._SubParsersAction[Any]) -> None:
    """Register ``asm serve`` on the ``asm`` subcommand parser."""
    serve = commands.add_parser(
        "serve", help="serve endpoints, admin routes and the Bus Events API on loopback"
    )
    serve.add_argument("--bind", default=None, help="loopback host:port (default 127.0.0.1:8787)")
    serve.add_argument(
        "--store",
        default=None,
        help="memory | sqlite:PATH | redis://HOST:PORT/DB (default sqlite:<state-dir>/events.db)",
    )
    serve.add_argument("--events-url", default=None, help="a remote Bus Events API")
    add_config_option(serve)
    add_state_dir_option(serve)
    serve.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default="text",
        help="text (default) or json: one JSON object per line on stderr, with request ids",
    )
    add_verbosity_options(serve)


def run_serve(args: argparse.Namespace) -> int:
    """Run ``asm serve`` with parsed ``args``; returns the exit code."""
    configure_logging(args.log_format, log_level(args))
    try:
        return _run(args)
    except BaseException as exc:
        # A SIGINT before the signal receiver is up (or after it is gone) is a stop too:
        # Trio has unwound everything by now, so it ends with the same one line.
        if not _interrupted(exc):
            raise
        print("asm: SIGINT, stopping", file=sys.stderr)
        return EXIT_OK


def _interrupted(error: BaseException) -> bool:
    """A KeyboardInterrupt, alone or as all a group holds."""
    if isinstance(error, BaseExceptionGroup):
        return error.split(KeyboardInterrupt)[1] is None
    return isinstance(error, KeyboardInterrupt)


def _run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"asm serve: {exc}", file=sys.stderr)
        return EXIT_FAILED
    bind = args.bind or config.server.bind
    try:
        parse_bind(bind)
    except BindError as exc:
        print(f"asm serve: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if config.leases.pool_size is None:
        leases = msgspec.structs.replace(config.leases, pool_size=SERVE_POOL_SIZE)
        config = msgspec.structs.replace(config, leases=leases)
    state_dir = Path(args.state_dir)
    with contextlib.ExitStack() as stack:
        try:
            state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            # Before anything else in the state dir: a running server's files are its own.
            lock = stack.enter_context(hold_state_dir(state_dir))
            bus = serve_bus(
                state_dir,
                args.store,
                args.events_url,
                os.environ,
                config,
                config_file=config_path(args.config),
            )
            _check_port(bind)  # before any store, session or bridge starts
        except (OSError, ValueError, EventsSecretError, StateDirBusy) as exc:
            print(f"asm serve: {exc}", file=sys.stderr)
            return EXIT_USAGE if isinstance(exc, StoreSpecError) else EXIT_FAILED
        try:
            return trio.run(_serve, config, bind, lock, bus)
        except (SupervisorEscalation, StoreError, ExceptionGroup) as exc:
            # The supervisors logged the chain; the operator gets the cause in one line.
            print(f"asm serve: stopped: {_root_cause(exc)}", file=sys.stderr)
            return EXIT_FAILED


def _check_port(bind: str) -> None:
    """Raise OSError now, in one line, when ``bind``'s port is taken (0 never is).

    The server binds it again once everything else is up; this only says early, in
    one line, what would otherwise stop that start half-way.
    """
    host, port = parse_bind(bind)
    if port == 0:
        return
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except OSError:
        return  # the server's own bind says what is wrong
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as hypercorn does
        try:
            probe.bind(address)
        except OSError as exc:
            reason = (exc.strerror or str(exc)).lower()
            raise OSError(f"cannot listen on {bind}: {reason}") from exc


def _root_cause(error: BaseException) -> BaseException:
    """What an escalation (or a group of one) comes down to: the store that did not open."""
    while True:
        if isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
            error = error.exceptions[0]
        elif isinstance(error, SupervisorEscalation) and error.cause is not None:
            error = error.cause
        else:
            return error


async def _serve(config: Config, bind: str, lock: StateDirLock, bus: Bus) -> int:
    state_dir = lock.state_dir
    server_json = state_dir / "server.json"
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with open_system(
            config, bind=bind, state_dir=state_dir, admin_token=admin_token(state_dir), bus=bus
        ) as system:
            assert system.base_url is not None
            summary = {"base_url": system.base_url, "pid": os.getpid(), "store": bus.store_label}
            _write_json(server_json, summary)
            lock.announce(system.base_url)
            print(f"asm: serving on {system.base_url}", flush=True)
            try:
                async for signum in signals:
                    print(f"asm: {signal.Signals(signum).name}, stopping", file=sys.stderr)
                    break
            finally:
                server_json.unlink(missing_ok=True)
    return EXIT_OK


def _write_json(path: Path, value: dict[str, object]) -> None:
    """``value`` into ``path`` (0600: it names the server's pid), whole or not at all."""
    temporary = path.with_suffix(".tmp")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(json.dumps(value) + "\n")
    temporary.replace(path)
