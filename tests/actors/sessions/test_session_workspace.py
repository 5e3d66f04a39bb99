"""What a session puts in its private directory for its CLI: login links, probe output,
the conversation's files."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
from pathlib import Path

import trio

from actors.sessions import Session, SessionActor, SessionSpec
from contracts.conversation import Conversation, Turn
from tests.actors.sessions.sessions import fake_spec, until


def _operator_codex_home(tmp_path: Path) -> Path:
    home = tmp_path / "operator-codex"
    home.mkdir()
    (home / "auth.json").write_text('{"OPENAI_API_KEY": "sk-operator"}')
    return home


def _workspace(tmp_path: Path) -> Path:
    [root] = (tmp_path / "sessions").glob("asm-codex-*")
    return root


def _parked_codex(tmp_path: Path, *, isolate: bool) -> tuple[Path, SessionSpec]:
    """The operator's CODEX_HOME (with a login) and a spec of a codex that stays parked."""
    operator = _operator_codex_home(tmp_path)
    env = {"CODEX_HOME": str(operator)}
    spec = fake_spec("codex", tmp_path, mode="silent_start", extra_env=env)
    return operator, dataclasses.replace(spec, isolate_home=isolate)


async def test_codex_gets_its_own_codex_home_linked_to_the_operators_login(
    tmp_path: Path,
) -> None:
    operator, spec = _parked_codex(tmp_path, isolate=False)
    async with trio.open_nursery() as nursery:
        session: Session = await nursery.start(SessionActor(spec).run)
        root = _workspace(tmp_path)
        link = root / "codex-home" / "auth.json"
        assert link.is_symlink() and Path(os.readlink(link)) == operator / "auth.json"
        # The probe's catalog (fake codex: `debug models`) is there without the tools.
        catalog = json.loads((root / "model-catalog.json").read_text())
        assert catalog["models"][0]["slug"] == "gpt-5"
        assert "apply_patch_tool_type" not in catalog["models"][0]
        environ = Path(f"/proc/{session.pid}/environ")
        seen: list[bytes] = []  # one reading: the fake may exit (silent_start) just after

        def exec_done() -> bool:
            seen[:] = [environ.read_bytes()]
            return b"CODEX_HOME=" in seen[0]

        await until(exec_done)
        assert f"CODEX_HOME={root / 'codex-home'}".encode() in seen[0].split(b"\0")
        session.cancel()


async def test_an_isolated_codex_gets_a_read_only_copy_of_the_login(tmp_path: Path) -> None:
    _, spec = _parked_codex(tmp_path, isolate=True)
    async with trio.open_nursery() as nursery:
        session: Session = await nursery.start(SessionActor(spec).run)
        copy = _workspace(tmp_path) / "codex-home" / "auth.json"
        assert not copy.is_symlink()
        assert stat.S_IMODE(copy.stat().st_mode) == 0o400
        assert copy.read_text() == '{"OPENAI_API_KEY": "sk-operator"}'
        session.cancel()


async def test_codex_reads_the_transcript_written_after_it_parked(tmp_path: Path) -> None:
    record = tmp_path / "record"
    record.mkdir()
    spec = fake_spec("codex", tmp_path, extra_env={"FAKE_CLI_RECORD_DIR": str(record)})
    chat = Conversation(
        system="Be brief.",
        turns=(Turn("user", "one"), Turn("assistant", "uno"), Turn("user", "two")),
    )
    async with trio.open_nursery() as nursery:
        session: Session = await nursery.start(SessionActor(spec).run)
        await trio.sleep(0.3)  # parked: its transcript does not exist yet
        async with session.stream(chat) as events:
            _ = [event async for event in events]
    [received] = [json.loads(path.read_text()) for path in record.glob("*.json")]
    assert received["system"] == "Be brief."
    assert received["turns"] == [["user", "one"], ["assistant", "uno"], ["user", "two"]]
