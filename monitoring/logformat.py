"""Formatters for the console: plain text or one JSON object per line (`LOG_FORMAT=json`), both scrubbed."""

import json
import logging
import os
from datetime import UTC, datetime

from monitoring.scrub import scrub_secrets

# Attributes every LogRecord has; anything else was passed with `extra=` and is worth printing.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class ScrubbingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return scrub_secrets(super().format(record))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub_secrets(record.getMessage()),
            "process": os.getpid(),
        }
        if record.exc_info:
            entry["exception"] = scrub_secrets(self.formatException(record.exc_info))
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and key not in entry:
                plain = value if isinstance(value, int | float | bool | None) else scrub_secrets(str(value))
                entry[key] = plain
        return json.dumps(entry, ensure_ascii=False, default=str)
