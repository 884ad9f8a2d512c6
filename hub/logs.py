"""Logs: one JSON object per line on stdout, with message and correlation ids where known.

Quiet in normal operation: INFO is reserved for state changes (started, stopping, a link up or
down, a reload); every message that flows is visible in metrics and the store, not the log.
No secret is ever passed to a logger (settings describe themselves without credentials).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import TextIO

# Fields the hub passes in ``extra=``; they become top-level keys of the JSON line.
CONTEXT_FIELDS = ("hub", "message_id", "correlation_id", "peer", "reason", "adapter", "type")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                  + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in CONTEXT_FIELDS:
            value = getattr(record, key, None)
            if value is not None:
                line[key] = value
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def setup(level: str = "info", stream: TextIO | None = None) -> None:
    """Configure the root logger for the daemon."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # The broker clients log every lost connection at ERROR with a traceback; the hub reports
    # the same event once, as "link to X down: <reason>", and counts it in porthub_peer_up.
    for noisy in ("pika", "paho", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
