"""The drivers: completion-only command lines, fixed environment, credential files."""

from __future__ import annotations

import pytest

from contracts.conversation import Conversation, Turn
from contracts.providers import (
    AMP,
    CLAUDE,
    CODEX,
    DRIVERS,
    GEMINI,
    PROFILES,
    CliDriver,
    LaunchRequest,
    Persona,
    Workspace,
    driver,
    scrubbed_environment,
)
from contracts.providers.codex import COMPLETION_ONLY_CONFIG, NO_PERSONA_CONFIG

DRIVER_LIST = list(DRIVERS.values())
IDS = list(DRIVERS)


def test_drivers_cover_the_four_providers_in_registry_order() -> None:
    assert list(DRIVERS) == list(PROFILES) == ["claude", "codex", "gemini", "amp"]
    assert [d.profile for d in DRIVERS.values()] == [CLAUDE, CODEX, GEMINI, AMP]


def test_driver_looks_up_by_id_and_answers_none_for_unknown() -> None:
    assert driver("amp") is DRIVERS["amp"]
    assert driver("llama") is None


def test_drivers_registry_is_read_only() -> None:
    with pytest.raises(TypeError):
        DRIVERS["llama"] = DRIVERS["claude"]  # type: ignore[index]


def _argv(
    found: CliDriver,
    executable: str,
    model: str,
    extra_args: tuple[str, ...] = (),
    *,
    persona: Persona = "completion",
) -> tuple[str, ...]:
    request = LaunchRequest(
        executable=executable,
        model=model,
        workspace=Workspace("/w", "9b2e"),
        extra_args=extra_args,
        conversation=Conversation.from_prompt("Hi"),
        persona=persona,
    )
    return found.launch(request).argv


def test_claude_command_line_takes_stream_json_and_is_tool_free() -> None:
    assert _argv(DRIVERS["claude"], "/opt/bin/claude", "claude-sonnet-4-5") == (
        "/opt/bin/claude",
        "-p",
        "--input-format=stream-json",
        "--output-format=stream-json",
        "--verbose",
        "--include-partial-messages",
        "--model=claude-sonnet-4-5",
        "--tools=",
        "--strict-mcp-config",
        "--setting-sources=",
        "--disable-slash-commands",
        "--no-session-persistence",
    )


def test_no_command_line_puts_a_cli_in_plan_mode() -> None:
    """Plan mode was a second lock beside the withdrawn tools, and it injected a plan-mode
    reminder (claude) or prompt (gemini) the client never asked for."""
    for found in DRIVER_LIST:
        argv = _argv(found, "cli", "m")
        assert not any(arg.endswith("-mode=plan") for arg in argv)


def test_codex_command_line_withdraws_the_shell_and_resumes_its_own_transcript() -> None:
    argv = _argv(DRIVERS["codex"], "codex", "gpt-5")
    assert argv[:9] == (
        "codex",
        "exec",
        "--json",
        "--skip-git-repo-check",
        "--color=never",
        "--ephemeral",
        "--sandbox=read-only",
        "--model=gpt-5",
        "--ignore-user-config",
    )
    assert argv[-3:] == ("resume", "9b2e", "-")
    overrides = [arg.removeprefix("--config=") for arg in argv if arg.startswith("--config=")]
    assert overrides == [*COMPLETION_ONLY_CONFIG, *NO_PERSONA_CONFIG]
    for setting in (
        'approval_policy="never"',
        'web_search="disabled"',
        "features.shell_tool=false",
        "features.unified_exec=false",
        "include_permissions_instructions=false",
    ):
        assert setting in overrides


def test_codex_keeps_its_own_instructions_with_the_agent_persona() -> None:
    argv = _argv(DRIVERS["codex"], "codex", "gpt-5", persona="agent")
    overrides = [arg.removeprefix("--config=") for arg in argv if arg.startswith("--config=")]
    assert overrides == list(COMPLETION_ONLY_CONFIG)


