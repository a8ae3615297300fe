"""`extctl validate [PATH | --source URL|DIR [--path DIR]]`: check every manifest against the schemas and
semantic rules. ``validate PATH`` is the shorthand of ``validate --source PATH``.

Owns: presenting validation results (located errors on stderr in text mode, or one JSON document)
and the exit code (0 valid, 1 invalid). Must not: contain validation logic (``controller.manifests``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from controller.commands import SUMMARIES
from controller.commands._source import add_source_options, open_snapshot, source_label
from controller.errors import ExtctlError, ManifestError, ValidationIssue
from controller.logs import configure
from controller.manifests.cache import ParseCache
from controller.models.manifests import ManifestSet


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "validate",
        help=SUMMARIES["validate"],
        description="Validate every Extension and ExtensionType under PATH (schema and semantic checks). "
        "Exit status 0 when valid, 1 when not.",
    )
    parser.add_argument("directory", nargs="?", metavar="PATH", default=None,
                        help="a local directory of manifests: shorthand for --source PATH")
    add_source_options(parser, required=False, credentials=False)
    parser.add_argument("-o", "--output", choices=("text", "json"), default="text", help="output format")
    parser.set_defaults(handler=run)


def issue_as_json(issue: ValidationIssue) -> dict[str, object]:
    return {
        "file": issue.location.file,
        "line": issue.location.line,
        "column": issue.location.column,
        "field": issue.field,
        "message": issue.message,
        "text": str(issue),
    }


def print_manifest_errors_json(exc: ManifestError, **extra: object) -> None:
    """The JSON shape of invalid manifests, shared by every command with ``--output json``."""
    print(json.dumps({**extra, "errors": [issue_as_json(issue) for issue in exc.issues]}, indent=2))


def run(args: argparse.Namespace) -> int:
    if args.directory is not None:
        if args.source != ".":
            raise ExtctlError(f"validate takes PATH or --source, not both (got {args.directory!r} and --source "
                              f"{args.source!r})", reason="UsageError", hint="PATH is the shorthand of --source PATH")
        args.source = args.directory
    configure("auto", "warning", stream=sys.stderr)  # a Git source's log lines must not reach the JSON on stdout
    root = source_label(args)
    snapshot = open_snapshot(args)
    try:
        manifests = load_cached(snapshot.root, args.cache_dir)
    except ManifestError as exc:
        if args.output == "json":
            print_manifest_errors_json(exc, valid=False)
        else:
            for issue in exc.issues:
                print(issue, file=sys.stderr)
            count = len(exc.issues)
            print(f"{root}: {count} error{'s' if count != 1 else ''}", file=sys.stderr)
        return 1
    if args.output == "json":
        document = {
            "valid": True,
            "errors": [],
            "warnings": [issue_as_json(warning) for warning in manifests.warnings],
            "extension_types": [
                {"name": t.name, "file": t.location.file, "line": t.location.line} for t in manifests.types.values()
            ],
            "extensions": [
                {"name": e.name, "file": e.location.file, "line": e.location.line}
                for e in manifests.extensions.values()
            ],
            **({"clusters": [{"name": c.name, "file": c.location.file, "line": c.location.line}
                             for c in manifests.clusters.values()]} if manifests.clusters else {}),
        }
        print(json.dumps(document, indent=2))
    else:
        for warning in manifests.warnings:
            print(warning, file=sys.stderr)
        print(
            f"{root}: valid ({len(manifests.types)} extension types, {len(manifests.extensions)} extensions"
            + (f", {len(manifests.clusters)} clusters" if manifests.clusters else "") + ")"
        )
    return 0


def load_cached(root: Path, cache_dir: Path) -> ManifestSet:
    """``load_directory(root)`` through extctl's parse cache (``<--cache-dir>/manifests/``): files that
    validated before, unchanged, are not parsed again (bench/README.md, P6)."""
    return ParseCache(cache_dir / "manifests").load(root)


def load_or_report(directory: Path, output: str, cache_dir: Path, **empty_json: object) -> ManifestSet | None:
    """Load the manifests for a read-only command. On errors: in JSON mode print them with the command's
    empty result fields and return None (the caller exits 1); in text mode raise (the CLI prints them)."""
    try:
        return load_cached(directory, cache_dir)
    except ManifestError as exc:
        if output != "json":
            raise
        print_manifest_errors_json(exc, **empty_json)
        return None
