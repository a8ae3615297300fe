"""The fleet parts of a revision: ``kind: Cluster`` documents, ``spec.placement`` and ``spec.overrides``.

Owns: building ``ClusterEntry``/``Placement``/``Override`` models from schema-valid documents, and the
rules the schema cannot express, each a located ``ValidationIssue``: duplicate cluster names, label key
and value syntax (inventory labels and ``matchLabels``/``matchExpressions`` keys), ``In``/``NotIn`` need
values and ``Exists``/``DoesNotExist`` take none, placement and overrides need an inventory and may
only name clusters in it, an override must select something and change something (and cannot both pin
and unpin), an override's train must exist on the type, and an extension placed on a cluster must find
every ``dependsOn`` target placed there too. Must not: read files, or decide what a cluster gets
(``controller.models.fleet``).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from controller.manifests.yaml_source import FieldPath, SourceDocument
from controller.models.manifests import Extension, ExtensionType, ManifestSet
from controller.models.placement import (
    ClusterEntry,
    LabelSelector,
    Operator,
    Override,
    Placement,
    Requirement,
    label_key_problem,
    label_value_problem,
)

Report = Callable[[SourceDocument, FieldPath, str], None]
_CHANGES = ("configurationSettings", "releaseTrain", "version", "autoUpgradeMinorVersion")


def build_cluster(document: SourceDocument) -> ClusterEntry:
    metadata = document.data["metadata"]
    return ClusterEntry(name=metadata["name"], labels=dict(metadata.get("labels") or {}),
                        location=document.locate(["metadata", "name"]))


def build_selector(data: Mapping[str, Any] | None) -> LabelSelector | None:
    if data is None:
        return None
    return LabelSelector(
        match_labels=dict(data.get("matchLabels") or {}),
        match_expressions=tuple(Requirement(e["key"], Operator(e["operator"]), tuple(e.get("values") or ()))
                                for e in data.get("matchExpressions") or ()))


def build_placement(data: Mapping[str, Any] | None) -> Placement | None:
    if data is None:
        return None
    return Placement(build_selector(data.get("clusterSelector")), tuple(data.get("clusters") or ()))


def build_overrides(data: Iterable[Mapping[str, Any]] | None) -> tuple[Override, ...]:
    return tuple(
        Override(target=Placement(build_selector(o.get("clusterSelector")), tuple(o.get("clusters") or ())),
                 configuration_settings=o.get("configurationSettings"), release_train=o.get("releaseTrain"),
                 version=o.get("version"), auto_upgrade_minor_version=o.get("autoUpgradeMinorVersion"), index=i)
        for i, o in enumerate(data or ()))


class FleetChecker:
    """Checks one revision's fleet fields; ``report`` is the semantic checker's located-issue sink."""

    def __init__(self, report: Report, *, check_references: bool = True, invalid_clusters: Iterable[str] = ()) -> None:
        self._report = report
        self._check_references = check_references
        # Clusters whose document failed the schema: naming them is not reported again as "unknown".
        self._invalid_clusters = set(invalid_clusters)

    def clusters(self, documents: Iterable[SourceDocument]) -> dict[str, ClusterEntry]:
        found: dict[str, ClusterEntry] = {}
        for document in documents:
            entry = build_cluster(document)
            first = found.get(entry.name)
            if first is not None:
                self._report(document, ["metadata", "name"],
                             f"duplicate Cluster {entry.name!r}; it is already defined at {first.location}")
                continue
            for key, value in entry.labels.items():
                problem = label_key_problem(key) or label_value_problem(value)
                if problem is not None:
                    self._report(document, ["metadata", "labels", key], problem)
            found[entry.name] = entry
        return dict(sorted(found.items()))

    def extension(self, extension: Extension, document: SourceDocument, inventory: Mapping[str, ClusterEntry],
                  extension_type: ExtensionType | None) -> None:
        spec = extension.spec
        if spec.placement is not None:
            self._target(document, ["spec", "placement"], spec.placement, inventory)
        for override in spec.overrides:
            path: FieldPath = ["spec", "overrides", override.index]
            raw = document.data["spec"]["overrides"][override.index]
            if "clusterSelector" not in raw and "clusters" not in raw:
                self._report(document, path, "an override needs clusterSelector or clusters (the clusters it "
                             "applies to); to change every cluster, edit the spec itself")
            else:
                self._target(document, path, override.target, inventory)
            if not any(key in raw for key in _CHANGES):
                self._report(document, path, "an override must change something: set " + ", ".join(_CHANGES[:-1])
                             + " or " + _CHANGES[-1])
            if override.version is not None and override.auto_upgrade_minor_version is True:
                self._report(document, [*path, "version"], "an override cannot pin a version and set "
                             "autoUpgradeMinorVersion: true; keep one of them")
            if override.auto_upgrade_minor_version is False and override.version is None:
                self._report(document, [*path, "autoUpgradeMinorVersion"], "autoUpgradeMinorVersion: false in an "
                             "override requires version (the pin for these clusters)")
            if (override.release_train is not None and extension_type is not None
                    and extension_type.find_train(override.release_train) is None):
                self._report(document, [*path, "releaseTrain"],
                             f"extension type {extension_type.name!r} has no release train "
                             f"{override.release_train!r}; available trains: {', '.join(extension_type.train_names)}")

    def _target(self, document: SourceDocument, path: FieldPath, target: Placement,
                inventory: Mapping[str, ClusterEntry]) -> None:
        selector = target.cluster_selector
        if selector is not None:
            for key, value in selector.match_labels.items():
                problem = label_key_problem(key) or label_value_problem(value)
                if problem is not None:
                    self._report(document, [*path, "clusterSelector", "matchLabels", key], problem)
            for index, requirement in enumerate(selector.match_expressions):
                where: FieldPath = [*path, "clusterSelector", "matchExpressions", index]
                problem = label_key_problem(requirement.key)
                if problem is not None:
                    self._report(document, [*where, "key"], problem)
                wants_values = requirement.operator in {Operator.IN, Operator.NOT_IN}
                if wants_values and not requirement.values:
                    self._report(document, where, f"operator {requirement.operator.value} needs a non-empty "
                                 "values list")
                elif not wants_values and requirement.values:
                    self._report(document, [*where, "values"], f"operator {requirement.operator.value} takes no "
                                 "values; remove them (or use In/NotIn)")
        if not self._check_references:
            return
        if not inventory and not self._invalid_clusters:
            self._report(document, path, "placement and overrides select clusters of the inventory, and this "
                         "repository has none: add a kind: Cluster manifest per cluster (docs/fleet.md)")
            return
        for index, name in enumerate(target.clusters):
            if name not in inventory and name not in self._invalid_clusters:
                match = difflib.get_close_matches(name, list(inventory), n=1)
                hint = f" (did you mean {match[0]!r}?)" if match else ""
                self._report(document, [*path, "clusters", index], f"unknown cluster {name!r}{hint}; clusters "
                             f"of the inventory: {', '.join(inventory)}")

    def dependencies(self, manifests: ManifestSet, documents: Mapping[str, SourceDocument]) -> None:
        """On every cluster of the inventory, an extension's ``dependsOn`` targets are placed too. Clusters with
        the same labels (and not named by any placement) are checked once: 1000 clusters cost a few groups."""
        extensions = manifests.extensions
        if not self._check_references or not any(e.spec.placement for e in extensions.values()) \
                or not any(e.spec.depends_on for e in extensions.values()):
            return
        named = {n for e in extensions.values() if e.spec.placement is not None for n in e.spec.placement.clusters}
        groups: dict[tuple[tuple[tuple[str, str], ...], str | None], list[str]] = {}
        for cluster in manifests.clusters.values():
            key = (tuple(sorted(cluster.labels.items())), cluster.name if cluster.name in named else None)
            groups.setdefault(key, []).append(cluster.name)
        missing: dict[tuple[str, int], list[str]] = {}
        for (labels, _), clusters in groups.items():
            here = {name for name, e in extensions.items()
                    if e.spec.placement is None or e.spec.placement.selects(clusters[0], dict(labels))}
            for name in sorted(here):
                for index, dependency in enumerate(extensions[name].spec.depends_on):
                    if dependency in extensions and dependency not in here:
                        missing.setdefault((name, index), []).extend(clusters)
        for (name, index), clusters in sorted(missing.items()):
            dependency = extensions[name].spec.depends_on[index]
            self._report(documents[name], ["spec", "dependsOn", index],
                         f"{dependency!r} is not placed on cluster(s) {', '.join(sorted(clusters))}, where {name!r} "
                         f"is; place {dependency!r} there too, or narrow the placement of {name!r}")
