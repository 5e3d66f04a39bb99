"""The secret resolver: ``secret://deployment/<name>`` to its value (BUS.md §4.3).

    resolver = SecretResolver(Path(".asm/secrets"), os.environ)
    key = resolver.resolve("secret://deployment/gpu-1-key")
    print(scrub(diagnostic, resolver.known_values()))

A reference resolves to the file ``<secrets_dir>/<name>`` first, then to the environment
variable ``BUS_SECRET_<NAME>`` (upper case, ``-`` and ``.`` become ``_``). A file must be
mode 0600 (or stricter): one its group or others may use is refused, not read, since
whoever could read it has the secret already and the operator should know. One trailing
newline of a file is dropped (editors add it); an empty file or variable is no secret.

Values never appear in an exception, a repr or a log line: :class:`SecretNotFound`
names the reference only, and :func:`scrub` takes the values a resolver handed out out
of any text bound for a diagnostic.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Final

from contracts.inference import SECRET_REF_PREFIX, secret_ref_ok

__all__ = [
    "ENV_PREFIX",
    "MIN_SCRUBBED_LENGTH",
    "SecretNotFound",
    "SecretRefused",
    "SecretResolver",
    "environment_name",
    "scrub",
]

ENV_PREFIX: Final = "BUS_SECRET_"
MIN_SCRUBBED_LENGTH: Final = 4
"""Shorter values are not scrubbed: replacing every "ab" in a text hides nothing."""


class SecretNotFound(Exception):
    """A reference that does not resolve (error_class secret_not_found).

    ``reference`` is the reference as given; the message names it, never a value. A
    malformed reference is not repeated in the message: it may be an inline secret.
    """

    def __init__(self, reference: str, reason: str = "") -> None:
        self.reference = reference
        if secret_ref_ok(reference) is None:
            message = f"not a secret reference ({SECRET_REF_PREFIX}<name>)"
        else:
            message = f"{reference} does not resolve" + (f": {reason}" if reason else "")
        super().__init__(message)


class SecretRefused(SecretNotFound):
    """The reference names a file that exists but may not be used (mode, encoding)."""


def environment_name(name: str) -> str:
    """The environment variable of secret ``name``: ``BUS_SECRET_<NAME>``."""
    return ENV_PREFIX + name.upper().replace("-", "_").replace(".", "_")


class SecretResolver:
    """Resolves references from a secrets directory (optional) and an environment.

    Remembers every value it handed out, so callers can :func:`scrub` diagnostics.
    """

    def __init__(self, secrets_dir: Path | None, environ: Mapping[str, str]) -> None:
        self._dir = secrets_dir
        self._environ = environ
        self._resolved: dict[str, None] = {}  # an ordered set of values

    def __repr__(self) -> str:
        return f"SecretResolver(secrets_dir={self._dir!r})"

    def resolve(self, reference: str) -> str:
        """The value of ``reference``; raises :class:`SecretNotFound` when it has none."""
        value = self._lookup(reference)
        self._resolved[value] = None
        return value

    def exists(self, reference: str) -> bool:
        """True when ``reference`` resolves (the value is not remembered)."""
        try:
            self._lookup(reference)
        except SecretNotFound:
            return False
        return True

    def known_values(self) -> list[str]:
        """Every value :meth:`resolve` has returned so far, for :func:`scrub`."""
        return list(self._resolved)

    def _lookup(self, reference: str) -> str:
        if secret_ref_ok(reference) is None:
            raise SecretNotFound(reference)
        name = reference.removeprefix(SECRET_REF_PREFIX)
        if self._dir is not None:
            value = _read_file(reference, self._dir / name)
            if value is not None:
                return value
        value = self._environ.get(environment_name(name), "")
        if not value:
            where = f"no file {name} in the secrets directory and " if self._dir else ""
            raise SecretNotFound(reference, f"{where}no ${environment_name(name)}")
        return value


def _read_file(reference: str, path: Path) -> str | None:
    """The value in ``path``, ``None`` when there is no such file."""
    try:
        with path.open("rb") as file:
            mode = os.fstat(file.fileno()).st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise SecretRefused(
                    reference,
                    f"its file must be 0600, not {stat.S_IMODE(mode):04o} "
                    "(open to its group or others)",
                )
            data = file.read()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise SecretRefused(reference, f"its file cannot be read ({error.strerror})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretRefused(reference, "its file is not UTF-8 text") from None
    text = text.removesuffix("\r\n") if text.endswith("\r\n") else text.removesuffix("\n")
    if not text:
        raise SecretRefused(reference, "its file is empty")
    return text


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret value of at least 4 characters replaced by ``***``.

    Longer values go first, so a value that contains another is hidden whole.
    """
    for value in sorted(set(secrets), key=len, reverse=True):
        if len(value) >= MIN_SCRUBBED_LENGTH:
            text = text.replace(value, "***")
    return text
