"""Decode + validate throughput of the four bus.inference requests: msgspec vs pydantic v2.

The pydantic models state the same rules (strict types, unknown keys forbidden, the same
patterns and cross-field checks, optional fields absent but never null) and do the same
work: a missing sub-model is one shared frozen default, as in the Structs, not one built
per call. Before timing, both validators must agree on every payload of the corpus (valid
ones accepted, invalid ones refused), so the table compares the same work. Rounds
alternate between the two, and the best round of each is kept.

    python -m benchmarks.validation [--rounds 7] [--seconds 0.2]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Annotated, Any, Literal

import msgspec
from pydantic import (
    MISSING,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from contracts.inference import (
    INSTALL_REQUEST,
    MODEL_ENSURE_REQUEST,
    MODEL_PATTERN,
    STATUS_REQUEST,
    VERIFY_REQUEST,
    Invalid,
    check_listen,
    validate,
)

# --- the same rules as pydantic v2 models -------------------------------------------

_NODE = r"^[A-Za-z0-9_-]{1,64}$"
_REF = r"^secret://deployment/[A-Za-z0-9._-]+$"
_USER = r"^[a-z_][a-z0-9_-]{0,31}$"
_MODEL = "^" + MODEL_PATTERN[2:-2] + "$"
_STRICT = ConfigDict(extra="forbid", strict=True, frozen=True)

Ref = Annotated[str, Field(pattern=_REF)]
PositiveInt = Annotated[int, Field(gt=0, le=2**63 - 1)]


# Optional fields may be absent but never null, as in the contract: pydantic's MISSING
# sentinel is msgspec's UNSET (a validator never sees it, since defaults are not validated).


class PRuntime(BaseModel):
    model_config = _STRICT
    listen: str | MISSING = MISSING
    context_length: PositiveInt | MISSING = MISSING
    service_user: Annotated[str, Field(pattern=_USER)] | MISSING = MISSING
    environment: Literal["dev", "staging", "prod"] = "dev"

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        check_listen(value)
        return value


class PCredentials(BaseModel):
    model_config = _STRICT
    api_token_secret: Ref | MISSING = MISSING
    tls_ca_file: Ref | MISSING = MISSING
    ssh_private_key_secret: Ref | MISSING = MISSING

    @field_validator("*")
    @classmethod
    def _not_dot_names(cls, value: str) -> str:
        if value.rsplit("/", 1)[1] in (".", ".."):
            raise ValueError("not a reference")
        return value


class PPolicy(BaseModel):
    model_config = _STRICT
    allow_model_download: bool = False
    max_model_size_bytes: PositiveInt | MISSING = MISSING
    require_confirmation_for_prod: bool = True


class _PRequest(BaseModel):
    model_config = _STRICT
    provider: Literal["ollama"]
    node_id: Annotated[str, Field(pattern=_NODE)]


class _PConfirmed(_PRequest):
    dry_run: bool = True
    confirm: bool = False

    @model_validator(mode="after")
    def _confirm(self) -> _PConfirmed:
        if not self.dry_run and not self.confirm:
            raise ValueError("confirm must be true unless dry_run is true")
        return self


# Frozen, so one default instance is shared (pydantic does not copy it), as in the contract.
class PInstall(_PConfirmed):
    runtime: PRuntime = PRuntime()
    credentials: PCredentials = PCredentials()


class PModelEnsure(_PConfirmed):
    model: Annotated[str, Field(pattern=_MODEL)]
    policy: PPolicy = PPolicy()

    @field_validator("model")
    @classmethod
    def _bytes(cls, value: str) -> str:
        if len(value.encode()) > 200:
            raise ValueError("model is over 200 bytes")
        return value


class PStatus(_PRequest):
    pass


class PVerify(_PRequest):
    checks: list[Literal["runtime-ready", "model-ready", "loopback-only"]] | MISSING = MISSING

    @field_validator("checks")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if not value or len(set(value)) != len(value):
            raise ValueError("checks must be non-empty and unique")
        return value


PYDANTIC: dict[str, type[BaseModel]] = {
    INSTALL_REQUEST: PInstall,
    MODEL_ENSURE_REQUEST: PModelEnsure,
    STATUS_REQUEST: PStatus,
    VERIFY_REQUEST: PVerify,
}

# --- the corpus -----------------------------------------------------------------------

_BASE = {"provider": "ollama", "node_id": "gpu-node-1"}
CORPUS: dict[str, list[Any]] = {
    INSTALL_REQUEST: [
        _BASE,
        {
            **_BASE,
            "runtime": {"listen": "127.0.0.1:11434", "context_length": 8192, "environment": "prod"},
            "credentials": {"ssh_private_key_secret": "secret://deployment/node.ssh"},
            "dry_run": False,
            "confirm": True,
        },
        {**_BASE, "runtime": {"service_user": "ollama", "listen": "[::1]:11434"}},
    ],
    MODEL_ENSURE_REQUEST: [
        {**_BASE, "model": "llama3.2:3b"},
        {
            **_BASE,
            "model": "qwen2.5-coder:7b-instruct",
            "policy": {"allow_model_download": True, "max_model_size_bytes": 5_000_000_000},
            "dry_run": False,
            "confirm": True,
        },
    ],
    STATUS_REQUEST: [_BASE, {"provider": "ollama", "node_id": "n"}],
    VERIFY_REQUEST: [_BASE, {**_BASE, "checks": ["runtime-ready", "model-ready", "loopback-only"]}],
}
INVALID: dict[str, list[Any]] = {
    INSTALL_REQUEST: [
        {**_BASE, "model": "x"},
        {**_BASE, "dry_run": False},
        {**_BASE, "credentials": {"api_token_secret": "inline"}},
        {**_BASE, "runtime": {"listen": None}},
        {**_BASE, "credentials": {"tls_ca_file": None}},
    ],
    MODEL_ENSURE_REQUEST: [
        {**_BASE, "model": "a b"},
        {**_BASE, "model": "m", "confirm": "true"},
        {**_BASE, "model": "m", "policy": {"max_model_size_bytes": None}},
    ],
    STATUS_REQUEST: [{"provider": "ollama", "node_id": "a b"}, {**_BASE, "x": 1}],
    VERIFY_REQUEST: [
        {**_BASE, "checks": ["model-ready", "model-ready"]},
        {**_BASE, "checks": []},
        {**_BASE, "checks": None},
    ],
}


def _msgspec_accepts(event: str) -> Callable[[bytes], bool]:
    return lambda data: not isinstance(validate(event, data), Invalid)


def _pydantic_accepts(event: str) -> Callable[[bytes], bool]:
    model = PYDANTIC[event]

    def accepts(data: bytes) -> bool:
        try:
            model.model_validate_json(data)
        except ValidationError:
            return False
        return True

    return accepts


def _check_agreement() -> None:
    for event in PYDANTIC:
        for expected, payloads in ((True, CORPUS[event]), (False, INVALID[event])):
            for payload in payloads:
                data = msgspec.json.encode(payload)
                got = (_msgspec_accepts(event)(data), _pydantic_accepts(event)(data))
                if got != (expected, expected):
                    raise SystemExit(f"validators disagree on {event} {payload}: {got}")


def _rate(accepts: Callable[[bytes], bool], corpus: list[bytes], seconds: float) -> float:
    """Payloads validated per second over one round of about ``seconds``."""
    done, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        for data in corpus:
            accepts(data)
        done += len(corpus)
        now = time.perf_counter()
        if now >= deadline:
            return done / (now - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=0.2, help="length of one round")
    args = parser.parse_args()
    _check_agreement()
    print("| request | msgspec (validations/s) | pydantic v2 (validations/s) | ratio |")
    print("|---|---:|---:|---:|")
    for event in PYDANTIC:
        corpus = [msgspec.json.encode(p) for p in CORPUS[event]]
        ours, theirs = _msgspec_accepts(event), _pydantic_accepts(event)
        best_ours = best_theirs = 0.0
        for _ in range(args.rounds):
            best_ours = max(best_ours, _rate(ours, corpus, args.seconds))
            best_theirs = max(best_theirs, _rate(theirs, corpus, args.seconds))
        print(
            f"| {event} | {best_ours:,.0f} | {best_theirs:,.0f} | {best_ours / best_theirs:.1f}x |"
        )


if __name__ == "__main__":
    main()
