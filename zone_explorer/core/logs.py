"""Logging for long-running processes: readable lines for people, or one JSON object per line for machines."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys

__all__ = ["configure_logging"]

# attributes every LogRecord has; anything else was passed with extra={...} and belongs in the JSON line
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        line.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(f"{k}={v}" for k, v in vars(record).items() if k not in _STANDARD)
        base = f"{self.formatTime(record, '%H:%M:%S')} {record.levelname.lower():7s} {record.getMessage()}"
        text = f"{base}  {extras}" if extras else base
        return text + ("\n" + self.formatException(record.exc_info) if record.exc_info else "")


def configure_logging(fmt: str = "text", level: str = "info") -> None:
    """Route the ``zone_explorer`` loggers to stderr as ``text`` or ``json`` lines."""
    if fmt not in ("text", "json"):
        raise ValueError(f"log format must be 'text' or 'json', got {fmt!r}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    logger = logging.getLogger("zone_explorer")
    logger.handlers[:] = [handler]
    logger.setLevel(level.upper())
    logger.propagate = False
