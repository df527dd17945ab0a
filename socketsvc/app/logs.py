"""Log output of a node: ``log_format = "text"`` for people, ``"json"`` for log pipelines.

A JSON line is one object: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``,
``node``, and, where the line knows them, ``sid`` (Socket.IO), ``eio_sid`` (Engine.IO
session), ``namespace``, ``event`` and ``client`` (the client's address). A traceback travels
inside the same object (``exception``), never as lines of its own. socketsvc's own log calls
pass those fields as ``extra={...}`` (None values are left out); any other logger's lines
carry the base fields.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

CONTEXT = ("sid", "eio_sid", "namespace", "event", "client")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see the module doc)."""

    def __init__(self, node: str) -> None:
        super().__init__()
        self.node = node

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "node": self.node,
        }
        for key in CONTEXT:
            value = record.__dict__.get(key)
            if value is not None:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure_logging(level: str, log_format: str = "text", node: str = "") -> None:
    """Log to stderr at ``level`` in ``log_format`` (replacing any handler set before)."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter(node))
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
