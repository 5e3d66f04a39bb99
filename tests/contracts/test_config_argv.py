"""``[providers.<id>]`` strings that reach a CLI's argv or environment (issue 15).

``executable``, each of ``extra_args`` and each ``env`` value is printable text (no NUL,
no control character) of at most 4096 characters; an ``env`` name is non-empty and has
no ``=`` or space. A refusal names the key and never quotes the value, which may be a
secret.
"""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.config import ARGV_MAX_CHARS, ConfigError, ProviderSettings, parse_config

# Printable as Python says: no control or format character, no separator but " ".
_printable = st.text(
    st.characters(exclude_categories=["C", "Z"], include_characters=" "), max_size=40
)
_control = st.characters(categories=["Cc"])
_bad = st.one_of(
    st.builds(lambda a, c, b: a + c + b, _printable, _control, _printable),
    st.integers(ARGV_MAX_CHARS + 1, ARGV_MAX_CHARS + 40).map(lambda n: "x" * n),
)
_where = st.sampled_from(["executable", "extra_args", "env"])


def _toml_string(text: str) -> str:
    """``text`` as a TOML basic string, every control character escaped."""
    escaped = "".join(
        f"\\u{ord(c):04x}" if ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or c in '"\\' else c
        for c in text
    )
    return f'"{escaped}"'


def _toml(where: str, value: str) -> str:
    quoted = _toml_string(value)
    line = {
        "executable": f"executable = {quoted}",
        "extra_args": f'extra_args = ["--ok", {quoted}]',
        "env": f'env = {{ OK = "1", SOME_API_KEY = {quoted} }}',
    }[where]
    return f"[providers.claude]\n{line}\n"


def _settings(where: str, value: str) -> dict[str, object]:
    if where == "executable":
        return {"executable": value}
    if where == "extra_args":
        return {"extra_args": ["--ok", value]}
    return {"env": {"OK": "1", "SOME_API_KEY": value}}


@given(_where, _bad)
def test_rule_provider_argv_strings_are_printable_and_bounded(where: str, value: str) -> None:
    """Rule: what the configuration hands a CLI's command line or environment is
    printable text (so no NUL) of at most 4096 characters."""
    with pytest.raises(ConfigError) as caught:
        parse_config(_toml(where, value))
    message = str(caught.value)
    assert where in message
    if len(value.strip()) >= 8:
        assert value.strip() not in message  # never quoted back


@given(_where, _printable)
def test_printable_provider_strings_are_accepted(where: str, value: str) -> None:
    assert parse_config(_toml(where, value)).providers["claude"] == msgspec.convert(
        _settings(where, value), ProviderSettings
    )


@pytest.mark.parametrize("name", ["", "A=B", "TWO WORDS", "NUL\x00"])
def test_rule_provider_env_names_are_usable(name: str) -> None:
    """Rule: an env name is non-empty printable text without '=' or spaces."""
    with pytest.raises(msgspec.ValidationError, match="variable name"):
        msgspec.convert({"env": {name: "x"}}, ProviderSettings)
