"""``asm inference install --execute`` through ``asm serve``: the provider's step reports
reach the operator's stderr as ``bus.inference.install.progress`` events (the fake Ollama,
installed by the fake installer into a temporary prefix)."""

from __future__ import annotations

from pathlib import Path

from tests.actors.ollama.ollama_nodes import free_port, is_listening
from tests.integration.test_ollama_operator_path import asm_inference, serving


def test_an_executed_install_shows_each_step_on_stderr(tmp_path: Path) -> None:
    port = free_port()
    with serving(tmp_path, port) as env:
        listen = ["--runtime-listen", f"127.0.0.1:{port}"]
        code, plan, quiet = asm_inference(env, "install", *listen)
        assert code == 0 and plan["ok"], plan
        assert quiet == ""  # a dry run takes no step

        code, done, stderr = asm_inference(env, "install", *listen, "--execute", "--confirm")
        assert code == 0 and done["runtime_status"] == "ready", done
        steps = len(done["actions"])
        lines = stderr.splitlines()
        for step, action in enumerate(done["actions"], start=1):
            assert f"asm inference install: [{step}/{steps}] {action} started" in lines
            done_line = f"asm inference install: [{step}/{steps}] {action} done ("
            assert any(line.startswith(done_line) for line in lines), stderr
        assert is_listening(port)
