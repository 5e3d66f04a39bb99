"""The JSON text rules of the bus: how deep a payload may nest, and one event per line.

An NDJSON listener splits the stream at line breaks, so a payload stored byte for byte
could forge events: ``[1,\\n{"id":"9","name":"bus.inference.verify.response",…}\\n,2]``
is valid JSON that would arrive as three lines, the middle one a whole event. And a
JSON text nested 1,000 deep makes every recursive decoder (msgspec's, Python's, most
clients') fail, so such a payload is refused at the door instead of breaking listeners::

    >>> one_line(b'[1,\\n {"a": "b"}\\r\\n]')
    b'[1, {"a": "b"}]'
    >>> one_line('["\\u2028"]'.encode())
    b'["\\\\u2028"]'
    >>> nests_deeper_than(b'[[["]]]]]"]]]', 2)
    True

Why bytes rather than decode and re-encode: in valid JSON a raw CR, LF or TAB can only
be whitespace between tokens (inside a string they must be escaped), so dropping them
keeps the value exactly, numbers' spelling, key order and all, at C speed and without
building a Python object per node. U+2028, U+2029 and U+0085 may stand raw inside a
string, and some line readers (``str.splitlines``, httpx's ``aiter_lines``) break lines
there too, so they are written as ``\\uXXXX`` escapes, which is the same JSON value.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["MAX_JSON_DEPTH", "nests_deeper_than", "one_line", "payload_line"]

MAX_JSON_DEPTH: Final = 64
"""How many arrays and objects a payload (or an envelope's metadata) may nest, the
outermost one counted: ``[[1]]`` nests 2. Well under what recursive decoders survive
(Python's ~1,000, serde_json's 128), so every listener can decode every event."""

_LINE_BREAKS: Final = b"\r\n\t"  # whitespace outside strings in valid JSON, never inside
_SEPARATORS: Final = (
    ("\u2028".encode(), b"\\u2028"),
    ("\u2029".encode(), b"\\u2029"),
    ("\u0085".encode(), b"\\u0085"),
)
_KEEP_BRACKETS_AND_QUOTES: Final = bytes(b for b in range(256) if b not in b'[]{}"')
_FOLD: Final = bytes.maketrans(b"{}", b"[]")
_PEAK: Final = re.compile(rb"(\[+)(\]+)")
_PASSES: Final = 8


def one_line(text: bytes) -> bytes:
    """Valid JSON ``text`` as the same value on one line: no CR, LF or TAB (whitespace
    between tokens), U+2028, U+2029 and U+0085 escaped."""
    if text.isascii():
        if b"\n" in text or b"\r" in text or b"\t" in text:
            return text.translate(None, _LINE_BREAKS)
        return text
    text = text.translate(None, _LINE_BREAKS)
    for raw, escaped in _SEPARATORS:
        if raw in text:
            text = text.replace(raw, escaped)
    return text


def payload_line(text: bytes) -> bytes:
    """:func:`one_line` of a payload that must also be UTF-8; raises ValueError if not.

    Invalid UTF-8 is refused rather than repaired: a JSON text is UTF-8 (RFC 8259 §8.1),
    and a listener's decoder would fail on the line that carried it.
    """
    if not text.isascii():
        try:
            text.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ValueError(f"the payload is not valid UTF-8 (byte {error.start})") from None
    return one_line(text)


def nests_deeper_than(text: bytes, limit: int) -> bool:
    """Whether the valid JSON ``text`` nests more than ``limit`` arrays and objects.

    Linear and in C for the usual shapes: strings are cut out (escaped quotes first),
    leaving only brackets; then each pass drops every innermost ``[]`` (one level off
    the height of every branch), and what is left after a few passes has few enough
    peaks to walk. Meant for text a JSON decoder has accepted: unbalanced brackets give
    a meaningless answer.
    """
    brackets = _brackets(text)
    if brackets.count(b"[") <= limit:
        return False
    if b"[" * (limit + 1) in brackets:
        return True
    passes = 0
    while brackets and passes < min(_PASSES, limit):
        brackets = brackets.replace(b"[]", b"")
        passes += 1
    depth = 0
    for peak in _PEAK.finditer(brackets):
        if depth + len(peak[1]) + passes > limit:
            return True
        depth += len(peak[1]) - len(peak[2])
    return False


def _brackets(text: bytes) -> bytes:
    """The brackets of ``text`` outside its strings, ``{}`` written as ``[]``."""
    # In valid JSON every backslash starts an escape inside a string; taking out the
    # escaped backslashes first leaves every escaped quote as a plain `\"`.
    text = text.replace(b"\\\\", b"").replace(b'\\"', b"")
    text = text.translate(None, _KEEP_BRACKETS_AND_QUOTES)
    outside_strings = text.split(b'"')[::2]
    return b"".join(outside_strings).translate(_FOLD)
