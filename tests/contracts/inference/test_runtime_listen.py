"""``runtime.listen`` (BUS.md §1): the host's syntax and the port's range, one test each.

A host is an RFC 1123 name (labels of letters, digits and inner hyphens, the last not
all digits), a dotted-quad IPv4 address whose octets are at most 255, or a bracketed
IPv6 address; the port is 1-65535. Each rule is checked at the payload validator, the
interface every publisher meets.
"""

from __future__ import annotations

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from contracts.inference import INSTALL_REQUEST, VALID, Invalid, Rule, validate
from contracts.testing import bad_listen_hosts, hostnames, listens

_ipv4 = st.ip_addresses(v=4).map(str)
_hosts = st.one_of(hostnames, _ipv4, st.ip_addresses(v=6).map(lambda ip: f"[{ip}]"))
_ports = st.integers(1, 65535)
_bad_ports = st.one_of(st.integers(max_value=0), st.integers(min_value=65536))


def _validate(listen: str) -> object:
    payload = {**VALID[INSTALL_REQUEST], "runtime": {"listen": listen}}
    return validate(INSTALL_REQUEST, msgspec.json.encode(payload))


def _refused_for_listen(listen: str) -> None:
    result = _validate(listen)
    assert isinstance(result, Invalid), f"accepted {listen!r}"
    assert result.rules == (Rule.RUNTIME_LISTEN,), result.diagnostics


@given(bad_listen_hosts, _ports)
def test_rule_runtime_listen_host_syntax(host: str, port: int) -> None:
    """Rule: the host is an RFC 1123 name, an IPv4 dotted quad (octets ≤ 255) or a
    bracketed IPv6 address: ``-:80``, ``a-:80`` and ``999.999.999.999:80`` are refused."""
    _refused_for_listen(f"{host}:{port}")


@given(_hosts, _bad_ports)
def test_rule_runtime_listen_port_range(host: str, port: int) -> None:
    """Rule: the port is 1-65535."""
    _refused_for_listen(f"{host}:{port}")


@given(listens)
def test_valid_listens_are_accepted(listen: str) -> None:
    assert not isinstance(_validate(listen), Invalid), listen


def test_the_reported_listens_are_refused() -> None:
    for listen in ("-:80", "a-:80", "999.999.999.999:80"):
        _refused_for_listen(listen)
