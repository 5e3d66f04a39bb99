"""Finding and reading ``asm.toml`` for the commands (``--config``, else ``./asm.toml``).

Every command that takes ``--config`` reads it the same way, so a missing file means
the defaults and a bad one is a :class:`~contracts.config.ConfigError` whose message
starts with the file's path, then the table and key
(``asm.toml: invalid configuration: [nodes.gpu].runnr: unknown key …``)::

    config = load_config(args.config)  # None: ./asm.toml when present, else defaults
"""

from __future__ import annotations

from pathlib import Path

from contracts.config import Config, ConfigError, parse_config

__all__ = ["config_path", "load_config"]


def config_path(path: str | None) -> str | None:
    """The file :func:`load_config` reads: ``path``, else ``./asm.toml`` when it exists."""
    if path is not None:
        return path
    return "asm.toml" if Path("asm.toml").is_file() else None


def load_config(path: str | None) -> Config:
    """``path`` parsed, else ``./asm.toml`` when it exists, else the defaults."""
    path = config_path(path)
    if path is None:
        return Config()
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return parse_config(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
