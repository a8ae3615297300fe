"""Patch bodies for the sandbox emulator: JSON merge patches (RFC 7386), strategic-merge patches without
their directives, and the merge patch that turns one object into another (kmock stores changes that way).

Owns: the three helpers above. Must not: be imported by ``controller/``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

DIRECTIVE_PREFIXES = ("$setElementOrder/", "$retainKeys", "$deleteFromPrimitiveList/", "$patch")


def strip_directives(patch: Any) -> Any:
    """Drop strategic-merge-patch directives; the rest behaves as a JSON merge patch here."""
    if isinstance(patch, dict):
        return {k: strip_directives(v) for k, v in patch.items() if not k.startswith(DIRECTIVE_PREFIXES)}
    if isinstance(patch, list):
        return [strip_directives(v) for v in patch]
    return patch


def merge(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge(result.get(key), value)
    return result


def diff_as_merge_patch(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """A merge patch that turns ``old`` into ``new`` (kmock stores changes as merge patches)."""
    patch: dict[str, Any] = {}
    for key in old:
        if key not in new:
            patch[key] = None
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, dict) and isinstance(before, dict):
            sub = diff_as_merge_patch(before, value)
            if sub:
                patch[key] = sub
        elif key not in old or before != value:
            # A dict replacing a non-dict, or any changed value: set it whole (None-valued
            # leaves inside a new dict would read as deletions, so they are dropped here).
            patch[key] = value
    return patch
