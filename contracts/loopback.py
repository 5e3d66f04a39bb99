"""Loopback addresses and ``host:port`` binds: the endpoint never leaves the machine.

>>> is_loopback("127.0.0.2"), is_loopback("::1"), is_loopback("0.0.0.0")
(True, True, False)
>>> parse_bind("127.0.0.1:0")
('127.0.0.1', 0)
>>> parse_bind("[::1]:8787")
('::1', 8787)
"""

from __future__ import annotations

import ipaddress

__all__ = ["BindError", "is_loopback", "parse_bind"]


class BindError(ValueError):
    """A bind address that is malformed or not loopback."""


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` is a loopback IP address (127.0.0.0/8 or ::1); names are not."""
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host.strip("[]").partition("%")[0])  # no zone id
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool((mapped or address).is_loopback)


def parse_bind(bind: str) -> tuple[str, int]:
    """``host:port`` → (host, port); raises :class:`BindError` unless host is loopback."""
    host, sep, port_text = bind.rpartition(":")
    if not sep or not port_text.isdigit() or not host:
        raise BindError(f"bind must be host:port, got {bind!r}")
    port = int(port_text)
    if port > 65535:
        raise BindError(f"port out of range in {bind!r}")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not is_loopback(host):
        raise BindError(f"refusing to bind {host!r}: the endpoint serves loopback only")
    return host, port
