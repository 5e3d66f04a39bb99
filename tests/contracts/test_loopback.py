"""Loopback-only binds and peers (SPEC §3): a property per rule."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.loopback import BindError, is_loopback, parse_bind


@given(st.ip_addresses(v=4), st.integers(min_value=0, max_value=65535))
def test_bind_loopback_only_ipv4(address: ipaddress.IPv4Address, port: int) -> None:
    """Rule bind_loopback_only: a bind is accepted exactly when its host is 127.0.0.0/8."""
    bind = f"{address}:{port}"
    if address.is_loopback:
        assert parse_bind(bind) == (str(address), port)
    else:
        with pytest.raises(BindError, match="loopback only"):
            parse_bind(bind)


@given(st.ip_addresses(v=6), st.integers(min_value=0, max_value=65535))
def test_bind_loopback_only_ipv6(address: ipaddress.IPv6Address, port: int) -> None:
    """Rule bind_loopback_only: an IPv6 bind is accepted exactly for ::1 (or mapped 127/8)."""
    loopback = address.is_loopback or bool(address.ipv4_mapped and address.ipv4_mapped.is_loopback)
    bind = f"[{address}]:{port}"
    if loopback:
        assert parse_bind(bind)[1] == port
    else:
        with pytest.raises(BindError):
            parse_bind(bind)


@given(st.text(max_size=40))
def test_bind_is_host_and_port(text: str) -> None:
    """Rule bind_is_host_and_port: anything else is a BindError, never another exception."""
    try:
        host, port = parse_bind(text)
    except BindError:
        return
    assert is_loopback(host)
    assert 0 <= port <= 65535


def test_names_are_not_trusted_as_loopback() -> None:
    assert not is_loopback("localhost")
    assert not is_loopback(None)
    with pytest.raises(BindError):
        parse_bind("localhost:8787")
    with pytest.raises(BindError):
        parse_bind("0.0.0.0:0")
    with pytest.raises(BindError, match="out of range"):
        parse_bind("127.0.0.1:70000")
