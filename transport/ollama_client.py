"""A client of one Ollama server's REST API (``docs/api.md`` of ollama/ollama).

    async with OllamaClient("http://127.0.0.1:11434") as ollama:
        print(await ollama.version())  # "0.12.3"
        if not any(tag.name == "qwen2.5:0.5b" for tag in await ollama.tags()):
            tracker = PullTracker()
            async with ollama.pull("qwen2.5:0.5b") as progress:
                async for step in progress:
                    if tracker.add(step) > max_bytes:
                        break  # leaving the block closes the stream: Ollama drops the pull

Errors are :class:`OllamaError` and its kinds: :class:`OllamaUnavailable` (refused, timed
out, cut off, or a 5xx), :class:`OllamaPullFailed` (a pull answered non-2xx, ended on an
``{"error": …}`` line — Ollama sends its pull failures that way, with HTTP 200 — or stopped
before ``success``) and :class:`OllamaModelNotFound`, the pull failure for a name the
registry does not have. A model missing locally is an answer, not an error: ``show`` returns
None and ``delete`` False. A user or password in the base URL goes to Ollama as Basic auth
(for a proxy in front of it) and never into a message or a repr.

A pull has no read timeout: Ollama is silent while it verifies a large download, so a
caller bounds it with its own cancel scope. Every other call times out after ``timeout``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, Final, TypeVar

import httpx
import msgspec

from transport.http import check_base_url

__all__ = [
    "ModelDetails",
    "ModelInfo",
    "ModelTag",
    "OllamaClient",
    "OllamaError",
    "OllamaModelNotFound",
    "OllamaPullFailed",
    "OllamaUnavailable",
    "PullProgress",
    "PullTracker",
    "RunningModel",
    "layer_totals",
]

DEFAULT_TIMEOUT_SECONDS: Final = 10.0
UNKNOWN_MODEL_ERROR: Final = "pull model manifest: file does not exist"
"""How Ollama's pull says the registry has no such model (after ``pulling manifest``)."""
T = TypeVar("T")


class OllamaError(Exception):
    """Ollama did not do what was asked; the message names the server, never credentials."""


class OllamaUnavailable(OllamaError):
    """The server did not answer: refused, timed out, cut off, or a 5xx."""


class OllamaPullFailed(OllamaError):
    """A pull that did not reach ``success``."""


class OllamaModelNotFound(OllamaPullFailed):
    """A pull of a name the registry does not have."""


class ModelDetails(msgspec.Struct, frozen=True):
    parent_model: str = ""
    format: str = ""
    family: str = ""
    families: tuple[str, ...] | None = None
    parameter_size: str = ""
    quantization_level: str = ""


class ModelTag(msgspec.Struct, frozen=True):
    """A model on the server's disk, as ``/api/tags`` lists it (``digest`` is bare hex)."""

    name: str
    model: str = ""
    size: int = 0
    digest: str = ""
    modified_at: str = ""
    details: ModelDetails = msgspec.field(default_factory=ModelDetails)


class ModelInfo(msgspec.Struct, frozen=True):
    """What ``/api/show`` tells about a local model."""

    details: ModelDetails = msgspec.field(default_factory=ModelDetails)
    model_info: dict[str, Any] = msgspec.field(default_factory=dict)
    capabilities: tuple[str, ...] = ()
    modified_at: str = ""
    parameters: str = ""
    template: str = ""
    license: str = ""

    @property
    def context_length(self) -> int | None:
        """The model's trained context length (``<architecture>.context_length``), if told."""
        value = self.model_info.get(f"{self.model_info.get('general.architecture')}.context_length")
        return value if isinstance(value, int) else None


class RunningModel(msgspec.Struct, frozen=True):
    """A model loaded in memory, as ``/api/ps`` lists it."""

    name: str
    model: str = ""
    size: int = 0
    digest: str = ""
    expires_at: str = ""
    size_vram: int = 0
    context_length: int = 0
    details: ModelDetails = msgspec.field(default_factory=ModelDetails)


class PullProgress(msgspec.Struct, frozen=True):
    """One line of a pull: ``digest``, ``total`` and ``completed`` only on layer lines."""

    status: str
    digest: str = ""
    total: int = 0
    completed: int = 0


