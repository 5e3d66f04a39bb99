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

__all__ = ["load_config"]


def load_config(path: str | None) -> Config:
    """``path`` parsed, else ``./asm.toml`` when it exists, else the defaults."""
    if path is None:
        default = Path("asm.toml")
        if not default.is_file():
            return Config()
        path = str(default)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return parse_config(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
