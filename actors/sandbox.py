"""The private directory and environment of one CLI session (SPEC §4.3).

Every session runs in a directory of its own, removed afterwards::

    sandbox = Sandbox.create(work_root, "claude")
    env = sandbox.environment(scrubbed_env, isolate=False)
    ...spawn with cwd=sandbox.cwd and env...
    await sandbox.remove()

Inside: ``work/`` (the CLI's working directory: empty, so no project settings, ``.env``
or repository is found there), ``tmp/`` (its TMPDIR) and, with ``isolate_home``,
``home/`` holding read-only copies of the CLI's login files and nothing else of the
operator's home.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import trio

__all__ = ["Sandbox", "redact", "seed_home"]

_MIN_SECRET = 8  # shorter values would cut ordinary words out of the text


@dataclass(frozen=True)
class Sandbox:
    """One session's private directory."""

    root: Path

    @classmethod
    def create(cls, work_root: str, provider: str) -> Sandbox:
        """A fresh private directory (0700) under ``work_root`` with ``work/`` and ``tmp/``."""
        root = Path(tempfile.mkdtemp(prefix=f"asm-{provider}-", dir=work_root))
        for name in ("work", "tmp"):
            (root / name).mkdir(mode=0o700)
        return cls(root)

    @property
    def cwd(self) -> str:
        return str(self.root / "work")

    def environment(
        self,
        env: Mapping[str, str],
        *,
        isolate_home: bool = False,
        operator_home: str | None = None,
        credential_files: Sequence[str] = (),
    ) -> dict[str, str]:
        """``env`` with TMPDIR (and HOME, when isolated) pointing into the sandbox."""
        result = dict(env)
        result["TMPDIR"] = str(self.root / "tmp")
        if isolate_home:
            home = seed_home(self.root / "home", operator_home, credential_files)
            result["HOME"] = str(home)
        return result

    async def remove(self) -> None:
        """Remove the sandbox, in a thread: even an empty directory can hold the loop for ms."""
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(shutil.rmtree, self.root, True)


def seed_home(home: Path, operator_home: str | None, credential_files: Sequence[str]) -> Path:
    """A private HOME holding read-only copies of the CLI's login files, nothing else."""
    home.mkdir(mode=0o700)
    source = Path(operator_home) if operator_home else None
    for relative in credential_files:
        original = source / relative if source is not None else None
        if original is None or not original.is_file():
            continue
        copy = home / relative
        copy.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        shutil.copyfile(original, copy)
        copy.chmod(0o400)
    return home


def redact(text: str, env: Mapping[str, str], names: Sequence[str]) -> str:
    """``text`` with the values of the variables ``names`` (from ``env``) cut out.

    >>> redact("bad key sk-0123456789", {"API_KEY": "sk-0123456789"}, ["API_KEY"])
    'bad key [redacted]'
    """
    for name in names:
        value = env.get(name, "")
        if len(value) >= _MIN_SECRET:
            text = text.replace(value, "[redacted]")
    return text
