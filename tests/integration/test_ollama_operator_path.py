"""The operator path end to end (issue 6): ``asm serve`` with a node whose Ollama is the
fake one, installed by the fake installer into a temporary prefix and run as a supervised
``ollama serve``; every request made with ``asm inference …`` over the Events API."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.actors.ollama.ollama_nodes import FAKES, SMALL_MODEL, environ, free_port, is_listening

ASM = str(Path(sys.executable).with_name("asm"))
ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def serving(tmp_path: Path, port: int) -> Iterator[dict[str, str]]:
    """``asm serve`` over node ``node-1``; the environment for ``asm inference``."""
    prefix = tmp_path / "prefix"
    (tmp_path / "asm.toml").write_text(
        "[nodes.node-1]\n"
        f'ollama_url = "http://127.0.0.1:{port}"\n'
        f'install_command = "sh {FAKES / "ollama_install.sh"} {prefix}"\n'
        f'ollama_executable = "{prefix / "bin" / "ollama"}"\n'
        "ready_timeout = 20.0\n"
    )
    state = tmp_path / "state"
    # The fake download takes 2.4 s, its bar reaching 25, 50, 75 and 100 % on the way.
    env = environ(tmp_path, FAKE_OLLAMA_PULL_DELAY_MS="60", FAKE_OLLAMA_INSTALL_DELAY_MS="2400")
    argv = [ASM, "serve", "--bind", "127.0.0.1:0", "--state-dir", str(state)]
    argv += ["--config", str(tmp_path / "asm.toml")]
    server = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().split()[-1]
        issued = subprocess.run(
            [
                ASM,
                "token",
                "issue",
                "--subject",
                "ops",
                "--scope",
                "inference:admin",
                "--state-dir",
                str(state),
            ],
            capture_output=True,
            text=True,
            check=True,
            env=env,
            timeout=60,
        )
        yield {**env, "BUS_EVENTS_API_BASE_URL": base_url, "BUS_API_TOKEN": issued.stdout.strip()}
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        server.communicate(timeout=30)
    assert server.returncode == 0


def asm_inference(env: dict[str, str], *argv: str) -> tuple[int, dict[str, Any], str]:
    """Run ``asm inference …`` for node-1: exit code, the response printed, stderr."""
    result = subprocess.run(
        [ASM, "inference", *argv, "--provider", "ollama", "--node", "node-1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    printed = json.loads(result.stdout) if result.stdout.strip() else {}
    return result.returncode, printed, result.stderr


def runtime_env(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/fake/env", timeout=5) as answer:
        return dict(json.load(answer))


def test_install_ensure_status_verify_through_asm_serve(tmp_path: Path) -> None:
    port = free_port()
    with serving(tmp_path, port) as env:
        listen = ["--runtime-listen", f"127.0.0.1:{port}", "--context-length", "8192"]

        code, plan, _ = asm_inference(env, "install", *listen)
        assert code == 0 and plan["ok"], plan
        assert "install-runtime" in plan["actions"] and "wait-ready" in plan["actions"]
        assert not (tmp_path / "prefix").exists() and not is_listening(port)

        execute = ["--execute", "--confirm", "--progress"]
        code, done, stderr = asm_inference(env, "install", *listen, *execute)
        assert code == 0 and done["runtime_status"] == "ready", done
        # The installer's own progress, as it prints it: a percentage before the end.
        download = [line for line in stderr.splitlines() if "download-runtime" in line]
        assert download[0].endswith("download-runtime started"), stderr
        assert re.search(r"running \(\d+\.\d s\): (25|50|75)\.0%$", "\n".join(download), re.M)
        assert re.search(r"download-runtime done \(\d+\.\d s\)$", download[-1]), stderr
        assert runtime_env(port)["OLLAMA_CONTEXT_LENGTH"] == "8192"

        ensure = ["model-ensure", "--model", SMALL_MODEL]
        code, denied, stderr = asm_inference(env, *ensure, "--execute", "--confirm")
        assert code == 1 and denied["error_class"] == "policy_denied", stderr

        too_big = [*ensure, "--execute", "--confirm", "--allow-download", "--max-size", "1000"]
        code, refused, _ = asm_inference(env, *too_big)
        assert code == 1 and refused["error_class"] == "policy_denied"

        pull = [*ensure, "--execute", "--confirm", "--allow-download", "--progress"]
        code, pulled, stderr = asm_inference(env, *pull)
        assert code == 0 and pulled["actions"] == ["ensure-model", "pull-model"], stderr
        assert SMALL_MODEL in stderr and "100%" in stderr  # the download bar was drawn

        code, present, _ = asm_inference(env, *pull)
        assert code == 0 and present["actions"] == ["ensure-model"]  # nothing downloaded

        code, status, _ = asm_inference(env, "status")
        assert code == 0 and status["runtime_status"] == "ready"
        assert status["models"] == [SMALL_MODEL]  # the too-big refusal left nothing

        checks = ["--check", "loopback-only", "--check", "runtime-ready", "--check", "model-ready"]
        code, verified, _ = asm_inference(env, "verify", *checks)
        assert code == 0, verified
        assert [c["name"] for c in verified["checks"]] == [
            "loopback-only",
            "runtime-ready",
            "model-ready",
        ]
        assert all(check["ok"] for check in verified["checks"])

        slow = ["model-ensure", "--model", "qwen2.5:0.5b", "--execute", "--confirm"]
        code, _, stderr = asm_inference(env, *slow, "--allow-download", "--timeout", "1")
        assert code == 1 and "within 1 s" in stderr
    assert not is_listening(port)  # asm serve stopped its supervised runtime