class PullTracker:
    """Adds up a pull's layers as they are announced, each digest's ``total`` once.

    Ollama announces a layer's size on its first line, long before its bytes arrive, so a
    pull whose :attr:`total` passes a limit can be left at once::

        tracker = PullTracker()
        async for step in progress:
            if tracker.add(step) > max_bytes:
                break
    """

    def __init__(self) -> None:
        self._totals: dict[str, int] = {}
        self._completed: dict[str, int] = {}

    def add(self, progress: PullProgress) -> int:
        """Count one line; returns :attr:`total` so far."""
        if progress.digest and progress.total:
            self._totals.setdefault(progress.digest, progress.total)
            previous = self._completed.get(progress.digest, 0)
            self._completed[progress.digest] = max(previous, progress.completed)
        return self.total

    @property
    def total(self) -> int:
        """Bytes of every layer announced so far."""
        return sum(self._totals.values())

    @property
    def completed(self) -> int:
        """Bytes downloaded so far (each layer's highest ``completed``)."""
        return sum(self._completed.values())


def layer_totals(progress_seen: Iterable[PullProgress]) -> int:
    """The sum of the layer sizes announced in ``progress_seen`` (each digest once)."""
    tracker = PullTracker()
    for progress in progress_seen:
        tracker.add(progress)
    return tracker.total


class _Version(msgspec.Struct):
    version: str


class _Tags(msgspec.Struct):
    models: list[ModelTag] | None = None


class _Running(msgspec.Struct):
    models: list[RunningModel] | None = None


class _Error(msgspec.Struct):
    error: str = ""


class _PullLine(msgspec.Struct):
    status: str = ""
    digest: str = ""
    total: int = 0
    completed: int = 0
    error: str | None = None


_VERSION: Final = msgspec.json.Decoder(_Version)
_TAGS: Final = msgspec.json.Decoder(_Tags)
_RUNNING: Final = msgspec.json.Decoder(_Running)
_INFO: Final = msgspec.json.Decoder(ModelInfo)
_ERROR: Final = msgspec.json.Decoder(_Error)
_PULL_LINE: Final = msgspec.json.Decoder(_PullLine)


