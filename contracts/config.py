"""The ``asm.toml`` configuration: typed, validated once, with every default in one place.

Sections grow with the capabilities behind them; unknown keys and unknown providers are
refused so a typo is an error, not a silently ignored setting, and every message names
the table and the key (``[nodes.gpu].port``), never a value::

    >>> from contracts.config import ConfigError, parse_config
    >>> config = parse_config(b'[providers.claude]\\npool_size = 2\\n')
    >>> config.providers["claude"].pool_size
    2
    >>> config.sessions.first_event_timeout
    60.0
    >>> try:
    ...     parse_config(b'[providers.claud]\\n')
    ... except ConfigError as error:
    ...     print(error)
    invalid configuration: [providers.claud]: unknown provider (known: amp, claude, codex, gemini)

Config files may name secrets only through the environment they hand a CLI, or as
``secret://deployment/<name>`` references (``[nodes.<id>]``, :mod:`contracts.nodes`);
the session logs never print a provider's environment.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Final, Literal

import msgspec

from contracts.nodes import NodeSettings, SecretsSettings, validate_node_ids
from contracts.providers import PROFILES

__all__ = [
    "ARGV_MAX_CHARS",
    "Config",
    "ConfigError",
    "LeaseSettings",
    "NodeSettings",
    "ProviderSettings",
    "SecretsSettings",
    "ServerSettings",
    "SessionSettings",
    "parse_config",
]

_Seconds = Annotated[float, msgspec.Meta(gt=0)]


class ProviderSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[providers.<id>]``: how to run one provider's CLI.

    ``executable`` is used when ``ASM_<PROVIDER>_BIN`` is unset (SPEC §4.1);
    ``extra_args`` go after the completion-only flags (e.g. a codex model provider);
    ``env`` is added to the scrubbed environment (e.g. a base URL); ``pool_size`` parked
    sessions are kept per lease (SPEC §4.5). ``persona``: ``completion`` (the default) gives
    the model the client's system prompt in place of the CLI's agent persona; ``agent``
    keeps the CLI's own system prompt, the client's system text added to it.

    ``executable``, ``extra_args`` and ``env`` reach the CLI's command line and
    environment, so each is printable text (``str.isprintable``: no NUL, no control or
    format character, no separator but the space) of at most :data:`ARGV_MAX_CHARS`
    characters; a variable's name is also non-empty, without
    ``=`` or whitespace. A message names the key, never the value (it may be a secret).
    """

    executable: str | None = None
    extra_args: tuple[str, ...] = ()
    env: dict[str, str] = {}
    isolate_home: bool = False
    pool_size: Annotated[int, msgspec.Meta(ge=0, le=16)] | None = None
    persona: Literal["completion", "agent"] = "completion"
    mode: Literal["spawn", "worker"] | None = None
    workers: Annotated[int, msgspec.Meta(ge=1, le=16)] = 2

    def __post_init__(self) -> None:
        if self.executable is not None and (problem := _argv_problem(self.executable)):
            raise ValueError(f"executable {problem}")
        for number, argument in enumerate(self.extra_args):
            if problem := _argv_problem(argument):
                raise ValueError(f"extra_args[{number}] {problem}")
        for name, value in self.env.items():
            if not name or _argv_problem(name) or "=" in name or " " in name:
                raise ValueError("env: a variable name must be printable, without '=' or spaces")
            if problem := _argv_problem(value):
                raise ValueError(f"env.{name} {problem}")


ARGV_MAX_CHARS: Final = 4096
"""The longest string a configuration hands a CLI's command line or environment."""


def _argv_problem(text: str) -> str | None:
    """Why ``text`` may not reach a command line, or None (the value is never quoted)."""
    if len(text) > ARGV_MAX_CHARS:
        return f"is {len(text)} characters; at most {ARGV_MAX_CHARS}"
    if not text.isprintable():
        return "must be printable text (no NUL, no control character)"
    return None


class SessionSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[sessions]``: the timers and the shutdown ladder of every CLI session (SPEC §4.4)."""

    first_event_timeout: _Seconds = 60.0
    idle_timeout: _Seconds = 300.0
    run_timeout: _Seconds = 600.0
    exit_grace: _Seconds = 2.0
    terminate_grace: _Seconds = 3.0


class LeaseSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[leases]``: how long an endpoint lease lives and what it may run (SPEC §2.4).

    ``ttl_seconds`` and ``idle_seconds`` are off unless set; a request's context may
    shorten them (``lease_ttl_seconds``, ``lease_idle_seconds``). ``pool_size`` is the
    warm pool of a lease whose provider sets none (SPEC §4.5: 0 embedded, ``asm serve``
    makes it 1).
    """

    ttl_seconds: _Seconds | None = None
    idle_seconds: _Seconds | None = None
    max_sessions: Annotated[int, msgspec.Meta(ge=1, le=1024)] = 8
    pool_size: Annotated[int, msgspec.Meta(ge=0, le=16)] | None = None


class ServerSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[server]``: where the loopback HTTP surface listens (SPEC §3, §7)."""

    bind: str = "127.0.0.1:8787"
    keepalive_seconds: _Seconds = 15.0


class Config(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The whole configuration; ``Config()`` is the default."""

    providers: dict[str, ProviderSettings] = {}
    sessions: SessionSettings = msgspec.field(default_factory=SessionSettings)
    leases: LeaseSettings = msgspec.field(default_factory=LeaseSettings)
    server: ServerSettings = msgspec.field(default_factory=ServerSettings)
    nodes: dict[str, NodeSettings] = {}
    secrets: SecretsSettings = msgspec.field(default_factory=SecretsSettings)

    def provider(self, provider_id: str) -> ProviderSettings:
        """The settings of ``provider_id``, defaults when the file does not name it."""
        return self.providers.get(provider_id) or ProviderSettings()

    def mode_of(self, provider_id: str) -> Literal["spawn", "worker"]:
        """How ``provider_id``'s completions run: its ``mode``, else its profile's default."""
        chosen = self.provider(provider_id).mode
        if chosen is not None:
            return chosen
        known = PROFILES.get(provider_id)
        return known.default_mode if known is not None else "spawn"


class ConfigError(ValueError):
    """The configuration is not valid; the message names the key and the reason."""


def parse_config(data: bytes | str) -> Config:
    """Parse and validate TOML text; raises :class:`ConfigError` with a clear message.

    Rules: config_unknown_keys_refused (``[<table>].<key>: unknown key``),
    config_unknown_provider_refused (``[providers.<id>]: unknown provider``), and every
    other message starts with the table it is about (config_errors_name_the_table).
    """
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(
                f"configuration is not valid TOML: not UTF-8 ({exc.reason})"
            ) from None
    try:
        raw = msgspec.toml.decode(data)
    except msgspec.DecodeError as exc:
        raise ConfigError(f"configuration is not valid TOML: {exc}") from None
    try:
        return _config(raw)
    except ValueError as exc:
        raise ConfigError(f"invalid configuration: {exc}") from None


_SECTIONS: Final[dict[str, type[msgspec.Struct]]] = {
    "sessions": SessionSettings,
    "leases": LeaseSettings,
    "server": ServerSettings,
    "secrets": SecretsSettings,
}
_PLAIN_NAME: Final = re.compile(r"[A-Za-z0-9_-]{1,64}").fullmatch
_AT_PATH: Final = re.compile(r"^(?P<reason>.*) - at `\$(?P<path>.*)`$", re.DOTALL)


def _config(raw: dict[str, Any]) -> Config:
    """The checked :class:`Config` of a decoded TOML document (``ValueError`` otherwise)."""
    _refuse_unknown(raw, Config, "")
    parts: dict[str, Any] = {
        name: _convert(raw[name], section, f"[{name}]")
        for name, section in _SECTIONS.items()
        if name in raw
    }
    providers = _table(raw, "providers")
    for provider_id in providers:
        if provider_id not in PROFILES:
            known = ", ".join(sorted(PROFILES))
            raise ValueError(f"[providers.{_name(provider_id)}]: unknown provider (known: {known})")
    parts["providers"] = {
        provider_id: _convert(settings, ProviderSettings, f"[providers.{provider_id}]")
        for provider_id, settings in providers.items()
    }
    for provider_id, settings in parts["providers"].items():
        if settings.mode == "worker" and PROFILES[provider_id].server_mode is None:
            servers = ", ".join(sorted(p for p, f in PROFILES.items() if f.server_mode))
            raise ValueError(
                f"[providers.{provider_id}].mode: {provider_id} has no server mode, so it"
                f' cannot run as a worker; use mode = "spawn" (workers run: {servers})'
            )
    nodes = _table(raw, "nodes")
    validate_node_ids(nodes)
    parts["nodes"] = {
        node_id: _convert(settings, NodeSettings, f"[nodes.{node_id}]")
        for node_id, settings in nodes.items()
    }
    return Config(**parts)


def _table(raw: dict[str, Any], name: str) -> dict[str, Any]:
    value = raw.get(name, {})
    if not isinstance(value, dict):
        raise ValueError(f"{name}: must be a table ([{name}.<id>])")
    return value


def _convert(value: object, kind: type[msgspec.Struct], table: str) -> Any:
    """``value`` as ``kind``; a message starts with ``table`` and names the key."""
    if isinstance(value, dict):
        _refuse_unknown(value, kind, table)
    try:
        return msgspec.convert(value, kind)
    except msgspec.ValidationError as exc:
        text = str(exc)
        if (at := _AT_PATH.match(text)) is not None:
            path = at["path"].removeprefix(".")
            key = f".{path}" if path and not path.startswith("[") else path
            raise ValueError(f"{table}{key}: {at['reason']}") from None
        raise ValueError(f"{table}: {text}") from None


def _refuse_unknown(value: dict[str, Any], kind: type[msgspec.Struct], table: str) -> None:
    known = {field.encode_name for field in msgspec.structs.fields(kind)}
    for key in value:
        if key not in known:
            where = f"{table}.{_name(key)}" if table else _name(key)
            raise ValueError(f"{where}: unknown key (known: {', '.join(sorted(known))})")


def _name(key: str) -> str:
    """A key as written when plain, else quoted (it may hold any character)."""
    return key if _PLAIN_NAME(key) is not None else repr(key)
