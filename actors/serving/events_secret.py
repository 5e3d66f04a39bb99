"""The secret that signs and verifies Bus API tokens (BUS.md §2.3, SPEC §7).

    secret = events_secret(Path(".asm"), os.environ)

``$BUS_API_JWT_SECRET`` when it is set, else ``<state-dir>/events.secret``: made on
first use by ``asm serve`` (32 random bytes, hex, mode 0600) and read ever after.
``asm token issue`` only reads it (``create=False``): a secret it made would sign
tokens no server accepts, so a state directory without one is an error naming it::

    secret = events_secret(state_dir, os.environ, create=False)  # EventsSecretError if none

The file appears whole or not at all: it is written under a temporary name and linked
into place, so two processes starting at once end up with the same secret. A file that
its group or others may read is refused, not repaired: whoever could read it could
have issued tokens already, and the operator should know (make a new one by deleting
it).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Final

__all__ = ["SECRET_ENV", "SECRET_FILE", "EventsSecretError", "events_secret"]

SECRET_ENV: Final = "BUS_API_JWT_SECRET"
SECRET_FILE: Final = "events.secret"
MIN_SECRET_BYTES: Final = 32
"""RFC 7518 §3.2: an HS256 key as long as the hash at least (256 bits)."""


class EventsSecretError(Exception):
    """The secret cannot be had; the message says what to do and never holds the secret."""


def events_secret(state_dir: Path, environ: Mapping[str, str], *, create: bool = True) -> bytes:
    """The token secret from ``environ`` or ``state_dir/events.secret`` (made if missing
    and ``create``; else :class:`EventsSecretError`)."""
    from_environ = environ.get(SECRET_ENV, "").strip()
    if from_environ:
        secret = from_environ.encode()
        if len(secret) < MIN_SECRET_BYTES:
            raise EventsSecretError(
                f"${SECRET_ENV} is shorter than {MIN_SECRET_BYTES} bytes; "
                "use e.g. `openssl rand -hex 32`"
            )
        return secret
    path = state_dir / SECRET_FILE
    try:
        return _read(path)
    except FileNotFoundError:
        if not create:
            raise EventsSecretError(
                f"{state_dir} has no events secret ({SECRET_FILE}): no asm server has used"
                " this state directory"
            ) from None
    _create(path)
    return _read(path)


def _read(path: Path) -> bytes:
    try:
        with path.open("rb") as file:
            mode = os.fstat(file.fileno()).st_mode
            secret = file.read().strip()
    except FileNotFoundError:
        raise
    except OSError as error:
        raise EventsSecretError(f"cannot read {path}: {error.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise EventsSecretError(
            f"{path} is open to its group or others (mode {stat.S_IMODE(mode):04o}); "
            f"delete it to have a new one made (tokens signed with it stop working), "
            f"or chmod 600 it if nobody else could have read it"
        )
    if len(secret) < MIN_SECRET_BYTES:
        raise EventsSecretError(
            f"{path} holds fewer than {MIN_SECRET_BYTES} bytes; delete it to have a new one made"
        )
    return secret


def _create(path: Path) -> None:
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = path.with_name(f".{SECRET_FILE}.{secrets.token_hex(8)}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "w") as file:
                file.write(secrets.token_hex(MIN_SECRET_BYTES) + "\n")
                file.flush()
                os.fsync(file.fileno())
            # Fails if another process made it first: theirs is kept, and read by both.
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
    except OSError as error:
        raise EventsSecretError(f"cannot create {path}: {error.strerror}") from None
