"""What the fake Ollama serves: its registry catalogue, its model store and its pull lines.

The catalogue is the fake registry: the models a pull can fetch, each with its layers
(digest, size). The store is the node's disk: pulled models as one JSON file each, so
``/api/tags`` still lists them after a restart. :func:`pull_steps` is the NDJSON of one pull,
line for line as Ollama's ``PullModel`` reports it.

Environment (read once, by :meth:`FakeOllamaConfig.from_env`):

- ``FAKE_OLLAMA_CATALOG``: a JSON file of pullable models, a list (or ``{"models": [...]}``)
  of ``{"name", "layers": [{"digest"?, "size"}], "details"?, "context_length"?}``; default
  :data:`DEFAULT_MODELS`. A layer without a digest gets a made-up one.
- ``FAKE_OLLAMA_MODELS``: the store directory; default ``$OLLAMA_MODELS``, else a new
  temporary directory.
- ``FAKE_OLLAMA_PULL_DELAY_MS`` (default 0): the pause between two lines of a pull.
- ``FAKE_OLLAMA_FAIL_PULL_AFTER`` (bytes): a pull that would report more completed bytes
  than this ends with a ``{"error": BROKEN_PULL_ERROR}`` line instead.
- ``FAKE_OLLAMA_VERSION`` (default :data:`DEFAULT_VERSION`): what ``/api/version`` says.
- ``OLLAMA_HOST``, ``OLLAMA_CONTEXT_LENGTH``, ``OLLAMA_MODELS``: recorded for ``/fake/env``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DEFAULT_VERSION = "0.12.3"
CHUNKS_PER_LAYER = 4
UNKNOWN_MODEL_ERROR = "pull model manifest: file does not exist"
BROKEN_PULL_ERROR = "max retries exceeded: unexpected EOF"
REPORTED_ENV = ("OLLAMA_HOST", "OLLAMA_CONTEXT_LENGTH", "OLLAMA_MODELS")
DEFAULT_MODELS: dict[str, tuple[tuple[int, ...], str, str, int]] = {
    # name: (layer sizes: weights, template, license, params, config), family, size, context
    "qwen2.5:0.5b": ((397_807_936, 1_482, 11_343, 68, 488), "qwen2", "494.03M", 32_768),
    "llama3.2:1b": ((1_321_082_688, 1_429, 7_711, 6_016, 96, 435), "llama", "1.2B", 131_072),
    "smollm2:135m": ((270_898_144, 1_457, 11_358, 78, 484), "llama", "134.52M", 8_192),
}


def normalize(name: str) -> str:
    """``model`` → ``model:latest``, as Ollama names a model without a tag."""
    name = name.strip()
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def now() -> str:
    return datetime.now(UTC).astimezone().isoformat()


@dataclass(frozen=True)
class CatalogModel:
    """A model the fake registry serves: its layers as (digest, size) pairs."""

    name: str
    layers: tuple[tuple[str, int], ...]
    details: Mapping[str, Any]
    context_length: int = 4_096

    @property
    def size(self) -> int:
        return sum(size for _, size in self.layers)


def _digest(seed: str) -> str:
    return "sha256:" + hashlib.sha256(seed.encode()).hexdigest()


def _details(family: str = "llama", parameter_size: str = "1B") -> dict[str, Any]:
    return {
        "parent_model": "",
        "format": "gguf",
        "family": family,
        "families": [family],
        "parameter_size": parameter_size,
        "quantization_level": "Q4_K_M",
    }


def default_catalog() -> dict[str, CatalogModel]:
    return {
        name: CatalogModel(
            name,
            tuple((_digest(f"{name}#{i}"), size) for i, size in enumerate(sizes)),
            _details(family, parameters),
            context,
        )
        for name, (sizes, family, parameters, context) in DEFAULT_MODELS.items()
    }


def load_catalog(path: Path) -> dict[str, CatalogModel]:
    """Read a catalogue file (see the module docstring); a layer without digest gets one."""
    raw = json.loads(path.read_text())
    entries = raw["models"] if isinstance(raw, dict) else raw
    catalog = {}
    for entry in entries:
        name = normalize(entry["name"])
        layers = tuple(
            (layer.get("digest") or _digest(f"{name}#{i}"), int(layer["size"]))
            for i, layer in enumerate(entry["layers"])
        )
        details = {**_details(), **entry.get("details", {})}
        catalog[name] = CatalogModel(name, layers, details, int(entry.get("context_length", 4096)))
    return catalog


@dataclass(frozen=True)
class FakeOllamaConfig:
    """Everything a fake server is started with; tests build it, ``serve`` reads the env."""

    models_dir: Path
    catalog: Mapping[str, CatalogModel] = field(default_factory=default_catalog)
    version: str = DEFAULT_VERSION
    pull_delay_ms: int = 0
    fail_pull_after: int | None = None
    env: Mapping[str, str | None] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> FakeOllamaConfig:
        models = environ.get("FAKE_OLLAMA_MODELS") or environ.get("OLLAMA_MODELS")
        catalog = environ.get("FAKE_OLLAMA_CATALOG")
        fail_after = environ.get("FAKE_OLLAMA_FAIL_PULL_AFTER")
        return cls(
            models_dir=Path(models or tempfile.mkdtemp(prefix="fake-ollama-")),
            catalog=load_catalog(Path(catalog)) if catalog else default_catalog(),
            version=environ.get("FAKE_OLLAMA_VERSION") or DEFAULT_VERSION,
            pull_delay_ms=int(environ.get("FAKE_OLLAMA_PULL_DELAY_MS") or 0),
            fail_pull_after=int(fail_after) if fail_after else None,
            env={name: environ.get(name) for name in REPORTED_ENV},
        )


class ModelStore:
    """Pulled models, one JSON file each, so they outlive a restart of the server."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, name: str) -> Path:
        return self.root / (urllib.parse.quote(name, safe="") + ".json")

    def save(self, model: CatalogModel) -> None:
        layers = [{"digest": digest, "size": size} for digest, size in model.layers]
        record = {
            "name": model.name,
            "size": model.size,
            "digest": hashlib.sha256(json.dumps(layers).encode()).hexdigest(),
            "modified_at": now(),
            "details": dict(model.details),
            "context_length": model.context_length,
            "layers": layers,
        }
        path = self._path(model.name)
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(record))
        os.replace(partial, path)  # a reader never sees half a model

    def get(self, name: str) -> dict[str, Any] | None:
        try:
            record: dict[str, Any] = json.loads(self._path(normalize(name)).read_text())
        except FileNotFoundError:
            return None
        return record

    def all(self) -> list[dict[str, Any]]:
        records = [json.loads(path.read_text()) for path in self.root.glob("*.json")]
        return sorted(records, key=lambda record: str(record["modified_at"]), reverse=True)

    def delete(self, name: str) -> bool:
        try:
            self._path(normalize(name)).unlink()
        except FileNotFoundError:
            return False
        return True


def pull_steps(
    model: CatalogModel | None, fail_after: int | None
) -> Iterator[dict[str, Any] | None]:
    """The lines of one pull, in order, with None where the manifest is written (before
    ``success``, as Ollama does, so a client that has read ``success`` finds the model)."""
    yield {"status": "pulling manifest"}
    if model is None:
        yield {"error": UNKNOWN_MODEL_ERROR}
        return
    done = 0
    for digest, size in model.layers:
        steps = sorted({size * step // CHUNKS_PER_LAYER for step in range(CHUNKS_PER_LAYER + 1)})
        for completed in steps:
            if fail_after is not None and done + completed > fail_after:
                yield {"error": BROKEN_PULL_ERROR}
                return
            line = {"status": f"pulling {digest[7:19]}", "digest": digest, "total": size}
            yield {**line, "completed": completed} if completed else line
        done += size
    yield {"status": "verifying sha256 digest"}
    yield {"status": "writing manifest"}
    yield None
    yield {"status": "success"}
