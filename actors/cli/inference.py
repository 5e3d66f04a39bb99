"""``asm inference install|model-ensure|status|verify``: the operator's path (SPEC §7).

    export BUS_EVENTS_API_BASE_URL=http://127.0.0.1:8787
    export BUS_EVENTS_TOKEN=$(asm token issue --subject ops --scope inference:admin)
    asm inference status --provider ollama --node gpu-1
    asm inference install --provider ollama --node gpu-1 --execute --confirm
    asm inference model-ensure --provider ollama --node gpu-1 --model llama3.2:1b \\
        --allow-download --execute --confirm

Each command builds its ``bus.inference.*.request`` payload from the flags (a dry run
unless ``--execute``; an execution needs ``--confirm``), checks it against the contract
(BUS.md §1) before anything is sent, publishes it under a fresh correlation id and waits
for the response carrying that id. The response payload is printed as one JSON line on
stdout; the exit code is 0 when it says ``ok``, 1 when not (its error class and first
diagnostic on stderr), 1 when none came within ``--timeout`` seconds, 2 for a request
the contract refuses or a missing variable. While a model downloads, ``model-ensure``
draws the provider's progress events as a bar on stderr (when stderr is a terminal,
or with ``--progress``); an executed ``install`` prints a line on stderr as each step
starts and ends, and every few seconds while a long one (the download) runs
(``--no-progress``: none).

The server and token come from the same variables as ``asm events``
(:mod:`actors.cli.events`); SIGINT or SIGTERM ends the wait with 128 + the
signal's number. The request keeps running on the provider either way.
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Final

import msgspec
import trio

from actors.cli._progress_bar import InstallSteps, PullProgressBar
from actors.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, seconds_parser
from actors.cli.events_client import (
    BASE_URL_ENV,
    TOKEN_ENVS,
    UsageError,
    auth_hint,
    client_from_environ,
    notes_on_stderr,
    until_signalled,
)
from contracts.events import Event, ListenQuery
from contracts.inference import (
    CHECK_NAMES,
    INSTALL_EVENTS,
    INSTALL_PROGRESS,
    INSTALL_REQUEST,
    MODEL_ENSURE_EVENTS,
    MODEL_ENSURE_PROGRESS,
    MODEL_ENSURE_REQUEST,
    RESPONSE_FOR,
    STATUS_REQUEST,
    VERIFY_REQUEST,
    Invalid,
    validate,
)
from transport.events import REQUEST_LOOKBACK_SECONDS, EventsClient, EventsError, EventsTimeoutError

__all__ = ["add_inference_parser", "run_inference"]

REQUEST_FOR_ACTION: Final = {
    "install": INSTALL_REQUEST,
    "model-ensure": MODEL_ENSURE_REQUEST,
    "status": STATUS_REQUEST,
    "verify": VERIFY_REQUEST,
}
QUICK_TIMEOUT_SECONDS: Final = 30.0
"""status and verify: a ready provider answers in well under a second."""
LONG_TIMEOUT_SECONDS: Final = 900.0
"""install and model-ensure: a runtime download or a model pull takes minutes."""
_seconds = seconds_parser(10**7, "must be a number of seconds above 0")


@dataclass(frozen=True)
class OperatorRequest:
    """One ``bus.inference.*.request`` as the operator's command sends it, and how long
    to wait for its answer (not :class:`contracts.endpoint.InferenceRequest`, which is a
    lease's chat request)."""

    action: str
    payload: dict[str, Any]
    correlation_id: str
    timeout: float
    progress: bool

    @property
    def name(self) -> str:
        return REQUEST_FOR_ACTION[self.action]

    @property
    def response_name(self) -> str:
        return RESPONSE_FOR[self.name]

    @property
    def prefix(self) -> str:
        """How the command's lines on stderr start."""
        return f"asm inference {self.action}"


# --- the command line -----------------------------------------------------------------


def add_inference_parser(commands: argparse._SubParsersAction[Any]) -> None:
    """Register ``asm inference install|model-ensure|status|verify`` on ``asm``'s parser."""
    environment = (
        f"The server is ${BASE_URL_ENV}; the token ${TOKEN_ENVS[0]}, else ${TOKEN_ENVS[1]}. "
        "Prints the response as one JSON line; exit 0 when it is ok, 1 when not or when "
        "none came in time, 2 for a request the contract refuses."
    )
    inference = commands.add_parser(
        "inference", help="install, provision and check an inference runtime over the Bus"
    )
    actions = inference.add_subparsers(dest="inference_action", required=True, metavar="ACTION")

    install = actions.add_parser(
        "install", help="install and configure the runtime on a node", description=environment
    )
    _target(install, LONG_TIMEOUT_SECONDS)
    _execution(install)
    install.add_argument("--runtime-listen", metavar="HOST:PORT", help="where the runtime listens")
    install.add_argument("--context-length", type=int, metavar="N", help="the context length")
    install.add_argument("--service-user", metavar="USER", help="the user the runtime runs as")
    install.add_argument(
        "--environment", choices=("dev", "staging", "prod"), help="the deployment (default: dev)"
    )
    install.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="print each step on stderr as it starts and ends (default: yes)",
    )

    ensure = actions.add_parser(
        "model-ensure", help="make a model present on a node", description=environment
    )
    _target(ensure, LONG_TIMEOUT_SECONDS)
    ensure.add_argument("--model", required=True, help="the model, e.g. llama3.2:1b")
    _execution(ensure)
    ensure.add_argument(
        "--allow-download", action="store_true", help="let the provider pull a missing model"
    )
    ensure.add_argument(
        "--max-size", type=int, metavar="BYTES", help="refuse a model larger than this"
    )
    ensure.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="draw the download bar on stderr (default: when stderr is a terminal)",
    )

    status = actions.add_parser(
        "status", help="the runtime's state and models on a node", description=environment
    )
    _target(status, QUICK_TIMEOUT_SECONDS)

    verify = actions.add_parser(
        "verify", help="run readiness checks on a node", description=environment
    )
    _target(verify, QUICK_TIMEOUT_SECONDS)
    verify.add_argument(
        "--check",
        action="append",
        dest="checks",
        metavar="NAME",
        help=f"a check to run, repeatable: {', '.join(CHECK_NAMES)} (default: the provider's)",
    )