def test_gemini_command_line_is_stream_json_with_every_tool_denied() -> None:
    from contracts.providers.gemini import NO_TOOLS_POLICY

    assert _argv(DRIVERS["gemini"], "gemini", "gemini-2.5-flash") == (
        "gemini",
        "--output-format=stream-json",
        "--model=gemini-2.5-flash",
        "--skip-trust",
        f"--admin-policy={NO_TOOLS_POLICY}",  # plan mode alone is escapable (issue 7)
        f"--policy={NO_TOOLS_POLICY}",
    )


def test_amp_command_line_has_no_model_flag() -> None:
    assert _argv(DRIVERS["amp"], "amp", "amp-smart") == (
        "amp",
        "-x",
        "--stream-json",
        "--no-ide",
        "--no-notifications",
    )


@pytest.mark.parametrize("found", DRIVER_LIST, ids=IDS)
def test_a_hostile_model_name_stays_inside_its_option(found: CliDriver) -> None:
    model = "-rf --dangerously-skip-permissions"
    argv = _argv(found, "cli", model)
    assert model not in argv
    assert not any(arg.startswith("--dangerously") for arg in argv)


@pytest.mark.parametrize("found", DRIVER_LIST, ids=IDS)
def test_every_option_value_is_attached_with_equals(found: CliDriver) -> None:
    """A value passed as a separate argument could be read as another flag."""
    argv = _argv(found, "cli", "model-x")
    positional = {"cli", "exec", "-", "resume", "9b2e"}
    assert all(arg.startswith("-") or arg in positional for arg in argv)


@pytest.mark.parametrize("found", DRIVER_LIST, ids=IDS)
def test_the_conversation_is_never_on_the_command_line(found: CliDriver) -> None:
    """No text of the conversation reaches argv: it goes to stdin or to files."""
    secret = "TURN-TEXT-7d1f"
    request = LaunchRequest(
        executable="cli",
        model="m",
        workspace=Workspace("/w", "9b2e"),
        conversation=Conversation(
            system=f"system {secret}",
            turns=(Turn("user", f"u {secret}"), Turn("assistant", "a"), Turn("user", secret)),
        ),
    )
    assert not any(secret in arg for arg in found.launch(request).argv)


@pytest.mark.parametrize("found", DRIVER_LIST, ids=IDS)
def test_operator_extra_args_are_kept_whole_and_in_order(found: CliDriver) -> None:
    argv = _argv(found, "cli", "m", ("--config=a=1", "--flag"))
    at = argv.index("--config=a=1")
    assert argv[at + 1] == "--flag"


def test_claude_fixed_environment_turns_off_updates_and_nonessential_traffic() -> None:
    assert dict(DRIVERS["claude"].fixed_env()) == {
        "DISABLE_AUTOUPDATER": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }


@pytest.mark.parametrize("found", DRIVER_LIST, ids=IDS)
def test_fixed_environment_holds_no_credential_and_survives_scrubbing(found: CliDriver) -> None:
    fixed = found.fixed_env()
    assert not set(fixed) & set(found.profile.auth_env)
    env = scrubbed_environment({"PATH": "/bin"}, found.profile, fixed=fixed)
    assert env == {"PATH": "/bin", **fixed}


@pytest.mark.parametrize(
    ("provider", "files"),
    [
        ("claude", (".claude/.credentials.json",)),
        ("codex", (".codex/auth.json",)),
        (
            "gemini",
            (".gemini/oauth_creds.json", ".gemini/settings.json", ".gemini/google_accounts.json"),
        ),
        ("amp", (".local/share/amp/secrets.json",)),
    ],
)
def test_credential_files_are_home_relative_login_files(
    provider: str, files: tuple[str, ...]
) -> None:
    found = DRIVERS[provider].credential_files
    assert found == files
    assert all(not path.startswith("/") and ".." not in path.split("/") for path in found)
