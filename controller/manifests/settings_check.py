"""Checks of ``configurationSettings`` keys in the Arc dotted syntax (``controller.models.settings_keys``).

Owns: per document, an error for each malformed key (empty level, bad ``[N]`` index, trailing backslash)
and a **warning** for each dotted key that replaces what a nested key (or an earlier dotted key) sets at
the same path (the dotted key wins, as helm ``--set`` wins over a values file), located at the key.
Must not: print a setting's value (the messages name keys and paths only), or reject a revision for a
collision.
"""

from __future__ import annotations

import json

from controller.errors import Location, ValidationIssue
from controller.manifests.yaml_source import FieldPath, SourceDocument, format_field_path, locate_key
from controller.models.manifests import Kind
from controller.models.settings_keys import DottedKeyError, expand_settings, parse_key

SETTINGS: FieldPath = ("spec", "configurationSettings")
_SPECIAL = set(".[\\")  # a key holding these is shown quoted: spec.configurationSettings["config.retention"]


def check_settings_keys(kind: Kind, document: SourceDocument) -> tuple[list[ValidationIssue], list[ValidationIssue]]:
    """(errors, warnings) for the ``spec.configurationSettings`` keys of one schema-valid Extension."""
    spec = document.data.get("spec") if isinstance(document.data, dict) else None
    settings = spec.get("configurationSettings") if kind is Kind.EXTENSION and isinstance(spec, dict) else None
    if not isinstance(settings, dict):
        return [], []
    errors = []
    for key in settings:
        try:
            parse_key(key)
        except DottedKeyError as exc:
            errors.append(_at(document, key, str(exc)))
    if errors:
        return errors, []
    warnings = [
        _at(document, collision.key, f"dotted key {collision.key!r} and another key both set {collision.path}; "
            "the dotted key wins (as helm --set over a values file): keep one of them", severity="warning")
        for collision in expand_settings(settings).collisions]
    return [], warnings


def _at(document: SourceDocument, key: str, message: str, severity: str = "error") -> ValidationIssue:
    path = (*SETTINGS, key)
    line, column = locate_key(document.node, path) if document.node is not None else (1, 1)
    field = format_field_path(SETTINGS) + f"[{json.dumps(key)}]" if _SPECIAL & set(key) else format_field_path(path)
    return ValidationIssue(Location(document.file, line, column), field, message, severity)
