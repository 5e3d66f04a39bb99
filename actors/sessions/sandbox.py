"""The private directory and environment of one CLI session (SPEC §4.3).

Every session runs in a directory of its own, removed afterwards::

    sandbox = Sandbox.create(work_root, "claude")
    env = sandbox.environment(scrubbed_env, isolate=False)
    ...spawn with cwd=sandbox.cwd and env...
    await sandbox.remove()

Inside: ``work/`` (the CLI's working directory: empty, so no project settings, ``.env``
or repository is found there), ``tmp/`` (its TMPDIR) and, with ``isolate_home``,
``home/`` holding read-only copies of the CLI's login files and nothing else of the
operator's home. Beside them go what the provider's driver asks for
(``contracts.providers._delivery``): the files a CLI reads at start-up and later (a
system prompt, a transcript), and links to the login files it must find at a path of
its own (codex's private ``CODEX_HOME``)::

    sandbox.place(launch, copy_links=False)   # before the spawn
    sandbox.write(delivery.files)             # once the conversation is known
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import trio

from contracts.providers import Launch

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

    def place(self, launch: Launch, *, copy_links: bool) -> None:
        """Make ``launch``'s directories, write its files and link its login files.

        A login file is a symlink to the operator's (so a CLI that refreshes its token
        writes it back), or a read-only copy with ``copy_links`` (an isolated home). A
        source that does not exist is left out: the CLI then logs in another way.
        """
        for relative in launch.dirs:
            self._inside(relative).mkdir(mode=0o700, parents=True, exist_ok=True)
        self.write(launch.files)
        for relative, source in launch.links:
            target, origin = self._inside(relative), Path(source)
            if not origin.is_file():
                continue
            target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            if target.is_symlink() or target.exists():
                target.unlink()  # placed again (after a probe): the same link, anew
            if copy_links:
                shutil.copyfile(origin, target)
                target.chmod(0o400)
            else:
                target.symlink_to(origin)

    def write(self, files: Mapping[str, bytes]) -> None:
        """Write ``files`` (paths relative to the sandbox) with mode 0600."""
        for relative, content in files.items():
            target = self._inside(relative)
            target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(content)

    def _inside(self, relative: str) -> Path:
        parts = PurePosixPath(relative).parts
        if not parts or relative.startswith("/") or ".." in parts:
            raise ValueError(f"not a path inside the sandbox: {relative!r}")
        return self.root.joinpath(*parts)

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
