"""``asm.toml.example`` stays true to the configuration schema (contracts/config.py).

The example comments out every setting (``# key = value``; prose is ``## …``). As it
stands it must parse to the defaults; with its settings uncommented it must still parse,
name every key of every table the schema has, and show each scalar default as it is.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
import typing
from pathlib import Path
from typing import Any

import msgspec

from actors.serving import load_config
from contracts.config import Config

EXAMPLE = Path(__file__).resolve().parents[3] / "asm.toml.example"
ASM = str(Path(sys.executable).with_name("asm"))


def _uncommented(tmp_path: Path) -> Path:
    """The example with every ``# setting`` line made live (``##`` prose stays a comment)."""
    lines = [
        line[2:] if line.startswith("# ") else line for line in EXAMPLE.read_text().splitlines()
    ]
    live = tmp_path / "asm.toml"
    live.write_text("\n".join(lines) + "\n")
    return live


def _tables(config_type: type[msgspec.Struct]) -> dict[str, tuple[type[msgspec.Struct], bool]]:
    """Each top-level table of the schema: (its struct, whether it is ``[name.<id>]``)."""
    tables = {}
    for field in msgspec.structs.fields(config_type):
        if typing.get_origin(field.type) is dict:
            tables[field.name] = (typing.get_args(field.type)[1], True)
        else:
            tables[field.name] = (field.type, False)
    return tables


def test_the_example_as_shipped_is_the_defaults() -> None:
    assert load_config(str(EXAMPLE)) == Config()


def test_every_key_of_the_schema_is_in_the_example_and_parses(tmp_path: Path) -> None:
    live = _uncommented(tmp_path)
    config = load_config(str(live))  # the real loader: unknown keys would be refused
    raw: dict[str, Any] = tomllib.loads(live.read_text())
    tables = _tables(Config)
    assert set(raw) == set(tables)
    for name, (settings, per_id) in tables.items():
        instances = list(raw[name].values()) if per_id else [raw[name]]
        assert instances, name
        named = set().union(*(set(instance) for instance in instances))
        keys = {field.name for field in msgspec.structs.fields(settings)}
        assert named == keys, f"[{name}]: missing {sorted(keys - named)}"
    assert set(config.providers) == {"claude", "codex"}
    assert config.nodes["gpu-1"].runner == "ssh"


def test_each_scalar_default_is_shown_as_it_is(tmp_path: Path) -> None:
    config = load_config(str(_uncommented(tmp_path)))
    for name, (settings, per_id) in _tables(Config).items():
        value = getattr(config, name)
        instances = list(value.values()) if per_id else [value]
        for field in msgspec.structs.fields(settings):
            default = field.default
            if isinstance(default, bool | int | float | str):
                shown = [getattr(instance, field.name) for instance in instances]
                assert default in shown, f"[{name}].{field.name}: default {default!r}"


def test_asm_doctor_reads_the_example(tmp_path: Path) -> None:
    """The example is a config file the commands accept (everything in it commented)."""
    result = subprocess.run(
        [ASM, "doctor", "--json", "--config", str(EXAMPLE), "--provider", "amp"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert f'"detail":"{EXAMPLE} read"' in result.stdout, result.stderr
