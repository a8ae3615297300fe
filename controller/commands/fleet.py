"""``extctl fleet status``: what Git wants on every cluster against what each cluster's ``Extension`` objects say.

Owns: the command, computing the "wants" side without any controller (the revision's manifests, each
cluster's view through ``models.fleet``, and the version each extension resolves to from what that
cluster has installed, chart repositories read once per chart), reading the "has" side (one list of
``Extension`` objects per cluster, ``--context CTX[=NAME]`` repeatable or every kubeconfig file of
``--kubeconfig-dir``, read concurrently), naming each cluster (``=NAME``, else the ``extctl.dev/cluster``
annotation its controller writes on the objects, else its ConfigMap ``extctl-system/extctl-cluster``,
else the context or file name), and the table and JSON output. Without any context it prints the wants
of every cluster of the inventory. Exit 1 when any cluster is out of compliance or unreadable
(``models.compliance`` decides the findings), else 0. Must not: write anything, or talk to helm.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.commands import SUMMARIES
from controller.commands._options import _env_default, add_log_options
from controller.commands._source import add_source_options, open_snapshot
from controller.commands.resolve import lookup_charts
from controller.engine.fleet import ANNOTATION_CLUSTER
from controller.errors import ExtctlError
from controller.logs import configure
from controller.manifests.cache import ParseCache
from controller.models.compliance import Cell, Finding, Wanted, assess, wanted_version
from controller.models.extension_object import LiveObject, spec_mirror
from controller.models.fleet import cluster_view
from controller.models.manifests import ManifestSet
from controller.models.placement import ClusterIdentity, format_labels

READERS = 8


@dataclass
class Target:
    """One cluster to read: a kube context and/or kubeconfig file, and the name it was given, if any."""

    label: str
    context: str | None = None
    kubeconfig: str | None = None
    name: str | None = None
    objects: list[LiveObject] = field(default_factory=list)
    error: str | None = None


@dataclass
class Column:
    name: str
    target: Target | None
    labels: Mapping[str, str]
    known: bool
    cells: dict[str, Cell] = field(default_factory=dict)
    wants: tuple[str, ...] = ()

    @property
    def compliant(self) -> bool:
        return (self.target is None or self.target.error is None) and all(c.compliant for c in self.cells.values())


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser("fleet", help=SUMMARIES["fleet"],
                                                            description=SUMMARIES["fleet"])
    commands = parser.add_subparsers(dest="fleet_command", metavar="COMMAND")
    commands.required = True
    status = commands.add_parser(
        "status", help="the matrix of what Git wants against what each cluster has (exit 1: out of compliance)",
        description="Compare what Git wants on each cluster (placements, overrides, resolved versions) with "
                    "the Extension objects each cluster's controller writes. Exit 1: a cluster is out of "
                    "compliance or unreadable.")
    add_source_options(status)
    status.add_argument("--context", action="append", default=[], metavar="CONTEXT[=CLUSTER]",
                        help="a kube context to read (repeatable); =CLUSTER names its cluster in the inventory")
    status.add_argument("--kubeconfig-dir", type=Path, default=None, metavar="DIR",
                        help="read every kubeconfig file in DIR (its current context); the file name is the "
                             "fallback cluster name")
    status.add_argument("--instance", default=_env_default("EXTCTL_INSTANCE", "default"),
                        help="the extctl instance whose Extension objects count (env EXTCTL_INSTANCE)")
    status.add_argument("--output", "-o", choices=["table", "json"], default="table")
    add_log_options(status)
    status.set_defaults(handler=run_status)


def targets_of(args: argparse.Namespace) -> list[Target]:
    found = []
    for given in args.context:
        context, _, name = given.partition("=")
        found.append(Target(label=context, context=context, name=name or None))
    if args.kubeconfig_dir is not None:
        if not args.kubeconfig_dir.is_dir():
            raise ExtctlError(f"--kubeconfig-dir {args.kubeconfig_dir}: not a directory")
        for path in sorted(p for p in args.kubeconfig_dir.iterdir() if p.is_file() and not p.name.startswith(".")):
            found.append(Target(label=path.stem, kubeconfig=str(path)))
    return found


def read_target(target: Target, instance: str) -> Target:
    """The target's Extension objects and its cluster name (annotation, else ConfigMap); errors are recorded."""
    from controller.cluster import KubeCluster  # noqa: PLC0415 - the kubernetes client costs 0.5 s to import
    from controller.cluster.extensions import ExtensionObjects  # noqa: PLC0415 - same
    from controller.cluster.identity import read_identity  # noqa: PLC0415 - same

    try:
        cluster = KubeCluster(kube_context=target.context, kubeconfig=target.kubeconfig)
        target.objects = [LiveObject.from_json(o) for o in ExtensionObjects(cluster).list_extensions(instance)]
        if target.name is None:
            named = Counter(o.annotations[ANNOTATION_CLUSTER] for o in target.objects
                            if o.annotations.get(ANNOTATION_CLUSTER))
            if named:
                target.name = named.most_common(1)[0][0]
            else:
                stored = read_identity(cluster, "extctl-system")
                target.name = stored.name if stored is not None and stored.name else target.label
    except ExtctlError as exc:
        target.error = str(exc)
    return target


def versions_of(root: Path, manifest_root: Path, manifests: ManifestSet,
                credentials: Path | None) -> dict[str, list[str] | None]:
    """Chart versions per ExtensionType (None: the repository could not be read)."""
    lookups = lookup_charts(root, manifest_root, manifests, credentials)
    versions: dict[str, list[str] | None] = {}
    for name, extension_type in manifests.types.items():
        found = lookups.get(extension_type.chart)
        versions[name] = [v.version for v in found.versions] if found is not None and not isinstance(
            found, ExtctlError) and found.available else None
    return versions


