"""JSON Schema validation of manifest documents, with located, actionable messages.

Owns: loading ``schemas/*.schema.json`` (the single source of truth, also used by editors through the
yaml-language-server modeline), choosing the schema by ``kind`` and turning every jsonschema error
into a ``ValidationIssue`` at the right line and column. Messages come from the schema's
``errorMessage`` keyword (as editors show them) or from a per-keyword default that says what was
expected. Must not: echo values under ``configurationProtectedSettings`` (they may be secrets), or do
semantic (cross-document) checks.
"""

from __future__ import annotations

import difflib
import functools
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from controller.errors import Location, PermanentError, ValidationIssue
from controller.manifests.yaml_source import FieldPath, SourceDocument, format_field_path, locate_key
from controller.models.manifests import API_VERSION, IGNORE_FILE, Kind

# The repository's top-level schemas/ (editable installs); images set EXTCTL_SCHEMAS_DIR (see Dockerfile).
SCHEMA_DIR = Path(os.environ.get("EXTCTL_SCHEMAS_DIR") or Path(__file__).resolve().parents[2] / "schemas")
SCHEMA_FILES: Mapping[Kind, str] = {
    Kind.EXTENSION: "extension.schema.json",
    Kind.EXTENSION_TYPE: "extensiontype.schema.json",
    Kind.CLUSTER: "cluster.schema.json",
}
SENSITIVE_FIELDS = ("configurationProtectedSettings",)
_JSON_TYPE_NAMES = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "list",
    dict: "mapping",
    type(None): "null",
}


@functools.cache
def validator_for(kind: Kind) -> Draft202012Validator:
    """The compiled validator for one manifest kind (schemas are read once per process)."""
    path = SCHEMA_DIR / SCHEMA_FILES[kind]
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PermanentError(f"cannot read JSON Schema {path}: {exc}", reason="SchemaMissing") from exc
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def validate_document(document: SourceDocument) -> tuple[Kind | None, list[ValidationIssue]]:
    """Check one document against the schema of its kind; returns (kind if known, issues)."""
    data = document.data
    if not isinstance(data, dict):
        return None, [
            ValidationIssue(
                document.locate([]),
                "",
                f"expected a mapping with apiVersion, kind, metadata and spec, got {_type_name(data)}",
            )
        ]
    kind_value = data.get("kind")
    known_kinds = ", ".join(kind.value for kind in Kind)
    if not isinstance(kind_value, str) or kind_value not in {kind.value for kind in Kind}:
        issues = []
        if data.get("apiVersion") != API_VERSION:
            issues.append(
                ValidationIssue(
                    document.locate(["apiVersion"]),
                    "apiVersion",
                    f"unsupported apiVersion {_quote(data.get('apiVersion'))}; expected {API_VERSION}",
                )
            )
        message = (
            "required field is missing; expected one of: " + known_kinds
            if kind_value is None
            else f"unknown kind {_quote(kind_value)}; expected one of: {known_kinds}"
        )
        if data.get("apiVersion") != API_VERSION:  # a foreign file (kustomization.yaml, a CI config, …)
            message += (f"; if this file is not an extctl manifest, add its path to {IGNORE_FILE} at the "
                        "manifests root (gitignore syntax)")
        issues.append(ValidationIssue(document.locate(["kind"]), "kind", message))
        return None, issues
    kind = Kind(kind_value)
    issues = []
    for error in validator_for(kind).iter_errors(data):
        issues.extend(_issues_for(document, error))
    return kind, issues


def _issues_for(document: SourceDocument, error: ValidationError) -> Iterator[ValidationIssue]:
    path: list[str | int] = list(error.absolute_path)
    sensitive = any(part in SENSITIVE_FIELDS for part in path)
    keyword = str(error.validator)
    schema = error.schema if isinstance(error.schema, dict) else {}

    if keyword == "additionalProperties" and isinstance(error.instance, dict):
        known = sorted(schema.get("properties", {}))
        for extra in sorted(key for key in error.instance if key not in known):
            extra_path = [*path, extra]
            yield ValidationIssue(
                Location(document.file, *locate_key(document.node, extra_path)),
                format_field_path(extra_path),
                _unknown_field_message(str(extra), known),
            )
        return
    if keyword == "required" and isinstance(error.instance, dict):
        custom = _custom_message(schema, keyword)
        required = error.validator_value if isinstance(error.validator_value, list) else []
        for missing in required:
            if missing not in error.instance:
                yield ValidationIssue(
                    document.locate(path),
                    format_field_path([*path, missing]),
                    custom or "required field is missing",
                )
        return
    yield ValidationIssue(
        document.locate(path),
        format_field_path(path),
        _custom_message(schema, keyword) or _default_message(error, sensitive),
    )


def _custom_message(schema: Mapping[str, Any], keyword: str) -> str | None:
    """The schema's ``errorMessage`` (a string, or an object keyed by keyword) for ``keyword``."""
    custom = schema.get("errorMessage")
    if isinstance(custom, str):
        return custom
    if isinstance(custom, dict) and isinstance(custom.get(keyword), str):
        return str(custom[keyword])
    return None


def _default_message(error: ValidationError, sensitive: bool) -> str:
    keyword = str(error.validator)
    expected: Any = error.validator_value
    instance: Any = error.instance
    got = "" if sensitive else f", got {_quote(instance)}"
    if keyword == "type":
        wanted = expected if isinstance(expected, list) else [expected]
        names = " or ".join(_article(str(name)) for name in wanted)
        hint = " (quote it to make it a string)" if "string" in wanted and isinstance(instance, (int, float)) else ""
        return f"expected {names}, got {_type_name(instance)}{'' if sensitive else ' ' + _quote(instance)}{hint}"
    if keyword == "const":
        return f"expected {_quote(expected)}{got}"
    if keyword == "enum":
        return f"expected one of: {', '.join(str(v) for v in expected)}{got}"
    if keyword == "minLength" and expected == 1:
        return "must not be empty"
    if keyword == "minLength":
        return f"must be at least {expected} characters"
    if keyword == "maxLength":
        return f"must be at most {expected} characters (it has {len(instance)})"
    if keyword == "pattern":
        return f"must match the pattern {expected}{got}"
    if keyword == "minItems":
        return f"must list at least {expected} item{'s' if expected != 1 else ''}"
    if keyword == "uniqueItems":
        return "must not list the same item twice"
    if keyword == "minimum":
        return f"must be {expected} or more{got}"
    return error.message


def _unknown_field_message(field: str, known: list[str]) -> str:
    suggestion = difflib.get_close_matches(field, known, n=1)
    hint = f"did you mean {suggestion[0]!r}? " if suggestion else ""
    return f"unknown field {field!r}; {hint}expected one of: {', '.join(known)}"


def _type_name(value: object) -> str:
    for python_type, name in _JSON_TYPE_NAMES.items():
        if type(value) is python_type:
            return name
    return type(value).__name__


def _article(name: str) -> str:
    return {"object": "a mapping", "array": "a list", "integer": "an integer"}.get(name, f"a {name}")


def _quote(value: object) -> str:
    if isinstance(value, str):
        return repr(value)
    return json.dumps(value, default=str)


__all__ = ["FieldPath", "validate_document", "validator_for"]
