"""The secret resolver: files, then the environment; values never reach a message."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.ollama import (
    SecretNotFound,
    SecretRefused,
    SecretResolver,
    environment_name,
    scrub,
)

REF = "secret://deployment/gpu-1.key"


def _write(directory: Path, name: str, content: bytes, mode: int = 0o600) -> Path:
    path = directory / name
    path.write_bytes(content)
    path.chmod(mode)
    return path


def test_a_file_resolves_with_one_trailing_newline_dropped(tmp_path: Path) -> None:
    _write(tmp_path, "gpu-1.key", b"line one\nline two\n\n")
    assert SecretResolver(tmp_path, {}).resolve(REF) == "line one\nline two\n"


def test_the_environment_resolves_under_the_upper_case_name() -> None:
    assert environment_name("gpu-1.key") == "BUS_SECRET_GPU_1_KEY"
    resolver = SecretResolver(None, {"BUS_SECRET_GPU_1_KEY": "from-env"})
    assert resolver.resolve(REF) == "from-env"


def test_the_file_wins_over_the_environment(tmp_path: Path) -> None:
    _write(tmp_path, "gpu-1.key", b"from-file\n")
    resolver = SecretResolver(tmp_path, {"BUS_SECRET_GPU_1_KEY": "from-env"})
    assert resolver.resolve(REF) == "from-file"


def test_the_environment_answers_when_the_directory_has_no_file(tmp_path: Path) -> None:
    resolver = SecretResolver(tmp_path / "missing", {"BUS_SECRET_GPU_1_KEY": "from-env"})
    assert resolver.resolve(REF) == "from-env"


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o601])
def test_a_file_open_to_group_or_others_is_refused(tmp_path: Path, mode: int) -> None:
    _write(tmp_path, "gpu-1.key", b"hunter22\n", mode)
    resolver = SecretResolver(tmp_path, {"BUS_SECRET_GPU_1_KEY": "from-env"})
    with pytest.raises(SecretRefused, match="must be 0600") as caught:
        resolver.resolve(REF)
    assert caught.value.reference == REF
    assert REF in str(caught.value)
    assert "hunter22" not in str(caught.value)
    assert not resolver.exists(REF)


def test_a_stricter_file_than_0600_is_read(tmp_path: Path) -> None:
    _write(tmp_path, "gpu-1.key", b"read-only\n", 0o400)
    assert SecretResolver(tmp_path, {}).resolve(REF) == "read-only"


@pytest.mark.parametrize(("content", "reason"), [(b"", "empty"), (b"\xff\xfe", "not UTF-8")])
def test_an_empty_or_undecodable_file_is_refused(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    _write(tmp_path, "gpu-1.key", content)
    with pytest.raises(SecretRefused, match=reason):
        SecretResolver(tmp_path, {}).resolve(REF)


def test_a_missing_secret_names_the_reference_and_where_it_looked(tmp_path: Path) -> None:
    resolver = SecretResolver(tmp_path, {"BUS_SECRET_OTHER": "x", "BUS_SECRET_GPU_1_KEY": ""})
    with pytest.raises(SecretNotFound) as caught:
        resolver.resolve(REF)
    assert caught.value.reference == REF
    assert str(caught.value).startswith(f"{REF} does not resolve")
    assert "$BUS_SECRET_GPU_1_KEY" in str(caught.value)
    assert not resolver.exists(REF)


@pytest.mark.parametrize(
    "reference",
    [
        "-----BEGIN OPENSSH PRIVATE KEY-----",
        "secret://deployment/",
        "secret://deployment/..",
        "secret://deployment/a/b",
        "secret://other/name",
        "deployment/name",
    ],
)
def test_a_malformed_reference_is_not_found_and_not_repeated(
    tmp_path: Path, reference: str
) -> None:
    _write(tmp_path, "name", b"a value")
    resolver = SecretResolver(tmp_path, {})
    with pytest.raises(SecretNotFound) as caught:
        resolver.resolve(reference)
    assert caught.value.reference == reference
    assert str(caught.value) == "not a secret reference (secret://deployment/<name>)"
    assert repr(caught.value) == f"SecretNotFound({str(caught.value)!r})"


def test_exists_does_not_remember_the_value(tmp_path: Path) -> None:
    _write(tmp_path, "gpu-1.key", b"quiet-value")
    resolver = SecretResolver(tmp_path, {"BUS_SECRET_SECOND": "loud-value"})
    assert resolver.exists(REF)
    assert resolver.known_values() == []
    resolver.resolve("secret://deployment/second")
    resolver.resolve(REF)
    resolver.resolve(REF)
    assert resolver.known_values() == ["loud-value", "quiet-value"]


def test_scrub_hides_longer_values_whole_and_leaves_short_ones() -> None:
    text = "token abcd-efgh, part abcd, tiny ab"
    assert scrub(text, ["abcd", "abcd-efgh", "ab"]) == "token ***, part ***, tiny ab"


# "§" appears in no message, so a value cannot hide inside the fixed words of one.
_VALUES = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=3, max_size=60
).map(lambda text: "§" + text)


@given(_VALUES)
def test_no_message_or_repr_holds_a_secret_value(value: str) -> None:
    """Rule secret_values_never_shown: whatever the value, no exception text or repr of
    the resolver, its errors or a scrubbed text contains it."""
    environ = {"BUS_SECRET_NODE_KEY": value}
    resolver = SecretResolver(None, environ)
    assert resolver.resolve("secret://deployment/node-key") == value
    assert value not in repr(resolver)
    shown = []
    for bad in (value, "secret://deployment/other"):
        with pytest.raises(SecretNotFound) as caught:
            resolver.resolve(bad)
        shown += [str(caught.value), repr(caught.value)]
    assert not any(value in text for text in shown)
    assert value not in scrub(f"ssh said: {value}!", resolver.known_values())


@given(_VALUES)
def test_a_refused_file_never_shows_its_value(value: str) -> None:
    """Rule secret_values_never_shown: a file refused for its mode is not echoed."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "k"
        path.write_text(value, encoding="utf-8")
        os.chmod(path, 0o644)
        with pytest.raises(SecretRefused) as caught:
            SecretResolver(Path(directory), {}).resolve("secret://deployment/k")
    assert value not in str(caught.value)
    assert value not in repr(caught.value)
