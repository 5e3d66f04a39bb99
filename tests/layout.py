"""The house's rooms: which subpackage each module lives in, and who reaches into whose.

Each subpackage of ``actors``, ``transport`` and ``contracts`` is a room with one door,
its ``__init__``. A caller outside the room imports through the door; a *deep import*
names a module inside a room from outside it (``from actors.sessions.session import
SessionActor`` in ``actors/system.py``). Tests in a room's mirror
(``tests/actors/sessions/`` for ``actors.sessions``) count as inside it: a room's own
tests may read its internals. Run it to see what reaches in::

    python -m tests.layout          # each deep import path and who uses it, then the count

``tests/test_layout.py`` fails when the count passes :data:`DEEP_IMPORT_LIMIT` or when
anything outside a room imports one of its ``_``-private modules.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DEEP_IMPORT_LIMIT",
    "PACKAGES",
    "ROOT",
    "DeepImport",
    "deep_imports",
    "room_of",
    "rooms",
]

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("actors", "transport", "contracts")
DEEP_IMPORT_LIMIT = 20
"""Distinct module paths that callers outside a room may still name (113 before the move)."""

_SCANNED = (*PACKAGES, "tests", "benchmarks")


@dataclass(frozen=True)
class DeepImport:
    """``importer`` (a path relative to the root) names ``module``, inside ``room``."""

    importer: str
    module: str
    room: str

    @property
    def private(self) -> bool:
        """Whether the module reached is one of the room's ``_``-private modules."""
        inner = self.module[len(self.room) + 1 :].split(".")
        return any(part.startswith("_") for part in inner)


def rooms() -> list[str]:
    """Every subpackage of the three packages, as a dotted name (``actors.sessions``)."""
    return sorted(
        f"{package}.{init.parent.name}"
        for package in PACKAGES
        for init in (ROOT / package).glob("*/__init__.py")
    )


def room_of(path: Path, all_rooms: list[str]) -> str | None:
    """The room a source file belongs to; a test belongs to the room it mirrors."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[0] == "tests":
        parts = parts[1:]
    dotted = ".".join(parts)
    return next((room for room in all_rooms if dotted.startswith(room + ".")), None)


def deep_imports() -> Iterator[DeepImport]:
    """Each import, anywhere in the sources and tests, of a room's module from outside it."""
    all_rooms = rooms()
    for top in _SCANNED:
        for path in sorted((ROOT / top).rglob("*.py")):
            if ".venv" in path.parts:
                continue
            here = room_of(path, all_rooms)
            for module in _imported_modules(path):
                room = next((r for r in all_rooms if module.startswith(r + ".")), None)
                if room is not None and room != here:
                    yield DeepImport(str(path.relative_to(ROOT)), module, room)


def _imported_modules(path: Path) -> Iterator[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            # `from transport.event_log import _sqlite_store` names a module too, unless
            # the door exports a name spelled like it (`from actors.serving import
            # events_secret`, the function)
            package = ROOT / node.module.replace(".", "/")
            for alias in node.names:
                exported = alias.name in _exported(package / "__init__.py")
                if (package / f"{alias.name}.py").exists() and not exported:
                    yield f"{node.module}.{alias.name}"


def _exported(init: Path) -> set[str]:
    """The names a package's ``__all__`` lists (none for a missing file or list)."""
    if not init.exists():
        return set()
    for node in ast.parse(init.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "__all__" for target in node.targets
        ):
            return {
                entry.value
                for entry in ast.walk(node.value)
                if isinstance(entry, ast.Constant) and isinstance(entry.value, str)
            }
    return set()


def main() -> int:
    """Print each deep import path with its importers, then the count against the limit."""
    users: dict[str, set[str]] = defaultdict(set)
    for found in deep_imports():
        users[found.module].add(found.importer)
    for module in sorted(users):
        print(f"{module}  <-  {', '.join(sorted(users[module]))}")
    print(f"{len(users)} deep import paths (limit {DEEP_IMPORT_LIMIT})")
    return 0 if len(users) <= DEEP_IMPORT_LIMIT else 1


if __name__ == "__main__":
    sys.exit(main())
