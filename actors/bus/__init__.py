"""The bus side of the system: the event-log actor, the provider registry and the bridge.

:class:`Bus` runs the event log and the :class:`InferenceBridge`, which answers
``bus.inference.*`` requests (BUS.md §3) through the providers of a
:class:`ProviderRegistry`; a model pull reports its progress as it goes
(:func:`report_progress`)::

    registry = ProviderRegistry([OllamaProvider(config.nodes, resolver)])
    bus = Bus("sqlite:.asm/events.db", secret=secret, registry=registry)

Once started, the bus is its own failure domain: a store outage pauses it and never
ends the server.
"""

from __future__ import annotations

from actors.bus.actor import Bus
from actors.bus.bridge import InferenceBridge
from actors.bus.progress import progress_to, report_progress
from actors.bus.registry import InferenceProvider, ProviderRefusal, ProviderRegistry

__all__ = [
    "Bus",
    "InferenceBridge",
    "InferenceProvider",
    "ProviderRefusal",
    "ProviderRegistry",
    "progress_to",
    "report_progress",
]
