"""``load_config``: a bad ``asm.toml`` is refused with its path, table and key named."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from actors.serving import load_config
from contracts.config import ConfigError

ASM = str(Path(sys.executable).with_name("asm"))


def test_a_config_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "asm.toml"
    path.write_text('[nodes.gpu]\nrunnr = "ssh"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(str(path))
    assert str(caught.value).startswith(
        f"{path}: invalid configuration: [nodes.gpu].runnr: unknown key"
    )


def test_asm_providers_names_the_file_the_table_and_the_provider(tmp_path: Path) -> None:
    path = tmp_path / "asm.toml"
    path.write_text("[providers.claud]\npool_size = 1\n")
    result = subprocess.run(
        [ASM, "providers", "--config", str(path)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr == (
        f"asm providers: {path}: invalid configuration: [providers.claud]: "
        "unknown provider (known: amp, claude, codex, gemini)\n"
    )
