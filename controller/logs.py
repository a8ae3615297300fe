"""structlog configuration, done once per process.

Owns: the log pipeline (JSON lines when stdout is not a TTY, a readable console otherwise, or as
``--log-format`` says), the redaction processor that drops known secret values from every event, and
the console's brevity: ``event``, ``extension``, ``action`` and ``outcome`` lead each line, Git
revisions are shortened to 12 hex digits, null fields are left out (JSON lines keep every value).
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


# A Git SHA-1 (40 hex digits, not part of a longer hex run such as a sha256 digest): kept to its first 12.
_GIT_SHA1 = re.compile(r"(?<![0-9a-f])([0-9a-f]{12})[0-9a-f]{28}(?![0-9a-f])")
CONSOLE_FIRST = ("event", "extension", "action", "outcome")
_CONSOLE_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\.\d+")


def _shorten(value: Any) -> Any:
    if isinstance(value, str):
        return _GIT_SHA1.sub(r"\1", value)
    if isinstance(value, dict):
        return {k: _shorten(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_shorten(v) for v in value if v is not None]
    return value


def console_fields(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """For the console only: the fields a reader scans for first, then the rest in the order logged;
    revisions shortened, null fields left out, the timestamp to the second."""
    shown = {k: _shorten(v) for k, v in event.items() if v is not None}
    if isinstance(shown.get("timestamp"), str):
        shown["timestamp"] = _CONSOLE_TIME.sub(r"\1", shown["timestamp"])
    return {**{k: shown[k] for k in CONSOLE_FIRST if k in shown},
            **{k: v for k, v in shown.items() if k not in CONSOLE_FIRST}}


def configure(log_format: str = "auto", level: str = "info", stream: Any = None) -> None:
    """Configure structlog for the whole process. ``log_format`` is ``auto``, ``json`` or ``console``."""
    import structlog  # noqa: PLC0415 - see the import block
    out = stream if stream is not None else sys.stdout
    if log_format == "auto":
        log_format = "console" if out.isatty() else "json"
    renderers: list[Any]
    if log_format == "json":
        renderers = [structlog.processors.JSONRenderer(sort_keys=False)]
    else:
        renderers = [console_fields, structlog.dev.ConsoleRenderer(colors=out.isatty(), sort_keys=False)]
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact_processor,
            structlog.processors.format_exc_info,
            *renderers,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )


def get_logger(**initial: Any) -> Any:
    """Return a bound structlog logger (typed loosely: structlog's BoundLogger API is dynamic)."""
    import structlog  # noqa: PLC0415 - see the import block
    return structlog.get_logger().bind(**initial)