class OllamaClient:
    """Talks to the Ollama server at ``base_url`` (e.g. ``http://127.0.0.1:11434``).

    ``http`` is an ``httpx.AsyncClient`` to use (the caller closes it); without one the
    client makes its own, closed by :meth:`aclose` or ``async with``.
    """

    def __init__(
        self,
        base_url: str,
        *,
        http: httpx.AsyncClient | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        url = check_base_url(base_url, "the Ollama URL")
        self._base = str(url.copy_with(query=None, fragment=None))
        self._shown = str(url.copy_with(username=None, password=None, query=None, fragment=None))
        userinfo = url.userinfo.decode("ascii", "replace")
        decoded = f"{url.username}:{url.password}"
        self._secrets = [s for s in (userinfo, decoded, url.password) if s and s != ":"]
        self._owns_http = http is None
        self._http = http if http is not None else httpx.AsyncClient(trust_env=False)
        self._timeout = httpx.Timeout(timeout)
        self._pull_timeout = httpx.Timeout(timeout, read=None)

    def __repr__(self) -> str:
        return f"OllamaClient({self._shown!r})"

    @property
    def url(self) -> str:
        """The base URL without credentials."""
        return self._shown

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> OllamaClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def version(self) -> str:
        """``GET /api/version``: the server's version, e.g. ``"0.12.3"``."""
        return self._decode(_VERSION, await self._call("GET", "/api/version")).version

    async def tags(self) -> list[ModelTag]:
        """``GET /api/tags``: the models on the server's disk, most recent first."""
        return self._decode(_TAGS, await self._call("GET", "/api/tags")).models or []

    async def show(self, name: str) -> ModelInfo | None:
        """``POST /api/show``: what the server knows of a local model; None if it has none."""
        response = await self._call("POST", "/api/show", {"model": name})
        return None if response.status_code == 404 else self._decode(_INFO, response)

    async def ps(self) -> list[RunningModel]:
        """``GET /api/ps``: the models loaded in memory."""
        return self._decode(_RUNNING, await self._call("GET", "/api/ps")).models or []

    async def delete(self, name: str) -> bool:
        """``DELETE /api/delete``: True if the model was there and is gone, False if absent."""
        response = await self._call("DELETE", "/api/delete", {"model": name})
        if response.status_code == 404:
            return False
        self._check(response)
        return True

    @asynccontextmanager
    async def pull(self, name: str) -> AsyncIterator[AsyncIterator[PullProgress]]:
        """``POST /api/pull``: the progress lines, ``pulling manifest`` to ``success``.

        The iterator ends after ``success`` and raises :class:`OllamaPullFailed` (or
        :class:`OllamaModelNotFound`) on an error line. Leaving the block early closes the
        HTTP stream, and Ollama abandons a pull nobody listens to.
        """
        body = {"model": name, "stream": True}
        request = self._http.build_request(
            "POST", f"{self._base}/api/pull", json=body, timeout=self._pull_timeout
        )
        try:
            response = await self._http.send(request, stream=True)
        except httpx.TransportError as exc:
            raise self._unavailable(exc) from exc
        try:
            if not response.is_success:
                try:
                    await response.aread()
                except httpx.TransportError as exc:
                    raise self._unavailable(exc) from exc
                raise OllamaPullFailed(
                    f"pulling {name!r} on Ollama at {self._shown} was refused: "
                    f"{response.status_code} {self._error_text(response)}"
                )
            lines = self._progress(response, name)
            try:
                yield lines
            finally:
                await lines.aclose()
        finally:
            await response.aclose()

    async def _progress(
        self, response: httpx.Response, name: str
    ) -> AsyncGenerator[PullProgress, None]:
        try:
            async for line in response.aiter_lines():
                if not line.strip():
                    continue
                try:
                    step = _PULL_LINE.decode(line)
                except msgspec.DecodeError:
                    raise OllamaPullFailed(
                        f"pulling {name!r} on Ollama at {self._shown}: a line that is not progress"
                    ) from None
                if step.error is not None:
                    kind = (
                        OllamaModelNotFound
                        if step.error.startswith(UNKNOWN_MODEL_ERROR)
                        else OllamaPullFailed
                    )
                    raise kind(
                        f"pulling {name!r} on Ollama at {self._shown} failed: "
                        f"{self._scrub(step.error)}"
                    )
                yield PullProgress(step.status, step.digest, step.total, step.completed)
                if step.status == "success":
                    return
        except httpx.TransportError as exc:
            raise self._unavailable(exc) from exc
        raise OllamaPullFailed(f"pulling {name!r} on Ollama at {self._shown} ended before success")

    async def _call(self, method: str, path: str, body: object = None) -> httpx.Response:
        try:
            response = await self._http.request(
                method, f"{self._base}{path}", json=body, timeout=self._timeout
            )
        except httpx.TransportError as exc:
            raise self._unavailable(exc) from exc
        if response.status_code >= 500:
            raise OllamaUnavailable(
                f"Ollama at {self._shown} answered {response.status_code} to {method} {path}: "
                f"{self._error_text(response)}"
            )
        return response

    def _check(self, response: httpx.Response) -> None:
        if not response.is_success:
            raise OllamaError(
                f"Ollama at {self._shown} answered {response.status_code} to "
                f"{response.request.method} {response.request.url.path}: "
                f"{self._error_text(response)}"
            )

    def _decode(self, decoder: msgspec.json.Decoder[T], response: httpx.Response) -> T:
        self._check(response)
        try:
            return decoder.decode(response.content)
        except msgspec.DecodeError as exc:
            raise OllamaError(
                f"Ollama at {self._shown} gave a malformed answer to "
                f"{response.request.url.path}: {exc}"
            ) from None

    def _error_text(self, response: httpx.Response) -> str:
        try:
            text = _ERROR.decode(response.content).error
        except msgspec.DecodeError:
            text = ""
        return self._scrub(text or response.text[:200] or response.reason_phrase)

    def _unavailable(self, exc: httpx.TransportError) -> OllamaUnavailable:
        reason = self._scrub(str(exc)) or type(exc).__name__
        return OllamaUnavailable(f"Ollama at {self._shown} is unavailable: {reason}")

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text
