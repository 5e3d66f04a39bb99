"""Installing asm-trio must not break pytest where Hypothesis is missing.

The ``pytest11`` entry point loads :mod:`transport.conformance_plugin` into every
pytest run of the environment; without the ``conformance`` extra it must load inert. The
runs below make Hypothesis unimportable (a ``hypothesis`` package on ``PYTHONPATH`` that
raises ImportError) and run a trivial test file from an empty directory, loading only
this plugin the way the entry point does (the dev environment's other plugins, such as
schemathesis and Hypothesis's own, need Hypothesis and are not autoloaded here).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PYTEST = str(Path(sys.executable).parent / "pytest")

_MISSING = "raise ImportError(\"No module named 'hypothesis' (made unimportable)\")\n"


def _pytest_without_hypothesis(tmp_path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    shadow = tmp_path / "shadow" / "hypothesis"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text(_MISSING)
    work = tmp_path / "work"
    work.mkdir()
    (work / "test_trivial.py").write_text("def test_trivial():\n    assert True\n")
    environ = {
        **os.environ,
        "PYTHONPATH": str(tmp_path / "shadow"),
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
    }
    return subprocess.run(
        [PYTEST, "-q", "-p", "no:cacheprovider", *options, "test_trivial.py"],
        cwd=work,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_shadow_really_hides_hypothesis(tmp_path: Path) -> None:
    result = _pytest_without_hypothesis(tmp_path, "-p", "no:asm_conformance", "-k", "trivial")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_the_plugin_loads_inert_without_hypothesis(tmp_path: Path) -> None:
    result = _pytest_without_hypothesis(tmp_path, "-p", "transport.conformance_plugin")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    assert "Error while loading plugin" not in result.stderr


def test_the_plugin_module_imports_no_hypothesis() -> None:
    """conformance_plugin.py needs Hypothesis, and the harness, only once its options are
    used; importing it imports neither."""
    code = (
        "import sys\n"
        "import transport.conformance_plugin\n"
        "loaded = {'hypothesis', 'transport.conformance'} & set(sys.modules)\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
