"""The console log format (``--log-format console``, or a TTY): short, ordered lines; JSON lines keep every value.

Driven through ``controller.logs.configure`` with a real structlog pipeline writing to a buffer (the
integration twin, ``test_console_lines_are_short_and_ordered`` in tests/integration/test_reconcile.py,
runs ``extctl reconcile`` itself)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest
import structlog

from controller.logs import configure, get_logger

SHA = "0123456789abcdef0123456789abcdef01234567"
SHA256 = "ab" * 32
DIGEST = "9ab3" * 8


@pytest.fixture(autouse=True)
def _clean_context() -> Iterator[None]:
    structlog.contextvars.clear_contextvars()
    yield
    structlog.contextvars.clear_contextvars()
    configure("json", "info", stream=io.StringIO())


def _line(log_format: str, **fields: object) -> str:
    out = io.StringIO()
    configure(log_format, "info", stream=out)
    structlog.contextvars.bind_contextvars(reconcile_id="r1", revision=f"main@sha1:{SHA}")
    get_logger().info("extension.action", namespace="demo", state="out-of-sync", **fields)
    return out.getvalue().rstrip("\n")


ACTION = {"from_version": "1.1.0", "to_version": None, "outcome": "succeeded", "duration_ms": 812,
          "reason": f"settings changed: logLevel; values digest {DIGEST}", "extension": "agent", "action": "upgrade",
          "error": None, "chart_digest": SHA256, "drift": [f"revision {SHA}", None]}


def test_console_leads_with_event_extension_action_outcome() -> None:
    line = _line("console", **ACTION)
    fields = line.split("extension.action", 1)[1].split()
    assert fields[:3] == ["extension=agent", "action=upgrade", "outcome=succeeded"], line
    assert line.index("extension.action") < line.index("namespace=demo")


@pytest.mark.parametrize(
    ("shown", "why"),
    [
        ("revision=main@sha1:0123456789ab ", "a Git revision is shortened to 12 hex digits"),
        ("'revision 0123456789ab'", "also inside free text and lists"),
        (f"chart_digest={SHA256}", "a sha256 digest is not a Git SHA-1: left whole"),
        (DIGEST, "a values digest (32 hex) is left whole"),
    ],
)
def test_console_shortens_git_revisions_only(shown: str, why: str) -> None:
    assert shown in _line("console", **ACTION) + " ", why


def test_console_omits_null_fields() -> None:
    line = _line("console", **ACTION)
    assert "None" not in line and "to_version" not in line and "error" not in line, line


def test_json_lines_keep_full_values_and_nulls() -> None:
    event = json.loads(_line("json", **ACTION))
    assert event["revision"] == f"main@sha1:{SHA}"
    assert event["to_version"] is None and event["error"] is None
    assert event["drift"] == [f"revision {SHA}", None]
    assert event["timestamp"].endswith("Z") and "." in event["timestamp"]
