"""``bus-integration-inference`` as BUS.md §5 describes it, run as the installed command."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from contracts import __version__
from contracts.events import MAX_ENVELOPE_BYTES
from contracts.inference import EVENT_NAMES

COMMAND = str(Path(sys.executable).with_name("bus-integration-inference"))


def run(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [COMMAND, *args],
        input=stdin.decode(),
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result


def test_version_is_one_line() -> None:
    result = run("--version")
    assert (result.returncode, result.stdout) == (0, f"bus-integration-inference {__version__}\n")


def test_events_prints_the_eight_names_in_bus_order() -> None:
    result = run("--events")
    assert result.returncode == 0
    assert result.stdout.splitlines() == [
        "bus.inference.install.request",
        "bus.inference.install.response",
        "bus.inference.model.ensure.request",
        "bus.inference.model.ensure.response",
        "bus.inference.status.request",
        "bus.inference.status.response",
        "bus.inference.verify.request",
        "bus.inference.verify.response",
    ]


def test_events_json_is_exactly_one_compact_line() -> None:
    result = run("--events", "--format", "json")
    names = ",".join(f'"{name}"' for name in EVENT_NAMES)
    expected = (
        '{"provider_neutral":true,"providers":["ollama"],'
        f'"events":[{names}],"direct_bootstrap":true}}\n'
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, expected, "")


def test_unknown_format_is_a_usage_error() -> None:
    result = run("--events", "--format", "yaml")
    assert result.returncode == 2
    assert result.stdout == "" and "yaml" in result.stderr


def test_self_test_prints_its_line_exactly() -> None:
    result = run("--self-test")
    assert (result.returncode, result.stdout) == (0, "OK bus-integration-inference self-test\n")


def test_validate_fills_in_the_defaults() -> None:
    result = run(
        "--validate",
        "bus.inference.model.ensure.request",
        stdin=b'{"provider":"ollama","node_id":"n1","model":"llama3"}',
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "provider": "ollama",
        "node_id": "n1",
        "model": "llama3",
        "dry_run": True,
        "confirm": False,
        "policy": {"allow_model_download": False, "require_confirmation_for_prod": True},
    }
    install = run(
        "--validate",
        "bus.inference.install.request",
        "-",
        stdin=b'{"provider":"ollama","node_id":"n1"}',
    )
    assert json.loads(install.stdout)["runtime"] == {"environment": "dev"}


def test_validate_reads_a_file(tmp_path: Path) -> None:
    payload = tmp_path / "status.json"
    payload.write_text('{"provider":"ollama","node_id":"n1"}')
    result = run("--validate", "bus.inference.status.request", str(payload))
    assert (result.returncode, json.loads(result.stdout)) == (
        0,
        {"provider": "ollama", "node_id": "n1"},
    )


@pytest.mark.parametrize(
    "payload",
    [
        b'{"provider":"ollama","node_id":"n1","model":"x"}',
        b'{"provider":"ollama","node_id":"n1","dry_run":false}',
        b'{"provider":"ollama","node_id":"n1","credentials":{"api_token_secret":"s3cr3t-value"}}',
        b"not json",
        b"[]",
    ],
)
def test_validate_answers_invalid_payloads_with_bad_request(payload: bytes) -> None:
    result = run("--validate", "bus.inference.install.request", stdin=payload)
    assert result.returncode == 1
    answer = json.loads(result.stdout)
    assert answer["ok"] is False and answer["error_class"] == "bad_request"
    assert answer["diagnostics"] and all(isinstance(d, str) for d in answer["diagnostics"])
    assert "s3cr3t-value" not in result.stdout + result.stderr
    assert list(answer) == ["ok", "error_class", "diagnostics"]


def test_validate_of_an_unknown_event_is_a_usage_error() -> None:
    result = run("--validate", "bus.inference.reboot.request", stdin=b"{}")
    assert result.returncode == 2 and "unknown event" in result.stderr


def test_validate_of_a_missing_file_fails_on_stderr(tmp_path: Path) -> None:
    result = run("--validate", "bus.inference.status.request", str(tmp_path / "absent.json"))
    assert result.returncode == 1 and result.stdout == "" and "cannot read" in result.stderr


@pytest.mark.parametrize("event", EVENT_NAMES)
def test_event_help_names_fields_defaults_and_rules(event: str) -> None:
    result = run("--event-help", event)
    assert result.returncode == 0
    assert result.stdout.startswith(event + "\n")
    assert "node_id" in result.stdout and "required_fields" in result.stdout


def test_event_help_shows_defaults() -> None:
    text = run("--event-help", "bus.inference.install.request").stdout
    assert "dry_run                          boolean; default true" in text
    assert "environment" in text and 'default "dev"' in text


@pytest.mark.parametrize(
    "args", [[], ["--format", "json"], ["--events", "--self-test"], ["--event-help", "x.y"]]
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    result = run(*args)
    assert result.returncode == 2 and result.stdout == ""


def test_failing_self_test_exits_1_and_says_what_failed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import contracts.inference.help as help_module
    from actors.cli.bus_integration import main
    from contracts.inference import INVALID, Rule

    mislabelled = (("bus.inference.status.request", Rule.NODE_ID_FORMAT, {"provider": "ollama"}),)
    monkeypatch.setattr(help_module, "INVALID", INVALID + mislabelled)
    assert main(["--self-test"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert "rule node_id_format" in err


# --- --validate reads at most the envelope limit (issue 15, low) ----------------------

TOO_LARGE = "payload_too_large: the payload is larger than 1048576 bytes, the Bus envelope limit"


def run_bounded(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    """The command with at most 1 GiB of address space: an unbounded read fails fast
    instead of eating the machine's memory."""

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2**30, 2**30))

    return subprocess.run(
        [COMMAND, *args],
        input=stdin,
        check=False,
        capture_output=True,
        timeout=60,
        preexec_fn=limit_memory,
    )


def status_payload(size: int) -> bytes:
    """A valid status request padded with trailing whitespace to ``size`` bytes."""
    payload = b'{"provider":"ollama","node_id":"n1"}'
    return payload + b" " * (size - len(payload))


@pytest.mark.parametrize("over", [1, 4096])
def test_validate_refuses_a_file_over_the_envelope_limit_unread(tmp_path: Path, over: int) -> None:
    path = tmp_path / "large.json"
    path.write_bytes(status_payload(MAX_ENVELOPE_BYTES + over))
    result = run_bounded("--validate", "bus.inference.status.request", str(path))
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout) == {
        "ok": False,
        "error_class": "bad_request",
        "diagnostics": [TOO_LARGE],
    }


def test_validate_takes_a_payload_of_exactly_the_envelope_limit(tmp_path: Path) -> None:
    path = tmp_path / "limit.json"
    path.write_bytes(status_payload(MAX_ENVELOPE_BYTES))
    result = run_bounded("--validate", "bus.inference.status.request", str(path))
    assert (result.returncode, json.loads(result.stdout)["node_id"]) == (0, "n1")


def test_validate_of_dev_zero_ends_at_once_with_a_clear_error() -> None:
    result = run_bounded("--validate", "bus.inference.status.request", "/dev/zero")
    assert result.returncode == 1 and b"Traceback" not in result.stderr
    assert json.loads(result.stdout)["diagnostics"] == [TOO_LARGE]


def test_validate_refuses_stdin_over_the_envelope_limit() -> None:
    stdin = status_payload(MAX_ENVELOPE_BYTES + 1)
    result = run_bounded("--validate", "bus.inference.status.request", stdin=stdin)
    assert result.returncode == 1
    assert json.loads(result.stdout)["diagnostics"] == [TOO_LARGE]
