"""``[nodes.<node_id>]`` and ``[secrets]``: defaults, and a property test per rule."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.config import Config, ConfigError, parse_config
from contracts.inference import NODE_ID_PATTERN, SECRET_REF_PATTERN
from contracts.nodes import NodeSettings, SecretsSettings, official_installer

_SSH = 'runner = "ssh"\nhost = "10.0.0.5"\n'


def _toml(value: str) -> str:
    """``value`` as a TOML basic string (JSON's escapes, but literal non-ASCII)."""
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def _node(body: str, node_id: str = "gpu-1") -> NodeSettings:
    return parse_config(f"[nodes.{_toml(node_id)}]\n{body}").nodes[node_id]


def test_a_node_section_gets_the_spec_defaults() -> None:
    node = _node("")
    assert node == NodeSettings()
    assert node.ollama_url == "http://127.0.0.1:11434"
    assert (node.runner, node.port, node.environment, node.service) == (
        "local",
        22,
        "dev",
        "auto",
    )
    assert node.ready_timeout == 60.0
    assert node.installer() == (
        "curl -fsSL https://ollama.com/install.sh | OLLAMA_VERSION=0.12.3 sh"
    )


def test_no_nodes_and_the_default_secrets_dir_without_the_sections() -> None:
    config = parse_config(b"")
    assert config.nodes == {}
    assert config.secrets == SecretsSettings(dir=None)
    assert config == Config()


def test_an_ssh_node_and_the_secrets_dir_are_read() -> None:
    config = parse_config(
        f'[secrets]\ndir = "/etc/asm/secrets"\n[nodes.gpu-1]\n{_SSH}user = "ops"\n'
        'port = 2222\nssh_key = "secret://deployment/gpu-1-key"\nenvironment = "prod"\n'
        'service = "systemd"\nollama_version = "0.13.0"\nready_timeout = 5\n'
    )
    node = config.nodes["gpu-1"]
    assert (node.host, node.user, node.port) == ("10.0.0.5", "ops", 2222)
    assert node.ssh_key == "secret://deployment/gpu-1-key"
    assert (node.environment, node.service, node.ready_timeout) == ("prod", "systemd", 5.0)
    assert node.installer() == official_installer("0.13.0")
    assert config.secrets.dir == "/etc/asm/secrets"


def test_a_given_install_command_replaces_the_official_installer() -> None:
    node = _node('install_command = "apt-get install -y ollama"\n')
    assert node.installer() == "apt-get install -y ollama"


@given(st.text(min_size=0, max_size=80))
def test_rule_node_id_format(node_id: str) -> None:
    """Rule node_id_format: a node id is 1-64 letters, digits, '_' or '-'."""
    text = f"[nodes.{_toml(node_id)}]\n"
    if re.match(NODE_ID_PATTERN, node_id):
        assert node_id in parse_config(text).nodes
    else:
        with pytest.raises(ConfigError, match="node id is 1-64"):
            parse_config(text)


@given(st.from_regex(NODE_ID_PATTERN, fullmatch=True))
def test_rule_node_id_format_accepts_every_valid_id(node_id: str) -> None:
    """Rule node_id_format: every id of the pattern is accepted as it is."""
    assert list(parse_config(f"[nodes.{_toml(node_id)}]\n").nodes) == [node_id]


def test_rule_ssh_needs_host() -> None:
    """Rule ssh_needs_host: runner "ssh" without a host is an error that says so."""
    with pytest.raises(ConfigError, match='runner = "ssh" needs host'):
        _node('runner = "ssh"\nuser = "ops"\n')


@given(st.sampled_from(["host", "user", "ssh_key"]))
def test_rule_ssh_settings_need_the_ssh_runner(key: str) -> None:
    """Rule ssh_settings_need_ssh_runner: host, user, ssh_key with runner local are errors."""
    value = "secret://deployment/k" if key == "ssh_key" else "ops"
    with pytest.raises(ConfigError, match='for runner = "ssh" only'):
        _node(f"{key} = {_toml(value)}\n")


@given(st.text(min_size=1, max_size=300))
def test_rule_ssh_key_is_a_reference(value: str) -> None:
    """Rule ssh_key_is_a_reference: ssh_key is secret://deployment/<name>; the error
    never repeats the value (it may be the key itself)."""
    text = f"[nodes.n]\n{_SSH}ssh_key = {_toml(value)}\n"
    if re.match(SECRET_REF_PATTERN, value):
        assert parse_config(text).nodes["n"].ssh_key == value
        return
    with pytest.raises(ConfigError, match="ssh_key must be a reference") as caught:
        parse_config(text)
    if len(value) >= 4:
        assert value not in str(caught.value)


@given(st.integers(min_value=-(2**20), max_value=2**20))
def test_rule_ssh_port_range(port: int) -> None:
    """Rule ssh_port_range: port is an integer from 1 to 65535."""
    text = f"[nodes.n]\n{_SSH}port = {port}\n"
    if 1 <= port <= 65535:
        assert parse_config(text).nodes["n"].port == port
    else:
        with pytest.raises(ConfigError, match="port"):
            parse_config(text)


@given(st.text(max_size=40))
def test_rule_ssh_host_format(host: str) -> None:
    """Rule ssh_host_format: host is a name or an address, never an option look-alike."""
    text = f'[nodes.n]\nrunner = "ssh"\nhost = {_toml(host)}\n'
    if re.fullmatch(r"[A-Za-z0-9_.:][A-Za-z0-9_.:-]*", host):
        assert parse_config(text).nodes["n"].host == host
    else:
        with pytest.raises(ConfigError, match="host must be"):
            parse_config(text)


@given(st.text(max_size=40))
def test_rule_ssh_user_format(user: str) -> None:
    """Rule ssh_user_format: user is a user name: no '@', no spaces, no leading '-'."""
    text = f"[nodes.n]\n{_SSH}user = {_toml(user)}\n"
    if re.fullmatch(r"[A-Za-z0-9_.][A-Za-z0-9_.$-]*", user):
        assert parse_config(text).nodes["n"].user == user
    else:
        with pytest.raises(ConfigError, match="user must be"):
            parse_config(text)


@given(st.text(max_size=30))
def test_rule_ollama_version_format(version: str) -> None:
    """Rule ollama_version_format: a version has no shell syntax (it goes into a command)."""
    text = f"[nodes.n]\nollama_version = {_toml(version)}\n"
    if re.fullmatch(r"[0-9A-Za-z][0-9A-Za-z.+_-]*", version):
        assert version in parse_config(text).nodes["n"].installer()
    else:
        with pytest.raises(ConfigError, match="ollama_version must be"):
            parse_config(text)


@given(
    st.sampled_from(["http", "https", "ftp", "", "file"]),
    st.sampled_from(["127.0.0.1:11434", "gpu-1", "[::1]:11434", "", "h:99999"]),
)
def test_rule_ollama_url_format(scheme: str, authority: str) -> None:
    """Rule ollama_url_format: ollama_url is an http(s) URL with a host and a valid port."""
    url = f"{scheme}://{authority}" if scheme else authority
    text = f"[nodes.n]\nollama_url = {_toml(url)}\n"
    if scheme in ("http", "https") and authority and authority != "h:99999":
        assert parse_config(text).nodes["n"].ollama_url == url
    else:
        with pytest.raises(ConfigError, match="ollama_url must be"):
            parse_config(text)


@given(st.floats(allow_nan=False, max_value=1e6))
def test_rule_ready_timeout_positive(seconds: float) -> None:
    """Rule ready_timeout_positive: ready_timeout is a number of seconds above 0."""
    text = f"[nodes.n]\nready_timeout = {seconds!r}\n"
    if seconds > 0:
        assert parse_config(text).nodes["n"].ready_timeout == seconds
    else:
        with pytest.raises(ConfigError, match="ready_timeout"):
            parse_config(text)


@given(
    st.sampled_from(["runner", "environment", "service"]),
    st.text(min_size=1, max_size=12),
)
def test_rule_node_choices(key: str, value: str) -> None:
    """Rule node_choices: runner, environment and service take only their listed values."""
    allowed = {
        "runner": {"local"},  # "ssh" needs a host: test_rule_ssh_needs_host
        "environment": {"dev", "staging", "prod"},
        "service": {"auto", "systemd", "supervised"},
    }[key]
    text = f"[nodes.n]\n{key} = {_toml(value)}\n"
    if value in allowed:
        assert getattr(parse_config(text).nodes["n"], key) == value
    else:
        with pytest.raises(ConfigError, match=key):
            parse_config(text)


@given(st.sampled_from(["nodes.n", "secrets"]), st.from_regex(r"[a-z][a-z_]{0,12}", fullmatch=True))
def test_rule_node_unknown_keys_refused(section: str, key: str) -> None:
    """Rule config_unknown_keys_refused: a key [nodes.<id>] or [secrets] does not know is
    an error."""
    known = set(NodeSettings.__struct_fields__ if section == "nodes.n" else ("dir",))
    if key in known:
        return
    with pytest.raises(ConfigError, match=key):
        parse_config(f"[{section}]\n{key} = 1\n")
