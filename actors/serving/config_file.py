"""Finding and reading ``asm.toml`` for the commands (``--config``, else ``./asm.toml``)."""

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
    return parse_config(data)