def _target(parser: argparse.ArgumentParser, timeout: float) -> None:
    parser.add_argument("--provider", required=True, help="the provider id, e.g. ollama")
    parser.add_argument("--node", required=True, help="the node id, e.g. gpu-1")
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=timeout,
        metavar="S",
        help=f"how long to wait for the response (default: {timeout:g} s)",
    )


def _execution(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--execute", action="store_true", help="act on the node (default: a dry run)"
    )
    parser.add_argument("--confirm", action="store_true", help="confirm an --execute")


def request_payload(action: str, args: argparse.Namespace) -> dict[str, Any]:
    """The request payload the flags of ``asm inference <action>`` ask for (unchecked)."""
    payload: dict[str, Any] = {"provider": args.provider, "node_id": args.node}
    if action == "install":
        runtime = {
            key: value
            for key, value in (
                ("listen", args.runtime_listen),
                ("context_length", args.context_length),
                ("service_user", args.service_user),
                ("environment", args.environment),
            )
            if value is not None
        }
        if runtime:
            payload["runtime"] = runtime
    elif action == "model-ensure":
        payload["model"] = args.model
        policy: dict[str, Any] = {}
        if args.allow_download:
            policy["allow_model_download"] = True
        if args.max_size is not None:
            policy["max_model_size_bytes"] = args.max_size
        if policy:
            payload["policy"] = policy
    elif action == "verify" and args.checks is not None:
        payload["checks"] = list(args.checks)
    if action in ("install", "model-ensure"):
        payload["dry_run"] = not args.execute
        payload["confirm"] = bool(args.confirm)
    return payload


# --- running ----------------------------------------------------------------------------


