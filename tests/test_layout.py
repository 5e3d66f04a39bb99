"""The rooms keep their doors: facades export exactly their ``__all__``, nobody outside a
room imports its private modules, deep imports stay few, and imports flow one way.

What a room is and how deep imports are counted: :mod:`tests.layout` (``python -m
tests.layout`` lists them).
"""

from __future__ import annotations

import ast
import importlib
import types

import pytest

from tests.layout import DEEP_IMPORT_LIMIT, PACKAGES, ROOT, deep_imports, rooms

MODULES = sorted(
    ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
    for package in PACKAGES
    for path in (ROOT / package).rglob("*.py")
)
#: Who may import whom: a package may import only those after it.
FLOW = {"actors": {"transport", "contracts"}, "transport": {"contracts"}, "contracts": set()}


def test_rooms_are_the_layout_of_the_readme() -> None:
    assert rooms() == [
        "actors.bus",
        "actors.cli",
        "actors.ollama",
        "actors.processes",
        "actors.serving",
        "actors.sessions",
        "actors.supervisor",
        "contracts.events",
        "contracts.inference",
        "contracts.openai",
        "contracts.providers",
        "contracts.testing",
        "transport.conformance",
        "transport.endpoint",
        "transport.event_log",
        "transport.events",
        "transport.http",
    ]


def test_deep_import_paths_stay_within_the_limit() -> None:
    paths = {found.module for found in deep_imports()}
    assert len(paths) <= DEEP_IMPORT_LIMIT, sorted(paths)


def test_nothing_outside_a_room_imports_its_private_modules() -> None:
    private = sorted(f"{d.importer} -> {d.module}" for d in deep_imports() if d.private)
    assert private == []


@pytest.mark.parametrize("room", rooms())
def test_a_facade_exports_exactly_its_all(room: str) -> None:
    facade = importlib.import_module(room)
    exported = facade.__all__
    assert len(exported) == len(set(exported)), "a name is listed twice"
    public = {
        name
        for name, value in vars(facade).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and name != "annotations"  # from __future__
    }
    assert set(exported) == public


@pytest.mark.parametrize("module", [m for m in MODULES if m not in PACKAGES])
def test_every_module_declares_all_and_defines_each_name(module: str) -> None:
    if module.endswith(".redis") or "_redis_" in module:
        pytest.importorskip("coredis")
    imported = importlib.import_module(module)
    assert hasattr(imported, "__all__"), f"{module} has no __all__"
    assert [name for name in imported.__all__ if not hasattr(imported, name)] == []


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_flow_actors_then_transport_then_contracts(package: str) -> None:
    wrong = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom) and node.level == 0
                else [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            for name in names:
                top = name.partition(".")[0]
                if top in FLOW and top != package and top not in FLOW[package]:
                    wrong.append(f"{path.relative_to(ROOT)} imports {name}")
    assert wrong == []


def test_the_count_sees_a_private_module_named_through_its_door(tmp_path) -> None:
    from tests.layout import DeepImport, _imported_modules

    source = tmp_path / "caller.py"
    source.write_text(
        "from transport.event_log import _sqlite_store, open_event_log\n"
        "from actors.serving import events_secret\n"
    )
    assert sorted(_imported_modules(source)) == [
        "actors.serving",
        "transport.event_log",
        "transport.event_log._sqlite_store",
    ]
    found = DeepImport("caller.py", "transport.event_log._sqlite_store", "transport.event_log")
    assert found.private
    assert not DeepImport("caller.py", "transport.event_log.stores", "transport.event_log").private
