"""Secrets that travel in URLs stay out of the logs.

A customer link (``/chat/<secret>``, its messages and its WebSocket), the web chat's visitor
token (``/widget/<id>/ws?token=<secret>``), Instagram's ``hub.verify_token`` and an image's signed
address (``/public/files/<id>/<variant>/<signature>``) are bearer secrets: the database keeps
only the hashes of the first two, and the access log must keep none of them. Every log record,
whoever writes it (uvicorn's access and WebSocket lines, our own warnings naming a path), is
redacted as it is made.
"""

from __future__ import annotations

import logging
import re
from typing import Any

REDACTED = "[redacted]"
_SECRETS = re.compile(
    # a customer link; an image's signed address (what LINE fetches); a token in a query
    # (the web chat's ?token=, Instagram's ?hub.verify_token=)
    r"(/chat/)[^/?#\s\"']+"
    r"|(/public/files/\d+/\w+/)[^/?#\s\"']+"
    r"|([?&][\w.]*token=)[^&#\s\"']+"
)


def redact(text: str) -> str:
    """``text`` with every secret that travels in an address replaced."""
    if "/chat/" not in text and "token=" not in text and "/public/files/" not in text:
        return text
    return _SECRETS.sub(lambda m: (m.group(1) or m.group(2) or m.group(3)) + REDACTED, text)


def _redacted(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


_installed: list[bool] = []


def redact_secrets_in_logs() -> None:
    """Wrap the log record factory once per process, so no handler or logger is left out."""
    if _installed:
        return
    _installed.append(True)
    make_record = logging.getLogRecordFactory()

    def record_without_secrets(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redacted(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _redacted(value) for key, value in record.args.items()}
        return record

    logging.setLogRecordFactory(record_without_secrets)
