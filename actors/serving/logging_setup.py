"""How ``asm serve`` logs: readable lines (``--log-format text``, the default) or JSON.

``text`` puts one line per record on stderr, INFO and above by default (``-v`` adds
DEBUG, ``-q`` keeps WARNING and above)::

    14:09:45.716 INFO asm.http: POST admin 201 14ms [req 9f…]
    14:09:45.835 INFO asm.session: claude session crashed after 0.12s (model 'm') [req 70…]

``json`` puts one JSON object per line on stderr::

    {"time": "2026-11-21T09:56:15.123Z", "level": "INFO", "logger": "asm.http",
     "message": "POST admin 200 3ms", "request_id": "9f…", "lease_ref": "lease_…"}

``request_id`` and ``lease_ref`` come from the request being served
(:mod:`transport.http.request_context`) and are left out outside one; fields passed as
``extra=`` are added when JSON can carry them. The level applies to asm's own loggers
(``asm.*``); other libraries' loggers say only WARNING and above, so nothing they log
about a request's headers reaches the output. A record's message is whatever the
logger was given: the code that logs never passes a bearer token, a prompt or a secret
(SPEC §8), and the formatters add nothing but the fields above.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Final, Literal

from transport.http import current_lease_ref, current_request_id

__all__ = ["LOG_FORMATS", "JsonFormatter", "TextFormatter", "configure_logging"]

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


class TextFormatter(logging.Formatter):
    """One readable line per record: local time, level, logger, message, request ids."""

    def format(self, record: logging.LogRecord) -> str:
        clock = time.strftime("%H:%M:%S", time.localtime(record.created))
        line = f"{clock}.{int(record.msecs):03d} {record.levelname} {record.name}: "
        line += record.getMessage()
        request_id, lease_ref = current_request_id(), current_lease_ref()
        ids = [f"req {request_id}"] if request_id is not None else []
        ids += [f"lease {lease_ref}"] if lease_ref is not None else []
        if ids:
            line += f" [{' '.join(ids)}]"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure_logging(log_format: Literal["text", "json"], level: int = logging.INFO) -> None:
    """Send asm's records of ``level`` and above (others' of WARNING and above) to
    stderr, one line each, as ``log_format`` says."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("asm").setLevel(level)


def _is_json(value: object) -> bool:
    return value is None or isinstance(value, str | int | float | bool)
