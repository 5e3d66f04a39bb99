"""No token speaks for the inference bridge (issue 15): its stored answers are trusted by
its identity, so that subject is never issued, and a token carrying it is refused."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import jwt
import pytest

from contracts.events import DEFAULT_AUDIENCE
from contracts.inference import BRIDGE_IDENTITY
from transport.events import InvalidToken, TokenVerifier, issue_token

SECRET = b"a-secret-of-the-events-api-0123456789abcdef"
ASM = str(Path(sys.executable).parent / "asm")


def test_no_token_is_issued_for_the_bridges_subject() -> None:
    with pytest.raises(ValueError, match="bridge"):
        issue_token(SECRET, subject=BRIDGE_IDENTITY, scopes="inference:admin", ttl_seconds=60)


def test_a_token_signed_for_the_bridges_subject_is_refused() -> None:
    now = int(time.time())
    claims = {"sub": BRIDGE_IDENTITY, "aud": DEFAULT_AUDIENCE, "scope": "inference:admin"}
    forged = jwt.encode({**claims, "iat": now, "exp": now + 60}, SECRET, algorithm="HS256")
    with pytest.raises(InvalidToken, match="bridge"):
        TokenVerifier(SECRET).verify(forged)


def test_asm_token_issue_refuses_the_bridges_subject(tmp_path: Path) -> None:
    argv = [ASM, "token", "issue", "--subject", BRIDGE_IDENTITY, "--scope", "inference:read"]
    result = subprocess.run(
        [*argv, "--state-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "no token speaks for it" in result.stderr
    assert result.stdout == ""
