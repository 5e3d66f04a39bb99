"""A session's secrets stay in it: every text that leaves a session is redacted.

A CLI is handed secrets (its API key, a token in the environment it runs with) and may
print them anywhere: on stderr, on stdout as a line that is not JSON, inside an error
result. Whatever stream they came from, texts leave a session only through a
:class:`Redactor` built from what the session was handed::

    >>> redactor = Redactor.of({"ANTHROPIC_API_KEY": "sk-ant-0123456789"}, ["ANTHROPIC_API_KEY"])
    >>> redactor.text("bad key sk-ant-0123456789")
    'bad key [redacted]'
    >>> redactor.line(b'{"error":"sk-ant-0123456789"}')
    b'{"error":"[redacted]"}'

Why three places, not one: a decoder quotes only an excerpt of a line, and a key cut in
half by the excerpt would escape a whole-value match, so stdout lines are redacted
before the decoder sees them (:meth:`Redactor.line`); what a decoder unescaped from JSON
(``\\u0073k-…``) is caught in the events (:meth:`Redactor.event`, every string field of
every event, the answer's text included); the stderr tail, cut at its start, also loses
a key's trailing part there (:meth:`Redactor.tail`). Log lines carry only these events.

The values redacted: those of the provider's auth variables, and of every variable of
the session's environment whose name says it holds a secret (KEY, TOKEN, SECRET,
PASSWORD, CREDENTIAL, AUTH, COOKIE), at least :data:`MIN_SECRET` characters long
(shorter ones would cut ordinary words out of the text). A streamed answer is redacted
as one text (:class:`DeltaGuard`): a delta's end that could begin a secret is held back
until the next delta shows whether it does, so a key split between two deltas is caught
too; text that begins no secret is never held.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Final

import msgspec

from contracts.session import SessionEvent

__all__ = ["MIN_SECRET", "REDACTED", "DeltaGuard", "Redactor"]

MIN_SECRET: Final = 8
REDACTED: Final = "[redacted]"
_MIN_PART: Final = 4  # the least of a cut key's remains that is still redacted
_SECRET_NAME: Final = re.compile(
    r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH|COOKIE", re.IGNORECASE
).search


class Redactor:
    """Cuts a fixed set of secret values out of texts, lines and session events."""

    def __init__(self, secrets: Iterable[str]) -> None:
        values = {value for value in secrets if len(value) >= MIN_SECRET}
        self._values = sorted(values, key=len, reverse=True)  # a longer one hides whole
        forms: set[str] = set()
        for value in self._values:
            forms.add(value)
            for ascii_only in (False, True):  # as JSON writes it inside a string
                escaped = json.dumps(value, ensure_ascii=ascii_only)[1:-1]
                forms.update((escaped, escaped.replace("/", "\\/")))
        self._forms = sorted(forms, key=len, reverse=True)
        self._byte_forms = [form.encode("utf-8", "surrogatepass") for form in self._forms]

    @classmethod
    def of(cls, env: Mapping[str, str], auth_names: Iterable[str] = ()) -> Redactor:
        """The redactor of a session run with ``env``: its auth variables' values and
        those of every variable named like a secret."""
        names = set(auth_names)
        return cls(value for name, value in env.items() if name in names or _SECRET_NAME(name))

    def __bool__(self) -> bool:
        return bool(self._values)

    def text(self, text: str) -> str:
        """``text`` without any of the secrets (raw or JSON-escaped)."""
        for form in self._forms:
            if form in text:
                text = text.replace(form, REDACTED)
        return text

    def pending(self, text: str) -> int:
        """How many characters at the end of ``text`` could be the start of a secret
        (the longest proper prefix of a secret, raw or escaped, that ``text`` ends with)."""
        longest = 0
        for form in self._forms:
            for size in range(min(len(form) - 1, len(text)), longest, -1):
                if text.endswith(form[:size]):
                    longest = size
                    break
        return longest

    def line(self, line: bytes) -> bytes:
        """A raw stdout line without any of the secrets, before it is decoded."""
        for form in self._byte_forms:
            if form in line:
                line = line.replace(form, REDACTED.encode())
        return line

    def tail(self, tail: str) -> str:
        """The last of a stream: :meth:`text`, and a secret's end at its start (the cut
        may fall inside a key) redacted as well."""
        tail = self.text(tail)
        for value in self._values:
            for start in range(1, len(value) - _MIN_PART + 1):
                if tail.startswith(value[start:]):
                    return REDACTED + tail[len(value) - start :]
        return tail

    def event(self, event: SessionEvent) -> SessionEvent:
        """``event`` with every string field redacted (the same object when none held one)."""
        if not self._values:
            return event
        changed: dict[str, str] = {}
        for name in event.__struct_fields__:
            value = getattr(event, name)
            if isinstance(value, str):
                clean = self.text(value)
                if clean is not value and clean != value:
                    changed[name] = clean
        return msgspec.structs.replace(event, **changed) if changed else event


class DeltaGuard:
    """One streamed answer's deltas, redacted as one text::

    guard = DeltaGuard(Redactor(["sk-ant-0123456789"]))
    guard.feed("key: sk-ant-01")   # 'key: ' (the rest could begin the key: held)
    guard.feed("23456789 ok")      # '[redacted] ok'
    guard.flush()                  # '' (whatever is still held, at the end)
    """

    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor
        self._held = ""

    def feed(self, text: str) -> str:
        """What of the deltas so far may go out now, redacted."""
        if not self._redactor:
            return text
        text = self._redactor.text(self._held + text)
        keep = self._redactor.pending(text)
        self._held = text[len(text) - keep :] if keep else ""
        return text[: len(text) - keep]

    def flush(self) -> str:
        """The text still held back (the answer ended: it began no secret after all)."""
        held, self._held = self._held, ""
        return held
