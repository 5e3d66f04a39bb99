"""model.ensure on one node: present already, or pulled within the request's policy.

A model already on the node (as named, or as ``<model>:latest``) is just noted. Otherwise
a prod node wants ``confirm``, the policy must allow downloads, and a pull may not grow
past ``max_model_size_bytes`` (what it left is removed). The pull reports its progress
to whoever dispatched the request (:func:`actors.bus.report_progress`) at most every
:data:`PROGRESS_EVERY_SECONDS`::

    actions = await ensure_on_node(access, node, state, "127.0.0.1:11434", request)
    # ["ensure-model"] when present, ["ensure-model", "pull-model"] when pulled
"""

from __future__ import annotations

import logging
from typing import Final

import trio

from actors.bus import report_progress
from actors.ollama._node import NodeAccess, NodeState, OperationRefused, tag_names
from contracts.inference import Action, ModelEnsureRequest, model_present
from contracts.nodes import NodeSettings
from transport.ollama_client import (
    OllamaClient,
    OllamaError,
    OllamaPullFailed,
    OllamaUnavailable,
    PullTracker,
)

__all__ = ["PROGRESS_EVERY_SECONDS", "ensure_on_node"]

log = logging.getLogger("asm.ollama")

PROGRESS_EVERY_SECONDS: Final = 0.2


async def ensure_on_node(
    access: NodeAccess,
    node: NodeSettings,
    state: NodeState,
    listen: str,
    request: ModelEnsureRequest,
) -> list[Action]:
    """The actions model.ensure took (or would take, dry run); refused with the reason."""
    model, policy = request.model, request.policy
    async with access.client(listen) as client:
        names = await tag_names(client)
        if model_present(model, names):
            state.ensured.add(model)
            return ["ensure-model"]
        prod = node.environment == "prod" and policy.require_confirmation_for_prod
        if prod and not request.confirm:
            raise OperationRefused(
                "confirmation_required",
                f"confirmation_required: node {request.node_id!r} is prod; downloading"
                f" {model!r} needs confirm true",
            )
        if not policy.allow_model_download:
            raise OperationRefused(
                "policy_denied",
                f"policy_denied: {model!r} is not on the node and"
                " policy.allow_model_download is false",
            )
        if request.dry_run:
            return ["ensure-model", "pull-model"]
        most = policy.max_model_size_bytes
        limit = most if isinstance(most, int) else None
        await _pull(client, model, limit)
        sizes = {tag.name: tag.size for tag in await client.tags()}
        size = sizes.get(model, sizes.get(f"{model}:latest"))
        if size is None:
            raise OperationRefused("provider_error", f"provider_error: no {model!r} after the pull")
        if limit is not None and size > limit:
            await _forget(client, model)
            raise OperationRefused("policy_denied", _too_big(model, size, limit))
    state.ensured.add(model)
    return ["ensure-model", "pull-model"]


async def _pull(client: OllamaClient, model: str, limit: int | None) -> None:
    tracker = PullTracker()
    last = -PROGRESS_EVERY_SECONDS
    try:
        async with client.pull(model) as progress:
            async for update in progress:
                tracker.add(update)
                if limit is not None and tracker.total > limit:
                    break  # leaving the block abandons the pull
                now = trio.current_time()
                if now - last >= PROGRESS_EVERY_SECONDS:
                    last = now
                    await report_progress(
                        {
                            "model": model,
                            "status": update.status,
                            "completed": tracker.completed,
                            "total": tracker.total,
                        }
                    )
    except OllamaPullFailed as failed:
        raise OperationRefused(
            "provider_error", f"provider_error: pulling {model!r}: {failed}"
        ) from None
    except OllamaUnavailable:
        raise OperationRefused(
            "provider_error", "provider_error: the runtime stopped answering"
        ) from None
    if limit is not None and tracker.total > limit:
        await _forget(client, model)
        raise OperationRefused("policy_denied", _too_big(model, tracker.total, limit))
    await report_progress(
        {"model": model, "status": "success", "completed": tracker.total, "total": tracker.total}
    )


async def _forget(client: OllamaClient, model: str) -> None:
    """Remove what a refused pull may have left (nothing, usually)."""
    try:
        await client.delete(model)
    except OllamaError as error:
        log.warning("could not remove %s after a refused pull (%s)", model, type(error).__name__)


def _too_big(model: str, size: int, limit: int) -> str:
    return (
        f"policy_denied: {model!r} is {size} bytes, over policy.max_model_size_bytes {limit};"
        " nothing was kept"
    )