def column(manifests: ManifestSet, name: str, target: Target | None,
           versions: Mapping[str, list[str] | None]) -> Column:
    view = cluster_view(manifests, ClusterIdentity(name, {}, source="fleet status"))
    labels = dict(view.identity.labels) if view.identity is not None and view.known else {}
    result = Column(name, target, labels, view.known, wants=tuple(view.manifests.extensions))
    if target is not None and target.error is not None:
        return result
    have = {o.name: o for o in target.objects} if target is not None else {}
    for extension_name in sorted(set(view.manifests.extensions) | set(have)):
        extension = view.manifests.extensions.get(extension_name)
        wanted = None
        if extension is not None:
            live_status = have[extension_name].status if extension_name in have else {}
            installed = live_status.get("installedVersion") if isinstance(live_status, Mapping) else None
            version, newer, problem = wanted_version(extension, view.manifests.type_of(extension),
                                                     versions.get(extension.spec.extension_type),
                                                     installed if isinstance(installed, str) else None)
            wanted = Wanted(extension_name, view.manifests.namespace_of(extension) or "default",
                            spec_mirror(extension), version, newer, problem)
        if target is None:  # offline: the wants only
            if wanted is not None:
                result.cells[extension_name] = Cell(Finding.OK, wanted.problem or "wanted", wanted=wanted.version,
                                                    notice=f"{wanted.newer_major} available" if wanted.newer_major
                                                    else None)
            continue
        cell = assess(wanted, have.get(extension_name))
        if cell is not None:
            result.cells[extension_name] = cell
    return result


def run_status(args: argparse.Namespace) -> int:
    configure(args.log_format, args.log_level, stream=sys.stderr)
    snapshot = open_snapshot(args, digest=True)
    manifests = ParseCache(Path(args.cache_dir) / "manifests").load(snapshot.root)
    if not manifests.clusters:
        raise ExtctlError(f"{snapshot.revision} has no inventory: add a kind: Cluster manifest per cluster "
                          "(docs/fleet.md)", reason="NoInventory")
    targets = targets_of(args)
    with ThreadPoolExecutor(max_workers=READERS) as pool:
        read = list(pool.map(lambda t: read_target(t, args.instance), targets))
    versions = versions_of(snapshot.repo_root, snapshot.root, manifests, args.repo_credentials)
    if read:
        columns = [column(manifests, t.name or t.label, t, versions) for t in read]
    else:
        columns = [column(manifests, name, None, versions) for name in manifests.clusters]
    checked = {c.name for c in columns}
    unchecked = [name for name in manifests.clusters if name not in checked] if read else []
    if args.output == "json":
        print(json.dumps(as_json(snapshot.revision, args.instance, columns, unchecked, offline=not read), indent=2))
    else:
        print(render(snapshot.revision, columns, unchecked, offline=not read))
    return 0 if not read or all(c.compliant for c in columns) else 1


def as_json(revision: str, instance: str, columns: list[Column], unchecked: list[str], *,
            offline: bool) -> dict[str, Any]:
    return {
        "revision": revision, "instance": instance, "offline": offline,
        "compliant": offline or all(c.compliant for c in columns),
        "clusters": [{
            "name": c.name, "context": c.target.label if c.target else None, "labels": dict(sorted(c.labels.items())),
            "in_inventory": c.known, "error": c.target.error if c.target else None, "compliant": c.compliant,
            "extensions": {name: {"finding": cell.finding.value, "installed": cell.installed, "wanted": cell.wanted,
                                  "notice": cell.notice, "detail": cell.detail}
                           for name, cell in sorted(c.cells.items())},
        } for c in columns],
        "not_checked": unchecked,
    }


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def render(revision: str, columns: list[Column], unchecked: list[str], *, offline: bool) -> str:
    extensions = sorted({name for c in columns for name in (*c.cells, *c.wants)})
    bad = [c for c in columns if not c.compliant]
    title = (f"fleet wants ({len(columns)} clusters, no context read)" if offline else
             f"fleet status: {len(columns)} cluster(s), {len(bad)} out of compliance")
    lines = [f"{title} at {revision}", ""]

    def shown(c: Column, name: str) -> str:
        if c.target is not None and c.target.error is not None:
            return "unreadable"
        cell = c.cells.get(name)
        if cell is None:
            return "-"
        return f"wants {cell.wanted or '?'}" + (f" ({cell.notice})" if cell.notice else "") if offline else cell.text

    lines += _table([["EXTENSION", *(c.name for c in columns)],
                     *([e, *(shown(c, e) for c in columns)] for e in extensions)])
    summary = [["CLUSTER", "CONTEXT", "LABELS", "STATE"]]
    for c in columns:
        findings = Counter(cell.finding.value for cell in c.cells.values() if not cell.compliant)
        state = ("wants only" if offline else f"unreadable: {c.target.error}" if c.target and c.target.error
                 else "compliant" if c.compliant else "out of compliance (" + ", ".join(
                     f"{n} {k}" for k, n in sorted(findings.items())) + ")")
        where = "" if c.known else " (not in the inventory)"
        summary.append([c.name + where, c.target.label if c.target else "-", format_labels(c.labels) or "-", state])
    lines += ["", *_table(summary)]
    problems = [(c.name, name, cell) for c in columns if c.target is not None
                for name, cell in sorted(c.cells.items()) if not cell.compliant]
    if problems:
        lines += ["", "out of compliance:"]
        lines += [f"  {cluster}/{name}: {cell.finding.value}: {cell.detail}" for cluster, name, cell in problems]
    if unchecked:
        lines += ["", "not checked (in the inventory, no context given): " + ", ".join(unchecked)]
    return "\n".join(lines)
