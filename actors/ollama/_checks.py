"""The verify checks on one node: runtime-ready, model-ready, loopback-only (BUS.md §4).

Each check answers a :class:`CheckResult`, ok or not, and never raises for what it
finds: a runtime that does not answer fails ``runtime-ready``, a model ensured earlier
and gone since fails ``model-ready``, and an API that answers on any of the node's own
non-loopback addresses fails ``loopback-only``::

    result = await check(access, "127.0.0.1:11434", state, "runtime-ready")
    # CheckResult(name="runtime-ready", ok=True, diagnostic="ollama 0.5.7 at 127.0.0.1:11434")
"""

from __future__ import annotations

from typing import assert_never

from actors.ollama._node import NodeAccess, NodeState, OperationRefused, addresses_of, tag_names
from contracts.inference import CheckName, CheckResult, model_present
from contracts.loopback import is_loopback
from transport.ollama_client import OllamaError, OllamaUnavailable

__all__ = ["check"]


async def check(access: NodeAccess, listen: str, state: NodeState, name: CheckName) -> CheckResult:
    """The result of the check ``name`` on the runtime at ``listen``."""
    match name:
        case "runtime-ready":
            return await _runtime_ready(access, listen)
        case "model-ready":
            return await _model_ready(access, listen, state)
        case "loopback-only":
            return await _loopback_only(access, listen)
        case _:
            assert_never(name)


async def _runtime_ready(access: NodeAccess, listen: str) -> CheckResult:
    name: CheckName = "runtime-ready"
    async with access.client(listen) as client:
        try:
            version = await client.version()
        except OllamaUnavailable:
            return CheckResult(name=name, ok=False, diagnostic=f"no answer at {listen}")
    return CheckResult(name=name, ok=True, diagnostic=f"ollama {version} at {listen}")


async def _model_ready(access: NodeAccess, listen: str, state: NodeState) -> CheckResult:
    name: CheckName = "model-ready"
    async with access.client(listen) as client:
        try:
            names = await tag_names(client)
        except OperationRefused as refused:
            return CheckResult(name=name, ok=False, diagnostic=refused.diagnostic)
    missing = sorted(m for m in state.ensured if not model_present(m, names))
    if missing:
        return CheckResult(name=name, ok=False, diagnostic=f"missing: {missing}")
    if not names:
        return CheckResult(name=name, ok=False, diagnostic="no model on the node")
    return CheckResult(name=name, ok=True, diagnostic=f"{len(names)} model(s)")


async def _loopback_only(access: NodeAccess, listen: str) -> CheckResult:
    name: CheckName = "loopback-only"
    host, _, port = listen.rpartition(":")
    if not is_loopback(host.strip("[]")):
        return CheckResult(name=name, ok=False, diagnostic=f"configured to listen on {listen}")
    for address in await addresses_of(access):
        target = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
        async with access.client(target, timeout=2.0) as probe:
            try:
                await probe.version()
            except OllamaError:
                continue
        return CheckResult(name=name, ok=False, diagnostic=f"the API answers on {target}")
    return CheckResult(name=name, ok=True, diagnostic=f"only {listen} answers")
