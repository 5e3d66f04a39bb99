"""The request being served, for log lines: its id and the lease it names.

The HTTP surface (:mod:`transport.surface`) sets both for each request before the
app sees it; Trio copies the context into every task the request starts, so a log
record made while serving it carries them (see :mod:`actors.serving.logging_setup`)::

    token = begin_request("/leases/lease_abc/v1/chat/completions")
    current_request_id()  # a fresh hex id, also sent as the x-request-id header
    current_lease_ref()   # "lease_abc"

Work that outlives the task that asked for it (a lease started by an admin call, a
session parked before any completion) takes on the ids of whoever it now serves, so
its log lines name the request they are for, not the one that happened to start it::

    ids = request_snapshot()        # in the completion's task, as it submits
    resume_request(ids)             # in the session's task, once it has the conversation

Neither is a secret: the lease ref names a lease, its bearer token is never here.
"""

from __future__ import annotations

import secrets
from contextvars import ContextVar
from typing import Final, TypeAlias

__all__ = [
    "RequestIds",
    "begin_request",
    "current_lease_ref",
    "current_request_id",
    "lease_ref_of",
    "request_snapshot",
    "resume_request",
]

RequestIds: TypeAlias = tuple[str | None, str | None]
"""A request id and a lease ref, either None."""

_REQUEST_ID: Final[ContextVar[str | None]] = ContextVar("asm_request_id", default=None)
_LEASE_REF: Final[ContextVar[str | None]] = ContextVar("asm_lease_ref", default=None)
_LEASES_PREFIX: Final = "/leases/"


def lease_ref_of(path: str) -> str | None:
    """The lease ref of a lease route's path (``/leases/<ref>/…``), else None."""
    if not path.startswith(_LEASES_PREFIX):
        return None
    ref = path[len(_LEASES_PREFIX) :].split("/", 1)[0]
    return ref or None


def begin_request(path: str) -> str:
    """Start a request in this context: a fresh request id, the lease ref of ``path``."""
    request_id = secrets.token_hex(8)
    _REQUEST_ID.set(request_id)
    _LEASE_REF.set(lease_ref_of(path))
    return request_id


def current_request_id() -> str | None:
    """The id of the request being served, or None outside one."""
    return _REQUEST_ID.get()


def current_lease_ref() -> str | None:
    """The lease ref of the lease route being served, or None."""
    return _LEASE_REF.get()


def request_snapshot() -> RequestIds:
    """The request id and lease ref of this context, to hand to :func:`resume_request`."""
    return _REQUEST_ID.get(), _LEASE_REF.get()


def resume_request(ids: RequestIds) -> None:
    """Serve ``ids``' request in this context (this task, and those it starts from now)."""
    request_id, lease_ref = ids
    _REQUEST_ID.set(request_id)
    _LEASE_REF.set(lease_ref)
