"""`extctl catalog versions TYPE [--source URL|DIR] [--path DIR] [--train NAME]`: what a type's chart repository offers.

Owns: the ``catalog`` command group, ``catalog_service`` (the read-only commands' ``CatalogService``,
with the host-bound repository credentials of ``--repo-credentials``/``EXTCTL_REPO_*``) and
``chart_versions`` (one type's chart versions
from local-directory, http(s) and oci repositories). Must not: implement fetching, caching or
version ordering itself.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from controller.catalog import CatalogService, ChartVersion, load_credentials
from controller.commands import SUMMARIES
from controller.commands._source import add_source_options, open_snapshot
from controller.commands.validate import load_or_report
from controller.errors import PermanentError
from controller.logs import configure
from controller.models.manifests import ChartRef, ExtensionType, ManifestSet
from controller.models.resolution import parse_versions, versions_for_train
from controller.source import Snapshot


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "catalog", help=SUMMARIES["catalog"]
    )
    catalog_commands = parser.add_subparsers(dest="catalog_command", metavar="COMMAND")
    catalog_commands.required = True
    versions = catalog_commands.add_parser(
        "versions",
        help="list the chart versions of an extension type, newest first",
        description="List the chart versions of TYPE, newest first: those --train admits, or every version "
        "with the trains that admit it.",
    )
    versions.add_argument("type", metavar="TYPE", help="extension type name, e.g. contoso.monitoring")
    versions.add_argument("--train", help="only versions this release train admits (case-insensitive)")
    versions.add_argument("-o", "--output", choices=("text", "json"), default="text", help="output format")
    add_source_options(versions, required=False)
    versions.set_defaults(handler=run_versions)


def catalog_service(credentials_file: Path | None = None) -> CatalogService:
    """The catalog for one command run, with the credentials file and ``EXTCTL_REPO_*`` (raises
    ``CredentialsInvalid`` when those are contradictory or unreadable)."""
    return CatalogService(credentials=load_credentials(credentials_file), clock=time.monotonic)


def chart_versions(snapshot: Snapshot, chart: ChartRef, credentials_file: Path | None = None) -> list[ChartVersion]:
    """Every published version of ``chart``: local paths are read from the source tree (relative to the
    manifests directory), http(s)/oci repositories through the catalog service; raises the
    ``CatalogError`` when the repository fails."""
    return catalog_service(credentials_file).versions(chart.repository, chart.name, repo_root=snapshot.repo_root,
                                                      manifest_root=snapshot.root)


def find_type(manifests: ManifestSet, name: str) -> ExtensionType:
    extension_type = manifests.types.get(name)
    if extension_type is None:
        known = ", ".join(sorted(manifests.types)) or "none"
        raise PermanentError(f"unknown extension type {name!r} (known types: {known})", reason="UnknownType")
    return extension_type


def run_versions(args: argparse.Namespace) -> int:
    configure("auto", "warning", stream=sys.stderr)  # a Git source's log lines must not reach the JSON on stdout
    snapshot = open_snapshot(args)
    manifests = load_or_report(snapshot.root, args.output, args.cache_dir, extension_type=args.type, versions=[])
    if manifests is None:
        return 1
    extension_type = find_type(manifests, args.type)
    published = chart_versions(snapshot, extension_type.chart, args.repo_credentials)
    details = {chart_version.version: chart_version for chart_version in published}
    tags = [chart_version.version for chart_version in published]
    if args.train is not None:
        train = extension_type.find_train(args.train)
        if train is None:
            raise PermanentError(
                f"extension type {extension_type.name!r} has no release train {args.train!r} "
                f"(trains: {', '.join(extension_type.train_names)})",
                reason="UnknownTrain",
            )
        trains = [train]
    else:
        trains = list(extension_type.release_trains)
    per_train = [versions_for_train(tags, train) for train in trains]
    admitted_by: dict[str, list[str]] = {}
    ignored: tuple[str, ...] = per_train[0].ignored_tags if per_train else ()
    # Newest first, in SemVer precedence over the union of the trains.
    full_order = [parsed.tag for parsed in reversed(parse_versions(tags)[0])]
    for train_versions in per_train:
        for version in train_versions.admitted:
            admitted_by.setdefault(version, []).append(train_versions.train.name)
    rows = [(version, admitted_by[version]) for version in full_order if version in admitted_by]

    if args.output == "json":
        document = {
            "extension_type": extension_type.name,
            "chart": {"repository": extension_type.chart.repository, "name": extension_type.chart.name},
            "train": trains[0].name if args.train is not None else None,
            "versions": [
                {
                    "version": version,
                    "trains": train_names,
                    "created": details[version].created,
                    "digest": details[version].digest,
                }
                for version, train_names in rows
            ],
            "ignored_tags": list(ignored),
        }
        print(json.dumps(document, indent=2))
        return 0
    where = f"chart {extension_type.chart.name} from {extension_type.chart.repository}"
    if args.train is not None:
        print(f"# {extension_type.name} ({where}), train {trains[0].name}: {len(rows)} versions, newest first")
        for version, _ in rows:
            print(version)
    else:
        print(f"# {extension_type.name} ({where}): {len(rows)} versions, newest first")
        width = max([len("VERSION"), *(len(version) for version, _ in rows)])
        print(f"{'VERSION':<{width}}  TRAINS")
        for version, train_names in rows:
            print(f"{version:<{width}}  {', '.join(train_names)}")
    if ignored:
        print(f"# ignored (not SemVer 2.0): {', '.join(ignored)}")
    return 0

