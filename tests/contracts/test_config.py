"""``asm.toml``: defaults, and a property test per validation rule of the config."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.config import Config, ConfigError, parse_config

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
