"""The ``--output json`` contract: each command's document checked against its JSON Schema.

Owns: loading ``schemas/output/*.schema.json`` into one ``referencing`` registry (the schemas refer to
``common.schema.json`` and to each other by relative ``$ref``) and ``assert_output_schema``, which
fails with every violation and its JSON path. Must not: import controller internals (the schemas are
the contract a user's script relies on, read from the repository as a user would).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

OUTPUT_SCHEMAS = Path(__file__).resolve().parents[2] / "schemas" / "output"


@functools.cache
def _registry() -> tuple[Registry, dict[str, dict[str, Any]]]:
    schemas = {path.name.removesuffix(".schema.json"): json.loads(path.read_text(encoding="utf-8"))
               for path in sorted(OUTPUT_SCHEMAS.glob("*.schema.json"))}
    registry: Registry = Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema)) for schema in schemas.values())
    return registry, schemas


def output_schema_names() -> list[str]:
    return sorted(_registry()[1])


def schema_errors(command: str, document: Any) -> list[str]:
    """Every violation of ``schemas/output/<command>.schema.json`` by ``document`` ('' path = the root)."""
    registry, schemas = _registry()
    validator = Draft202012Validator(schemas[command], registry=registry)
    return [f"{error.json_path}: {error.message}"
            for error in sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))]


def assert_output_schema(command: str, document: Any) -> None:
    errors = schema_errors(command, document)
    assert not errors, f"`{command} --output json` breaks schemas/output/{command}.schema.json:\n" + "\n".join(errors)
