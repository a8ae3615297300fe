"""Redaction for previews: nothing secret may reach a report, whatever the output format.

Owns: hiding the ``data``/``stringData`` values of rendered Secrets (each value becomes
``***(changed)`` or ``***(unchanged)`` on the head side by comparing both sides, so a reviewer
still sees *that* a key changed; on the base side a changed key reads ``***(previous)`` and a key
head no longer has ``***(removed)``), and the final scrub of report text (URL userinfo, registered and extra secret
values). Protected settings never get here in clear: previews pass ``***`` for them.
Must not: do I/O or log.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

CHANGED = "***(changed)"
UNCHANGED = "***(unchanged)"
PREVIOUS = "***(previous)"  # base side of a changed key, so the diff shows it as a -/+ pair
REMOVED = "***(removed)"  # base side of a key (or Secret) that head no longer has
HIDDEN_SECRET = "# Secret: not valid YAML, contents hidden"  # noqa: S105 - a message
SECRET_FIELDS = ("data", "stringData")


def is_secret(document: Any) -> bool:
    return isinstance(document, Mapping) and document.get("kind") == "Secret" and \
        str(document.get("apiVersion", "v1")) == "v1"


def _effective(document: Mapping[str, Any] | None) -> dict[str, bytes | str]:
    """Key → value as the API server would store it (``stringData`` wins over ``data``)."""
    if document is None:
        return {}
    values: dict[str, bytes | str] = {}
    data = document.get("data")
    if isinstance(data, Mapping):
        for key, value in data.items():
            try:
                values[str(key)] = base64.b64decode(str(value), validate=True)
            except (binascii.Error, ValueError):
                values[str(key)] = str(value)
    string_data = document.get("stringData")
    if isinstance(string_data, Mapping):
        for key, value in string_data.items():
            values[str(key)] = str(value).encode()
    return values


def redact_secret(document: Mapping[str, Any], other: Mapping[str, Any] | None, *, base: bool = False
                  ) -> dict[str, Any]:
    """A copy of Secret ``document`` whose data/stringData values are markers, compared with ``other``
    (the same Secret on the other side of the diff, or None when it exists on one side only).
    ``base`` says ``document`` is the base (old) side."""
    mine = _effective(document)
    theirs = _effective(other if other is not None and is_secret(other) else None)

    def marker(key: str) -> str:
        if key in theirs and theirs[key] == mine.get(key):
            return UNCHANGED
        if base:
            return PREVIOUS if key in theirs else REMOVED
        return CHANGED

    redacted: dict[str, Any] = dict(document)
    for field in SECRET_FIELDS:
        values = document.get(field)
        if isinstance(values, Mapping):
            redacted[field] = {str(key): marker(str(key)) for key in values}
        elif values is not None:
            redacted[field] = REMOVED if base else CHANGED
    return redacted
