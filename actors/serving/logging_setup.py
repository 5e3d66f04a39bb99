"""How ``asm serve`` logs: ``--log-format text`` (as before) or ``json``.

``json`` puts one JSON object per line on stderr, INFO and above::

    {"time": "2026-11-21T09:56:15.123Z", "level": "INFO", "logger": "asm.http",
     "message": "POST admin 200", "request_id": "9f…", "lease_ref": "lease_…"}

``request_id`` and ``lease_ref`` come from the request being served
(:mod:`transport.http.request_context`) and are left out outside one; fields passed as
``extra=`` are added when JSON can carry them. A record's message is whatever the
logger was given: the code that logs never passes a bearer token, a prompt or a secret
(SPEC §8), and the formatter adds nothing but the fields above.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Final, Literal

from transport.http import current_lease_ref, current_request_id

__all__ = ["LOG_FORMATS", "JsonFormatter", "configure_logging"]

LOG_FORMATS: Final = ("text", "json")
# The attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD: Final = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        entry: dict[str, object] = {
            "time": f"{seconds}.{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in entry and _is_json(value):
                entry[key] = value
        request_id, lease_ref = current_request_id(), current_lease_ref()
        if request_id is not None:
            entry["request_id"] = request_id
        if lease_ref is not None:
            entry["lease_ref"] = lease_ref
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(log_format: Literal["text", "json"]) -> None:
    """``text`` leaves logging as it is; ``json`` sends INFO and above, as JSON lines, to
    stderr."""
    if log_format == "text":
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def _is_json(value: object) -> bool:
    return value is None or isinstance(value, str | int | float | bool)
