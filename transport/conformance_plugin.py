"""The conformance rules as a pytest plugin: one test per rule, in any test run.

Installed with asm-trio (entry point ``asm_conformance``), it adds options and nothing
else until they are given (it imports Hypothesis only then, so a pytest run without
the ``conformance`` extra is unaffected). Run the shipped suite against a target::

    ASM_CONFORMANCE_TOKEN=... pytest --pyargs transport.conformance.suite \\
        --conformance-endpoint http://127.0.0.1:8787/leases/L/v1
    pytest --pyargs transport.conformance.suite \\
        --conformance-events http://127.0.0.1:8787 --conformance-token-file tokens.txt

or request the ``endpoint_rule`` / ``events_rule`` fixtures from your own test module
and call :func:`check_rule`. A failing rule fails its test with the counterexample; a
rule that cannot run against the target (a precondition) is skipped, saying why. The
endpoint's token comes from ``$ASM_CONFORMANCE_TOKEN`` or from a file
(``--conformance-endpoint-token-file``), never from the command line, where ``ps`` shows
it to every user: ``--conformance-token`` is refused, saying so.

It lives beside :mod:`transport.conformance`, not inside it, and imports the harness
(through its facade) only once an option is used: importing a module of that package
would import the package's facade, and with it Hypothesis, into every pytest run of an
environment without the ``conformance`` extra
(``tests/transport/conformance/test_plugin_without_hypothesis.py`` checks it).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from transport.conformance import Budget, Rule

__all__ = [
    "check_rule",
    "pytest_addoption",
    "pytest_configure",
    "pytest_generate_tests",
    "pytest_unconfigure",
]

_TOKEN_ENV = "ASM_CONFORMANCE_TOKEN"
_CLIENTS = pytest.StashKey[list[Any]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("asm-conformance", "asm conformance: contract rules vs a target")
    group.addoption("--conformance-endpoint", metavar="URL", help="an endpoint's OpenAI base URL")
    group.addoption(
        "--conformance-endpoint-token-file",
        metavar="FILE",
        help=f"its bearer, on one line (default: ${_TOKEN_ENV})",
    )
    # Refused when given: a token in the arguments is visible to every user in `ps`.
    group.addoption("--conformance-token", help=argparse.SUPPRESS)
    group.addoption("--conformance-events", metavar="URL", help="a Bus Events API origin")
    group.addoption("--conformance-token-file", metavar="FILE", help="its tokens, one per line")
    group.addoption("--conformance-scale", type=float, default=1.0, help="example count factor")
    group.addoption("--conformance-seed", type=int, default=None, help="another sample")
    group.addoption("--conformance-timeout", type=float, default=120.0, help="seconds per request")


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--conformance-token") is not None:
        raise pytest.UsageError(
            "--conformance-token puts the token on the command line, where `ps` shows it to"
            f" every user; give it in ${_TOKEN_ENV} or --conformance-endpoint-token-file FILE"
        )
    config.stash[_CLIENTS] = []


def pytest_unconfigure(config: pytest.Config) -> None:
    for client in config.stash.get(_CLIENTS, []):
        client.close()


def _budget(config: pytest.Config, secrets: tuple[str, ...]) -> Budget:
    from transport.conformance import Budget  # noqa: PLC0415 - Hypothesis on use

    return Budget(
        scale=config.getoption("--conformance-scale"),
        seed=config.getoption("--conformance-seed"),
        secrets=secrets,
    )


def _client(config: pytest.Config) -> Any:
    from transport.conformance import open_client  # noqa: PLC0415 - Hypothesis on use

    client = open_client(config.getoption("--conformance-timeout"))
    config.stash[_CLIENTS].append(client)
    return client


def _endpoint_params(config: pytest.Config) -> list[Any]:
    url = config.getoption("--conformance-endpoint")
    if not url:
        return [pytest.param(None, marks=pytest.mark.skip(reason="no --conformance-endpoint"))]
    token = _endpoint_token(config)
    from transport.conformance import (  # noqa: PLC0415 - Hypothesis on use
        EndpointTarget,
        endpoint_rules,
    )

    budget = _budget(config, (token,))
    target = EndpointTarget(url.rstrip("/"), token, _client(config))
    return [pytest.param((rule, budget), id=rule.name) for rule in endpoint_rules(target)]


def _endpoint_token(config: pytest.Config) -> str:
    path = config.getoption("--conformance-endpoint-token-file")
    if not path:
        token = os.environ.get(_TOKEN_ENV, "").strip()
        if not token:
            raise pytest.UsageError(
                f"--conformance-endpoint needs ${_TOKEN_ENV} or --conformance-endpoint-token-file"
            )
        return token
    try:
        lines = Path(path).read_text(encoding="utf-8").split()
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not UTF-8 text"
        raise pytest.UsageError(f"--conformance-endpoint-token-file {path}: {reason}") from None
    if len(lines) != 1:
        raise pytest.UsageError(f"--conformance-endpoint-token-file {path}: one token, one line")
    return lines[0]


def _events_params(config: pytest.Config) -> list[Any]:
    url = config.getoption("--conformance-events")
    if not url:
        return [pytest.param(None, marks=pytest.mark.skip(reason="no --conformance-events"))]
    from transport.conformance import (  # noqa: PLC0415 - Hypothesis on use
        events_rules,
        events_target,
        hidden_parts,
        read_token_file,
    )

    path = config.getoption("--conformance-token-file")
    if not path:
        raise pytest.UsageError("--conformance-events needs --conformance-token-file")
    try:
        tokens = read_token_file(Path(path))
    except (OSError, ValueError) as error:
        raise pytest.UsageError(f"--conformance-token-file {path}: {error}") from None
    budget = _budget(config, hidden_parts(tokens))
    try:
        target = events_target(url, tokens, _client(config))
    except ValueError as error:
        raise pytest.UsageError(f"--conformance-token-file {path}: {error}") from None
    return [pytest.param((rule, budget), id=rule.name) for rule in events_rules(target)]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "endpoint_rule" in metafunc.fixturenames:
        metafunc.parametrize("endpoint_rule", _endpoint_params(metafunc.config))
    if "events_rule" in metafunc.fixturenames:
        metafunc.parametrize("events_rule", _events_params(metafunc.config))


def check_rule(parameter: tuple[Rule[Any], Budget]) -> None:
    """Run one rule; fail the test with its counterexample, or skip saying why."""
    from transport.conformance import run_rule  # noqa: PLC0415 - Hypothesis on use

    rule, budget = parameter
    outcome = run_rule(rule, budget)
    if outcome.status == "skip":
        pytest.skip(f"{rule.name}: {outcome.message}")
    if outcome.status == "fail":
        pytest.fail(
            f"{rule.name} broken ({outcome.tried} tried): {rule.summary}\n"
            f"  counterexample: {outcome.counterexample}\n  {outcome.message}",
            pytrace=False,
        )
