"""The ``asm`` entry point: usage errors, and ``query`` running one session."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.actors.sessions.sessions import children_environ, fake_environ
from tests.fakes.fake_cli import answer_text

Result = subprocess.CompletedProcess[str]

ASM = str(Path(sys.executable).with_name("asm"))


def test_unknown_subcommand_is_a_usage_error() -> None:
    result = subprocess.run(
        [ASM, "launch"], check=False, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2 and result.stdout == ""


def _query_env(tmp_path: Path, mode: str = "ok") -> dict[str, str]:
    env = children_environ()
    env.pop("CLAUDECODE", None)
    env.update(fake_environ(tmp_path))
    env["FAKE_CLI_MODE"] = mode
    return env


def _asm_query(tmp_path: Path, *args: str, mode: str = "ok", stdin: str = "") -> Result:
    # FAKE_CLI_MODE reaches the fake through the config's provider env, as an operator's
    # base URL would: the session environment is scrubbed.
    config = tmp_path / "asm.toml"
    config.write_text(f'[providers.claude.env]\nFAKE_CLI_MODE = "{mode}"\n')
    return subprocess.run(
        [ASM, "query", "--config", str(config), *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        input=stdin,
        env=_query_env(tmp_path, mode),
    )


def test_query_streams_the_answer_to_stdout(tmp_path: Path) -> None:
    result = _asm_query(tmp_path, "--provider", "claude", "--model", "m", "--stream", "Hi you")
    assert result.returncode == 0, result.stderr
    assert result.stdout == answer_text("claude", "Hi you") + "\n"


def test_query_reads_the_prompt_from_stdin(tmp_path: Path) -> None:
    result = _asm_query(tmp_path, "--provider", "claude", "--model", "m", "-", stdin="From stdin")
    assert result.returncode == 0, result.stderr
    assert result.stdout == answer_text("claude", "From stdin") + "\n"


def test_query_failure_names_its_kind_on_stderr_and_exits_1(tmp_path: Path) -> None:
    result = _asm_query(
        tmp_path, "--provider", "claude", "--model", "m", "Hi", mode="not_logged_in"
    )
    assert result.returncode == 1
    assert result.stderr.startswith("asm query: not_logged_in: ")
    assert result.stdout == ""


def test_query_with_an_invalid_config_exits_1(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[providers.claude]\npool_size = -1\n")
    result = subprocess.run(
        [ASM, "query", "--config", str(config), "--provider", "claude", "--model", "m", "Hi"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "pool_size" in result.stderr


def test_query_without_a_provider_is_a_usage_error() -> None:
    result = subprocess.run(
        [ASM, "query", "--model", "m", "Hi"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2


# A Ctrl-C that lands while the commands are still importing, made certain: the import of
# actors.cli.main raises KeyboardInterrupt, as Python does when SIGINT arrives mid-import.
_INTERRUPTED_IMPORT = """
import sys

class Interrupt:
    def find_spec(self, name, path=None, target=None):
        if name == "actors.cli.main":
            raise KeyboardInterrupt
        return None

sys.meta_path.insert(0, Interrupt())
from importlib.metadata import entry_points
(asm,) = entry_points(group="console_scripts", name="asm")
sys.exit(asm.load()(["--version"]))
"""


def test_a_ctrl_c_while_asm_starts_is_exit_130_without_a_traceback() -> None:
    """The ``asm`` script loads its commands inside the entry point, where an interrupt is
    caught, not at its top, where it would print a traceback."""
    result = subprocess.run(
        [sys.executable, "-c", _INTERRUPTED_IMPORT],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stdout, result.stderr) == (130, "", "")
