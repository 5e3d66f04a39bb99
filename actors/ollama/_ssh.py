"""The pieces of running a command through OpenSSH: its argv, the remote line, the key file.

:class:`actors.ollama.SshRunner` puts them together; they are here so each can be read
(and tested) on its own::

    with key_file(private_key) as path:
        command = remote_command(["uname", "-a"], {})
        argv = ssh_argv("ssh", "10.0.0.5", user="ops", port=22, identity=path, command=command)

The key is written for one command into a fresh 0700 directory as a 0600 file, and the
directory is removed when the command is over, whatever ended it. Neither the key nor
the file's path may reach a diagnostic: :func:`hidden_values` lists what to scrub.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Final

__all__ = ["SSH_OPTIONS", "hidden_values", "key_file", "remote_command", "ssh_argv"]

SSH_OPTIONS: Final = (
    "-o",
    "BatchMode=yes",  # never prompt: no terminal is there to answer
    "-o",
    "StrictHostKeyChecking=accept-new",
    "-o",
    "ConnectTimeout=10",
)
_ENV_NAME_OK: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*").fullmatch


def remote_command(argv: Sequence[str], env: Mapping[str, str]) -> str:
    """The command line the remote shell runs: ``argv`` quoted, under ``env K=V`` if any.

    ``argv`` is a program and its arguments, as for a local run (``sh -c`` for shell
    syntax). Assignments go through ``env(1)`` rather than as ``K=V`` words, since a
    quoted assignment is no assignment to a shell. They are on the ssh command line, so
    a secret belongs on stdin, not in ``env``.
    """
    if not argv:
        raise ValueError("argv is empty")
    for name in env:
        if _ENV_NAME_OK(name) is None:
            raise ValueError(f"not an environment variable name: {name!r}")
    assignments = [f"{name}={value}" for name, value in env.items()]
    return shlex.join(["env", *assignments, *argv] if assignments else argv)


def ssh_argv(
    ssh_executable: str,
    host: str,
    *,
    user: str | None,
    port: int,
    identity: Path | None,
    command: str,
) -> list[str]:
    """The OpenSSH client's argv; ``--`` ends the options before the destination."""
    argv = [ssh_executable, *SSH_OPTIONS, "-p", str(port)]
    if identity is not None:
        argv += ["-i", str(identity), "-o", "IdentitiesOnly=yes"]
    destination = f"{user}@{host}" if user else host
    return [*argv, "--", destination, command]


@contextlib.contextmanager
def key_file(private_key: str) -> Iterator[Path]:
    """A 0600 file holding ``private_key`` in a new 0700 directory, removed on exit."""
    directory = Path(tempfile.mkdtemp(prefix="asm-ssh-"))  # mode 0700
    try:
        path = directory / "id"
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            # OpenSSH refuses a key whose last line has no newline.
            file.write(private_key if private_key.endswith("\n") else private_key + "\n")
        yield path
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def hidden_values(private_key: str, identity: Path) -> list[str]:
    """What must not reach a diagnostic: the key, each of its lines, the file's directory."""
    return [private_key, *private_key.splitlines(), str(identity.parent)]
