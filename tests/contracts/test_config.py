"""``asm.toml``: defaults, and a property test per validation rule of the config."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.config import (
    Config,
    ConfigError,
    LeaseSettings,
    NodeSettings,
    ProviderSettings,
    SecretsSettings,
    ServerSettings,
    SessionSettings,
    parse_config,
)
from contracts.providers import PROFILES

_PROVIDER_IDS = frozenset(PROFILES)

_KEY = st.from_regex(r"[a-z][a-z_]{0,12}", fullmatch=True)
_SECTIONS = ("", "[sessions]\n", "[providers.claude]\n")
_KNOWN = {
    "": {"providers", "sessions"},
    "[sessions]\n": {
        "first_event_timeout",
        "idle_timeout",
        "run_timeout",
        "exit_grace",
        "terminate_grace",
    },
    "[providers.claude]\n": {"executable", "extra_args", "env", "isolate_home", "pool_size"},
}


def test_an_empty_file_gives_the_spec_defaults() -> None:
    config = parse_config(b"")
    assert config == Config()
    sessions = config.sessions
    assert (sessions.first_event_timeout, sessions.idle_timeout, sessions.run_timeout) == (
        60.0,
        300.0,
        600.0,
    )
    assert (sessions.exit_grace, sessions.terminate_grace) == (2.0, 3.0)
    assert config.provider("claude").pool_size is None


def test_a_provider_section_is_read() -> None:
    config = parse_config(
        b'[providers.codex]\nexecutable = "/opt/codex"\nextra_args = ["--config=a=1"]\n'
        b'isolate_home = true\npool_size = 2\n[providers.codex.env]\nX = "y"\n'
    )
    codex = config.provider("codex")
    assert codex.executable == "/opt/codex"
    assert codex.extra_args == ("--config=a=1",)
    assert codex.isolate_home is True
    assert codex.pool_size == 2
    assert codex.env == {"X": "y"}


@given(st.sampled_from(_SECTIONS), _KEY)
def test_config_unknown_keys_refused(section: str, key: str) -> None:
    """Rule config_unknown_keys_refused: a key the config does not know is an error."""
    if key in _KNOWN[section]:
        return
    with pytest.raises(ConfigError, match=key):
        parse_config(f"{section}{key} = 1\n")


@given(st.integers())
def test_config_pool_size_range(size: int) -> None:
    """Rule config_pool_size_range: pool_size is an integer from 0 to 16."""
    text = f"[providers.claude]\npool_size = {size}\n"
    if 0 <= size <= 16:
        assert parse_config(text).provider("claude").pool_size == size
    else:
        with pytest.raises(ConfigError, match="pool_size"):
            parse_config(text)


@given(
    st.sampled_from(sorted(_KNOWN["[sessions]\n"])),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e9, max_value=1e9),
)
def test_config_timers_positive(key: str, seconds: float) -> None:
    """Rule config_timers_positive: every timer and grace period is a positive number."""
    text = f"[sessions]\n{key} = {seconds!r}\n"
    if seconds > 0:
        assert getattr(parse_config(text).sessions, key) == seconds
    else:
        with pytest.raises(ConfigError, match=key):
            parse_config(text)


@given(st.sampled_from(['"2"', "true", "[1]", "1.5"]))
def test_config_types_strict(value: str) -> None:
    """Rule config_types_strict: a value of the wrong TOML type is an error, not coerced."""
    with pytest.raises(ConfigError, match="pool_size"):
        parse_config(f"[providers.claude]\npool_size = {value}\n")


@given(st.binary(max_size=64))
def test_config_must_be_toml(data: bytes) -> None:
    """Rule config_must_be_toml: any bytes either parse or raise ConfigError, nothing else."""
    try:
        parse_config(data)
    except ConfigError as exc:
        assert str(exc).startswith(("invalid configuration", "configuration is not valid TOML"))


_TABLES = {
    "[sessions]": "[sessions]\n",
    "[leases]": "[leases]\n",
    "[server]": "[server]\n",
    "[secrets]": "[secrets]\n",
    "[providers.codex]": "[providers.codex]\n",
    "[nodes.gpu]": "[nodes.gpu]\n",
}


_PROVIDER_NAME = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=16)


@given(_PROVIDER_NAME.filter(lambda name: name not in _PROVIDER_IDS))
def test_config_unknown_provider_refused(name: str) -> None:
    """Rule config_unknown_provider_refused: [providers.<id>] names a known provider; the
    message names the table and lists the known ids."""
    text = f"[providers.{_quoted(name)}]\n"
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    message = str(caught.value)
    assert message.startswith("invalid configuration: [providers.")
    assert message.endswith("]: unknown provider (known: amp, claude, codex, gemini)")
    if re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name):
        assert f"[providers.{name}]" in message


@given(st.sampled_from(sorted(_PROVIDER_IDS)))
def test_config_unknown_provider_refused_known_ids_pass(name: str) -> None:
    """Rule config_unknown_provider_refused: each known id is accepted."""
    assert parse_config(f"[providers.{name}]\n").provider(name) == ProviderSettings()


def test_config_unknown_provider_refused_typo() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(b"[providers.claud]\npool_size = 1\n")
    assert str(caught.value) == (
        "invalid configuration: [providers.claud]: unknown provider "
        "(known: amp, claude, codex, gemini)"
    )


@given(st.sampled_from(sorted(_TABLES)), _KEY)
def test_config_unknown_keys_refused_name_the_table(table: str, key: str) -> None:
    """Rule config_unknown_keys_refused: the message reads ``<table>.<key>: unknown key``."""
    kind = {
        "[sessions]": SessionSettings,
        "[leases]": LeaseSettings,
        "[server]": ServerSettings,
        "[secrets]": SecretsSettings,
        "[providers.codex]": ProviderSettings,
        "[nodes.gpu]": NodeSettings,
    }[table]
    if key in kind.__struct_fields__:
        return
    with pytest.raises(ConfigError) as caught:
        parse_config(f"{_TABLES[table]}{key} = 1\n")
    assert str(caught.value).startswith(f"invalid configuration: {table}.{key}: unknown key")


def test_config_unknown_keys_refused_node_typo() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(b'[nodes.gpu]\nrunnr = "ssh"\n')
    assert str(caught.value).startswith("invalid configuration: [nodes.gpu].runnr: unknown key")


@given(
    st.sampled_from(
        [
            ("[nodes.gpu-1]\nport = 0\n", "[nodes.gpu-1].port: "),
            ('[nodes.gpu-1]\nrunner = "ftp"\n', "[nodes.gpu-1].runner: "),
            ('[nodes.gpu-1]\nrunner = "ssh"\n', '[nodes.gpu-1]: runner = "ssh" needs host'),
            ("[providers.amp]\npool_size = 99\n", "[providers.amp].pool_size: "),
            ('[providers.amp]\nextra_args = ["a", 1]\n', "[providers.amp].extra_args[1]: "),
            ("[sessions]\nidle_timeout = -1\n", "[sessions].idle_timeout: "),
            ("[server]\nbind = 1\n", "[server].bind: "),
        ]
    ),
    st.sampled_from(["", "[leases]\nmax_sessions = 2\n"]),
)
def test_config_errors_name_the_table(case: tuple[str, str], prefix_text: str) -> None:
    """Rule config_errors_name_the_table: a bad value's message starts with its table and
    key (``[nodes.gpu-1].port``), never ``$.nodes[...]``."""
    text, expected = case
    with pytest.raises(ConfigError) as caught:
        parse_config(prefix_text + text)
    message = str(caught.value)
    assert message.startswith(f"invalid configuration: {expected}")
    assert "$" not in message and "[...]" not in message


def _quoted(name: str) -> str:
    """``name`` as a TOML basic string, every character escaped."""
    return '"' + "".join(f"\\U{ord(char):08X}" for char in name) + '"'


@given(
    provider=st.sampled_from(sorted(_PROVIDER_IDS)),
    mode=st.sampled_from(["spawn", "worker"]),
    workers=st.integers(-3, 20),
)
def test_worker_mode_needs_a_server_mode(provider: str, mode: str, workers: int) -> None:
    """Rule worker_mode_needs_a_server_mode: ``mode = "worker"`` is accepted only for a CLI
    with a server mode (codex), and ``workers`` is 1 to 16; a refusal names the table and
    key, and for the mode which providers can run as workers."""
    text = f'[providers.{provider}]\nmode = "{mode}"\nworkers = {workers}\n'
    serves = PROFILES[provider].server_mode is not None
    if not 1 <= workers <= 16:
        with pytest.raises(ConfigError, match=rf"\[providers\.{provider}\]\.workers: "):
            parse_config(text)
    elif mode == "worker" and not serves:
        with pytest.raises(ConfigError) as caught:
            parse_config(text)
        assert f"[providers.{provider}].mode: {provider} has no server mode" in str(caught.value)
        assert "(workers run: codex, gemini)" in str(caught.value)
    else:
        parsed = parse_config(text)
        settings = parsed.provider(provider)
        assert (settings.mode, settings.workers) == (mode, workers)
        assert parsed.mode_of(provider) == mode


def test_worker_mode_needs_a_server_mode_defaults() -> None:
    """Rule worker_mode_needs_a_server_mode: without ``mode``, a provider runs as its
    profile says: codex as workers (they pass the real-CLI tier), the others spawned; a
    provider's default is never a mode it refuses."""
    assert {p: Config().mode_of(p) for p in sorted(_PROVIDER_IDS)} == {
        "amp": "spawn",
        "claude": "spawn",
        "codex": "worker",
        "gemini": "spawn",
    }
    assert all(PROFILES[p].server_mode for p in _PROVIDER_IDS if Config().mode_of(p) == "worker")
    assert [p for p in sorted(_PROVIDER_IDS) if PROFILES[p].server_mode] == ["codex", "gemini"]
    spawned = parse_config('[providers.codex]\nmode = "spawn"\n')
    assert spawned.mode_of("codex") == "spawn"
