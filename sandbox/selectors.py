"""Label and field selectors for the sandbox emulator's lists and watches.

Owns: evaluating ``labelSelector`` (equality, inequality, set-based, existence) and ``fieldSelector``
(dotted paths, ``=``/``==``/``!=``) against an object. Must not: be imported by ``controller/``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def match_labels(labels: Mapping[str, str], selector: str) -> bool:
    """Evaluate a Kubernetes label selector string (equality, inequality, set-based, existence)."""
    if not selector:
        return True
    for raw in _split_selector(selector):
        term = raw.strip()
        if not term:
            continue
        if " notin " in term or " in " in term:
            negate = " notin " in term
            key, _, values = term.partition(" notin " if negate else " in ")
            allowed = {v.strip() for v in values.strip().strip("()").split(",")}
            present = key.strip() in labels and labels[key.strip()] in allowed
            if present == negate:
                return False
        elif "!=" in term:
            key, _, value = term.partition("!=")
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in term:
            key, _, value = term.partition("==" if "==" in term else "=")
            if labels.get(key.strip()) != value.strip().lstrip("="):
                return False
        elif term.startswith("!"):
            if term[1:].strip() in labels:
                return False
        elif term not in labels:
            return False
    return True


def _split_selector(selector: str) -> list[str]:
    """Split on commas that are not inside ``in (a,b)`` parentheses."""
    parts, depth, current = [], 0, ""
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def match_fields(obj: Mapping[str, Any], selector: str) -> bool:
    if not selector:
        return True
    for term in selector.split(","):
        negate = "!=" in term
        key, _, value = term.partition("!=" if negate else "=")
        value = value.lstrip("=")
        current: Any = obj
        for part in key.strip().split("."):
            current = current.get(part) if isinstance(current, dict) else None
        if (str(current) == value) == negate:
            return False
    return True
