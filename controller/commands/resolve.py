"""`extctl resolve [--source URL|DIR] [--path DIR]`: the chart version each extension would get, and why.

Owns: presenting ``resolve_version`` results for every extension of a source (as a first install
would get them, or as an upgrade from ``--installed NAME=VERSION``), in text or JSON. One
extension's failure is reported and the others are still resolved; the exit status is 1 if any
failed. Chart versions come from one ``CatalogService`` lookup per chart. ``--cluster NAME`` resolves
the inventory's cluster NAME's view (its placed extensions, its overrides merged). Must not: implement
resolution rules (``controller.models.resolution``), placement (``controller.models.fleet``) or fetching.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.catalog import CatalogLookup
from controller.commands import SUMMARIES
from controller.commands._source import add_source_options, open_snapshot, source_label
from controller.commands.catalog import catalog_service
from controller.commands.validate import load_or_report
from controller.errors import ExtctlError
from controller.logs import configure
from controller.models.fleet import inventory_view
from controller.models.manifests import ChartRef, Extension, ManifestSet
from controller.models.placement import format_labels
from controller.models.resolution import Resolution, resolve_version
from controller.source import Snapshot


@dataclass(frozen=True)
class ExtensionResolution:
    extension: Extension
    namespace: str | None
    resolution: Resolution | None
    error: str | None


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "resolve",
        help=SUMMARIES["resolve"],
        description="Resolve every extension's target chart version from its release train, as a first "
        "install would get it (or as an upgrade from --installed versions), and explain each choice.",
    )
    add_source_options(parser, required=False)
    parser.add_argument(
        "--installed",
        action="append",
        default=[],
        metavar="NAME=VERSION",
        help="treat extension NAME as installed at VERSION (repeatable) to see upgrade decisions",
    )
    parser.add_argument("--cluster", metavar="NAME", default=None,
                        help="resolve as the inventory's cluster NAME (kind: Cluster in Git) sees the extensions: "
                             "only those placed there, with its overrides")
    parser.add_argument("-o", "--output", choices=("text", "json"), default="text", help="output format")
    parser.set_defaults(handler=run)


def parse_installed(pairs: list[str], manifests: ManifestSet) -> dict[str, str]:
    installed: dict[str, str] = {}
    for pair in pairs:
        name, separator, version = pair.partition("=")
        if not separator or not name or not version:
            raise ExtctlError(f"--installed expects NAME=VERSION, got {pair!r}")
        if name not in manifests.extensions:
            raise ExtctlError(f"--installed names unknown extension {name!r}")
        installed[name] = version
    return installed


def lookup_charts(repo_root: Path, manifest_root: Path, manifests: ManifestSet,
                  credentials_file: Path | None = None) -> dict[ChartRef, CatalogLookup | ExtctlError]:
    """The catalog lookup of every chart an extension uses (each repository read once; local ones
    relative to ``manifest_root``); when the repository credentials cannot even be read, that error
    stands for every chart."""
    charts = {manifests.type_of(extension).chart for extension in manifests.extensions.values()}
    try:
        found = catalog_service(credentials_file).lookup_many(((c.repository, c.name) for c in charts),
                                                              repo_root=repo_root, manifest_root=manifest_root)
    except ExtctlError as exc:
        return dict.fromkeys(charts, exc)
    return {chart: found[(chart.repository, chart.name)] for chart in charts}


def resolve_all(snapshot: Snapshot, manifests: ManifestSet, installed: dict[str, str],
                credentials_file: Path | None = None) -> list[ExtensionResolution]:
    lookups = lookup_charts(snapshot.repo_root, snapshot.root, manifests, credentials_file)
    results = []
    for extension in manifests.extensions.values():
        extension_type = manifests.type_of(extension)
        namespace = manifests.namespace_of(extension)
        try:
            train = extension_type.find_train(extension.spec.release_train)
            if train is None:  # validation already rejects this; kept for callers that skip it
                raise ExtctlError(f"type {extension_type.name} has no release train {extension.spec.release_train}")
            published = lookups[extension_type.chart]
            if isinstance(published, ExtctlError):
                raise published
            resolution = resolve_version(
                [chart_version.version for chart_version in published.require()],
                train,
                pinned_version=extension.spec.version,
                auto_upgrade_minor_version=extension.spec.auto_upgrade_minor_version,
                major_version=extension.spec.major_version,
                installed_version=installed.get(extension.name),
            )
            results.append(ExtensionResolution(extension, namespace, resolution, None))
        except ExtctlError as exc:
            results.append(ExtensionResolution(extension, namespace, None, str(exc)))
    return results


def as_json(result: ExtensionResolution) -> dict[str, object]:
    extension, resolution = result.extension, result.resolution
    return {
        "name": extension.name,
        "extension_type": extension.spec.extension_type,
        "scope": extension.spec.scope.kind.value,
        "namespace": result.namespace,
        "release_train": resolution.train if resolution else extension.spec.release_train,
        "installed_version": resolution.installed_version if resolution else None,
        "version": resolution.version if resolution else None,
        "rule": resolution.rule.value if resolution else None,
        "explanation": resolution.explanation if resolution else None,
        "newer_major_available": resolution.newer_major_available if resolution else None,
        "ignored_tags": list(resolution.ignored_tags) if resolution else [],
        "error": result.error,
    }


def run(args: argparse.Namespace) -> int:
    configure("auto", "warning", stream=sys.stderr)  # the catalog's debug lines must not reach the JSON on stdout
    source = source_label(args)
    snapshot = open_snapshot(args)
    manifests = load_or_report(snapshot.root, args.output, args.cache_dir, source=source, extensions=[])
    if manifests is None:
        return 1
    overrides: dict[str, tuple[str, ...]] = {}
    cluster: dict[str, object] | None = None
    cluster_labels = ""
    if args.cluster is not None:
        view = inventory_view(manifests, args.cluster)
        if view is None:
            raise ExtctlError(f"cluster {args.cluster!r} is not in the inventory of {source}; clusters: "
                              f"{', '.join(manifests.clusters) or 'none (add kind: Cluster manifests)'}")
        manifests, overrides = view.manifests, dict(view.overrides)
        labels = dict(view.identity.labels) if view.identity is not None else {}
        cluster = {"name": args.cluster, "labels": labels, "not_placed": list(view.not_placed)}
        cluster_labels = format_labels(labels)
    results = resolve_all(snapshot, manifests, parse_installed(args.installed, manifests), args.repo_credentials)
    failed = [result for result in results if result.error is not None]
    if args.output == "json":
        document = {"source": source, **({"cluster": cluster} if cluster else {}),
                    "extensions": [{**as_json(r), **({"overrides": list(overrides[r.extension.name])}
                                                     if r.extension.name in overrides else {})} for r in results]}
        print(json.dumps(document, indent=2))
        return 1 if failed else 0
    rows = [
        (
            r.extension.name,
            r.extension.spec.extension_type,
            r.resolution.train if r.resolution else r.extension.spec.release_train,
            r.resolution.version if r.resolution else "-",
            r.resolution.rule.value if r.resolution else "error",
        )
        for r in results
    ]
    headers = ("EXTENSION", "TYPE", "TRAIN", "VERSION", "RULE")
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]
    if cluster is not None:
        print(f"cluster: {args.cluster} ({cluster_labels or 'no labels'})")
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row, result in zip(rows, results, strict=True):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        for used in overrides.get(result.extension.name, ()):
            print(f"    override: {used}")
        if result.resolution is not None:
            print(f"    why: {result.resolution.explanation}")
        else:
            print(f"    error: {result.error}")
    for result in failed:
        print(f"extctl: error: {result.extension.name}: {result.error}", file=sys.stderr)
    return 1 if failed else 0
