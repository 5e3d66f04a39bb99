"""amp's decoder on what the real amp 0.0.1790142911-g7618fb printed offline (real-CLI tier).

Each run fed the prompt on stdin and closed it; AMP_URL pointed at 127.0.0.1.
"""

from __future__ import annotations

from contracts.providers import driver
from contracts.session import Failed, SessionEvent

# AMP_API_KEY set, AMP_URL at a closed port: no stdout, this on stderr, exit 1.
UNREACHABLE_STDERR = (
    "Error: Couldn't connect to the Amp server at http://127.0.0.1:9.\n"
    "\n"
    "Run `pnpm dev` to start the local server, then try again.\n"
)

# AMP_API_KEY set, the server answers HTTP 401: no stdout, this on stderr, exit 1.
REJECTED_STDERR = "Error: Invalid or missing API key. Run 'amp login' to authenticate.\n"

# No AMP_API_KEY and an empty HOME: amp starts its login flow on stdout (then reads the
# prompt as the login code, and exits 1 or waits).
LOGIN_FLOW_STDOUT = b"No API key found. Starting login flow..."


def run(stdout: list[bytes], exit_code: int | None, stderr: str) -> list[SessionEvent]:
    found = driver("amp")
    assert found is not None
    decoder = found.decoder()
    events: list[SessionEvent] = []
    for line in stdout:
        events += decoder.feed(line)
    return events + decoder.finish(exit_code, stderr)


def test_an_unreachable_amp_server_is_unreachable_and_names_what_to_check() -> None:
    assert run([], 1, UNREACHABLE_STDERR) == [
        Failed(
            kind="unreachable",
            message="amp: couldn't connect to the Amp server (amp exited with code 1); check"
            " this host's network and proxy, and the AMP_URL set for amp"
            " (unset: https://ampcode.com)",
            exit_code=1,
        )
    ]


def test_an_unreachable_amp_server_message_keeps_stderr_out() -> None:
    [failed] = run([], 1, UNREACHABLE_STDERR)
    assert isinstance(failed, Failed)
    assert "127.0.0.1:9" not in failed.message and "pnpm" not in failed.message


def test_a_rejected_amp_key_is_not_logged_in_with_what_to_do() -> None:
    assert run([], 1, REJECTED_STDERR) == [
        Failed(
            kind="not_logged_in",
            message="amp: not logged in or its API key was rejected (amp exited with code 1);"
            " run `amp login` as the user asm runs as, or set AMP_API_KEY in"
            " [providers.amp.env]",
            exit_code=1,
        )
    ]


def test_the_login_flow_on_stdout_is_not_logged_in_at_once() -> None:
    found = driver("amp")
    assert found is not None
    assert found.decoder().feed(LOGIN_FLOW_STDOUT) == [
        Failed(kind="not_logged_in", message="amp: not logged in (run `amp login`)")
    ]