def run_inference(args: argparse.Namespace) -> int:
    """Run ``asm inference <action>`` with parsed ``args``; returns the exit code."""
    action: str = args.inference_action
    progress: bool | None = getattr(args, "progress", None)
    request = OperatorRequest(
        action=action,
        payload=request_payload(action, args),
        correlation_id=str(uuid.uuid4()),
        timeout=args.timeout,
        progress=sys.stderr.isatty() if progress is None else progress,
    )
    checked = validate(request.name, msgspec.json.encode(request.payload))
    if isinstance(checked, Invalid):
        for diagnostic in checked.diagnostics:
            print(f"{request.prefix}: invalid request: {diagnostic}", file=sys.stderr)
        return EXIT_USAGE
    try:
        client = client_from_environ(os.environ)
    except UsageError as error:
        print(f"{request.prefix}: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        with notes_on_stderr(request.prefix):
            return trio.run(until_signalled, partial(_exchange, client, request))
    except EventsTimeoutError:
        print(
            f"{request.prefix}: no response to {request.name} {request.correlation_id}"
            f" within {request.timeout:g} s",
            file=sys.stderr,
        )
        return EXIT_FAILED
    except EventsError as error:
        print(f"{request.prefix}: {error}{auth_hint(error)}", file=sys.stderr)
        return EXIT_FAILED


async def _exchange(client: EventsClient, request: OperatorRequest) -> int:
    """Publish ``request``, wait for its response and report it; the exit code."""
    async with client:
        if request.name == MODEL_ENSURE_REQUEST:
            with PullProgressBar(enabled=request.progress, stream=sys.stderr) as bar:
                response = await _with_progress(
                    client, request, MODEL_ENSURE_EVENTS, MODEL_ENSURE_PROGRESS, bar.show
                )
        elif request.name == INSTALL_REQUEST:
            steps = InstallSteps(enabled=request.progress, stream=sys.stderr, prefix=request.prefix)
            response = await _with_progress(
                client, request, INSTALL_EVENTS, INSTALL_PROGRESS, steps.show
            )
        else:
            response = await client.request(
                request.name,
                request.payload,
                response_name=request.response_name,
                timeout=request.timeout,
                correlation_id=request.correlation_id,
            )
    return _report(request, bytes(response.payload))


async def _with_progress(
    client: EventsClient,
    request: OperatorRequest,
    pattern: str,
    progress_name: str,
    show: Callable[[msgspec.Raw], None],
) -> Event:
    """The response to ``request``, showing the progress events that come before it.

    One stream over ``pattern`` (``bus.inference.install.*``,
    ``bus.inference.model.ensure.*``) filtered by the correlation id (both requests need
    ``inference:admin``, which covers the prefix), opened before the request is published
    so that no event of the answer is missed.
    """
    query = ListenQuery(
        pattern=pattern,
        correlation_id=request.correlation_id,
        since=REQUEST_LOOKBACK_SECONDS,
    )
    with trio.move_on_after(request.timeout):
        async with client.stream(query, wait_for_server=False) as events:
            await client.publish(
                request.name, request.payload, correlation_id=request.correlation_id
            )
            async for event in events:
                if event.correlation_id != request.correlation_id:
                    continue
                if event.name == progress_name:
                    show(event.payload)
                elif event.name == request.response_name:
                    return event
    raise EventsTimeoutError(f"no {request.response_name} within {request.timeout:g} s")


def _report(request: OperatorRequest, payload: bytes) -> int:
    """Print the response payload as one JSON line; 0 when it is a valid ok response."""
    try:
        value = msgspec.json.decode(payload)
    except (msgspec.DecodeError, UnicodeDecodeError):
        print(f"{request.prefix}: the response payload is not JSON", file=sys.stderr)
        return EXIT_FAILED
    print(msgspec.json.encode(value).decode(), flush=True)
    checked = validate(request.response_name, payload)
    if isinstance(checked, Invalid):
        # Printed all the same, but not trusted: an exit 0 must mean a real ok.
        print(
            f"{request.prefix}: the response breaks the contract: {'; '.join(checked.diagnostics)}",
            file=sys.stderr,
        )
        return EXIT_FAILED
    if value["ok"] is True:
        return EXIT_OK
    diagnostics = value["diagnostics"]
    print(f"{request.prefix}: {value['error_class']}: {diagnostics[0]}", file=sys.stderr)
    return EXIT_FAILED
