"""The ``--output json`` contract (schemas/output/, docs/output.md): one schema per command that offers
JSON, every schema valid Draft 2020-12, snake_case keys, and the checked-in golden documents conform.

The commands' live output is validated where each command is run through the CLI (tests/integration:
test_cli_manifests, test_reconcile, test_preview, test_fleet, test_status, test_reliability)."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from controller.cli import build_parser
from controller.commands import SUMMARIES
from tests.support.output_schemas import OUTPUT_SCHEMAS, assert_output_schema, output_schema_names, schema_errors

GOLDEN = Path(__file__).resolve().parents[1] / "integration" / "golden"
SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")
# Objects copied verbatim from the Kubernetes API keep Kubernetes's camelCase (status's `status` and `events`).
KUBERNETES_VERBATIM = {"firstTimestamp", "lastTimestamp", "provisioningState", "installedVersion", "targetVersion",
                       "conditions", "lastActions"}


def _json_commands() -> set[str]:
    """Every (sub)command whose ``--output`` offers ``json``, as ``schemas/output/`` names it."""
    found: set[str] = set()

    def walk(parser: argparse.ArgumentParser, words: tuple[str, ...]) -> None:
        for action in parser._actions:  # argparse has no public walk of the command tree
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in dict(action.choices).items():
                    walk(sub, (*words, name))
            elif "--output" in action.option_strings and "json" in (action.choices or ()):
                found.add("-".join(words))

    for command in SUMMARIES:
        parser = build_parser([command])
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        walk(dict(sub.choices)[command], (command,))
    return found


def test_every_command_with_json_output_has_a_schema() -> None:
    commands = _json_commands()
    assert {"validate", "resolve", "catalog-versions", "plan", "preview", "status", "fleet-status"} <= commands
    assert set(output_schema_names()) == commands | {"common", "preview-fleet"}


@pytest.mark.parametrize("name", output_schema_names())
def test_schema_is_valid_and_names_itself(name: str) -> None:
    schema = json.loads((OUTPUT_SCHEMAS / f"{name}.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    assert schema["$id"] == f"https://extctl.dev/schemas/output/{name}.schema.json"
    assert schema.get("description"), "every schema says which command and exit codes it describes"

    def keys(node: Any) -> set[str]:
        if isinstance(node, dict):
            own = set(node.get("properties", {})) | set(node.get("required", []))
            return own | {k for value in node.values() for k in keys(value)}
        if isinstance(node, list):
            return {k for value in node for k in keys(value)}
        return set()

    assert {k for k in keys(schema) if not SNAKE.match(k)} <= KUBERNETES_VERBATIM


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*/*.json")), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_golden_documents_conform(path: Path) -> None:
    assert_output_schema("preview-fleet" if path.parent.name == "fleet" else "preview", json.loads(path.read_text()))


RESOLVED = {"source": "repo", "extensions": [{
    "name": "monitoring", "extension_type": "contoso.monitoring", "scope": "cluster", "namespace": "monitoring",
    "release_train": "stable", "installed_version": None, "version": "1.1.1", "rule": "latest-in-major",
    "explanation": "…", "newer_major_available": "2.0.0", "ignored_tags": [], "error": None}]}


def test_schemas_reject_renamed_and_unknown_keys() -> None:
    """The contract is closed: a key renamed (say back to camelCase) or added without the schema fails."""
    assert schema_errors("resolve", RESOLVED) == []
    camel = {**RESOLVED, "extensions": [{("extensionType" if k == "extension_type" else k): v
                                          for k, v in RESOLVED["extensions"][0].items()}]}
    assert schema_errors("resolve", camel)
    assert schema_errors("validate", {"valid": True, "errors": [], "extensionTypes": [], "extensions": []})
