"""structlog configuration, done once per process.

Owns: the log pipeline (JSON lines when stdout is not a TTY, a readable console otherwise, or as
``--log-format`` says) and the redaction processor that drops known secret values from every event.
Must not: decide what to log; callers bind ``reconcile_id``, ``revision`` and ``extension`` themselves.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

# structlog (and, where it is installed, rich through structlog.dev) costs 60-170 ms of start-up: imported by
# configure() and get_logger() only, so commands that never log (version, validate, resolve) do not pay it.

_SECRETS: set[str] = set()
REDACTED = "***"


def register_secret(value: str) -> None:
    """Remember a secret value so that any log event that contains it prints ``***`` instead."""
    if value and len(value) >= 3:
        _SECRETS.add(value)


# ``scheme://user[:password]@`` inside free text (helm's and git's stderr, rendered YAML, messages).
_USERINFO_IN_TEXT = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^/\s@'\"<>`]+@")


def scrub_text(text: str, extra: Iterable[str | None] = ()) -> str:
    """Remove ``user[:password]@`` from every URL in ``text``, then redact registered and ``extra`` secrets."""
    return redact_text(_USERINFO_IN_TEXT.sub(lambda m: m["scheme"], text), [s for s in extra if s])


def redact_text(text: str, extra: Iterable[str] = ()) -> str:
    """Replace every registered (and every ``extra``) secret value in ``text`` with ``***``."""
    for secret in sorted({*_SECRETS, *extra}, key=len, reverse=True):
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: _redact_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact_value(v) for v in value]
    return value


def _redact_processor(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    if not _SECRETS:
        return event
    return {k: _redact_value(v) for k, v in event.items()}


def configure(log_format: str = "auto", level: str = "info", stream: Any = None) -> None:
    """Configure structlog for the whole process. ``log_format`` is ``auto``, ``json`` or ``console``."""
    import structlog  # noqa: PLC0415 - see the import block
    out = stream if stream is not None else sys.stdout
    if log_format == "auto":
        log_format = "console" if out.isatty() else "json"
    renderer: Any
    if log_format == "json":
        renderer = structlog.processors.JSONRenderer(sort_keys=False)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=out.isatty())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact_processor,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )


def get_logger(**initial: Any) -> Any:
    """Return a bound structlog logger (typed loosely: structlog's BoundLogger API is dynamic)."""
    import structlog  # noqa: PLC0415 - see the import block
    return structlog.get_logger().bind(**initial)
