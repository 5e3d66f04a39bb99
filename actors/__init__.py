"""Everything with a lifetime: supervisors, CLI sessions, leases, the bridge, commands.

``actors.open_system`` and ``actors.System`` are imported on first use, so the commands
that need neither (``bus-integration-inference``) start without loading the HTTP stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from actors.system import System, open_system

__all__ = ["System", "open_system"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from actors import system  # noqa: PLC0415 - deferred on purpose, see above

        return getattr(system, name)
    raise AttributeError(f"module 'actors' has no attribute {name!r}")
