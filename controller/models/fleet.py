"""One cluster's view of a revision: which extensions are placed on it, with its overrides merged.

Owns: the rules that turn the revision's ``ManifestSet`` into the set a cluster's controller reconciles
(``cluster_view``), shared by ``reconcile``/``run``, ``plan``, ``preview``, ``resolve`` and ``fleet``:

* **Identity.** A cluster is *known* when its name is in the inventory (``kind: Cluster``). Its labels
  are the inventory's, and labels given to the controller (``--cluster-labels``) fill only keys the
  inventory does not set (a different value is reported as a conflict; the inventory wins, because it is
  what previews see). An unknown cluster (or a controller without a name) gets every extension **without**
  ``spec.placement``, each with its base spec: no override applies to it.
* **Placement.** No ``spec.placement``: every cluster. Else the cluster's name is listed in
  ``placement.clusters`` or its labels match ``placement.clusterSelector``.
* **Overrides.** ``spec.overrides`` entries whose target selects the cluster apply in list order, later
  wins: ``configurationSettings`` deep-merged into the settings (mappings merge key by key, anything else
  is replaced, ``null`` removes a key, as Helm merges values), ``releaseTrain`` replaces the train,
  ``version`` pins (auto-upgrade off, ``majorVersion`` dropped), ``autoUpgradeMinorVersion: true``
  unpins.

An extension that is not placed on a cluster is simply absent from its view: its owned release there is
an orphan like any other (uninstalled, prune guard applies); ``explain_unplaced`` says why in the plan.
Must not: do I/O, log, or validate manifests (``controller.manifests.fleet_checks`` does).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from controller.models.manifests import Extension, ManifestSet
from controller.models.placement import ClusterIdentity, format_labels
from controller.models.plan import Plan

ORPHAN_REASON = "owned release no longer in Git"


@dataclass(frozen=True)
class ClusterView:
    """``manifests``: the placed extensions, overrides merged, plus the types and the inventory.
    ``identity``: the effective identity (inventory labels merged) or None. ``not_placed``: extensions of
    the revision left out; ``overrides``: per extension, the overrides applied (for previews and plans)."""

    manifests: ManifestSet
    identity: ClusterIdentity | None
    known: bool
    not_placed: tuple[str, ...] = ()
    overrides: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    label_conflicts: tuple[str, ...] = ()

    @property
    def name(self) -> str | None:
        return self.identity.name if self.identity is not None else None

    def warnings(self, full: ManifestSet) -> list[str]:
        """What a controller should log about this view (an unknown cluster, conflicting labels)."""
        found = []
        if not self.known and self.not_placed:
            who = f"cluster {self.name!r} is not in the inventory" if self.name else "this controller has no " \
                "--cluster-name"
            known = ", ".join(sorted(full.clusters)) or "none"
            found.append(f"{who} (kind: Cluster in Git; known: {known}): only extensions without spec.placement "
                         f"apply here; not applied: {', '.join(self.not_placed)}")
        if self.label_conflicts:
            found.append("--cluster-labels disagree with the inventory on " + ", ".join(self.label_conflicts)
                         + "; the inventory's values are used")
        return found


def uses_placement(manifests: ManifestSet) -> bool:
    return any(e.spec.placement is not None or e.spec.overrides for e in manifests.extensions.values())


def cluster_view(manifests: ManifestSet, identity: ClusterIdentity | None) -> ClusterView:
    """The view of the cluster ``identity`` names (None: a controller without identity)."""
    entry = manifests.clusters.get(identity.name) if identity is not None and identity.name else None
    if entry is None:
        kept = {name: e for name, e in manifests.extensions.items() if e.spec.placement is None}
        left_out = tuple(sorted(set(manifests.extensions) - set(kept)))
        view = manifests if not left_out else replace(manifests, extensions=kept)
        return ClusterView(view, identity, False, left_out)
    assert identity is not None  # noqa: S101 - entry is only found for a named identity
    given = dict(identity.labels)
    conflicts = tuple(sorted(k for k, v in given.items() if k in entry.labels and entry.labels[k] != v))
    labels = {**given, **entry.labels}
    effective = ClusterIdentity(entry.name, labels, identity.source)
    extensions: dict[str, Extension] = {}
    applied: dict[str, tuple[str, ...]] = {}
    left: list[str] = []
    for name, extension in manifests.extensions.items():
        placement = extension.spec.placement
        if placement is not None and not placement.selects(entry.name, labels):
            left.append(name)
            continue
        extensions[name], used = apply_overrides(extension, entry.name, labels)
        if used:
            applied[name] = used
    return ClusterView(replace(manifests, extensions=extensions), effective, True, tuple(left), applied, conflicts)


def inventory_view(manifests: ManifestSet, name: str) -> ClusterView | None:
    """The view of the inventory's cluster ``name`` as its controller would see it (offline commands)."""
    if name not in manifests.clusters:
        return None
    return cluster_view(manifests, ClusterIdentity(name, {}, source="inventory"))


def apply_overrides(extension: Extension, name: str | None,
                    labels: Mapping[str, str]) -> tuple[Extension, tuple[str, ...]]:
    """``extension`` with the overrides that select the cluster merged in order, and their descriptions."""
    spec = extension.spec
    chosen = [o for o in spec.overrides if o.target.selects(name, labels)]
    if not chosen:
        return extension, ()
    settings: Mapping[str, object] = spec.configuration_settings
    train, version, auto, major = spec.release_train, spec.version, spec.auto_upgrade_minor_version, spec.major_version
    for override in chosen:
        if override.configuration_settings is not None:
            settings = merge_settings(settings, override.configuration_settings)
        if override.release_train is not None:
            train = override.release_train
        if override.version is not None:
            version, auto, major = override.version, False, None
        elif override.auto_upgrade_minor_version:
            version, auto = None, True
    merged = replace(spec, configuration_settings=settings, release_train=train, version=version,
                     auto_upgrade_minor_version=auto, major_version=major)
    return replace(extension, spec=merged), tuple(o.describe() for o in chosen)


def merge_settings(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's merge of values: mappings key by key (recursively), anything else replaced, ``None`` removes."""
    merged = copy.deepcopy(dict(base))
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_settings(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def explain_unplaced(the_plan: Plan, view: ClusterView) -> Plan:
    """Removals of extensions that are in Git but not placed on this cluster say so, instead of "no longer
    in Git"."""
    if not view.not_placed:
        return the_plan
    where = f"cluster {view.name}" if view.name else "this cluster"
    if view.identity is not None and view.identity.labels:
        where += f" ({format_labels(view.identity.labels)})"
    left = set(view.not_placed)
    actions = []
    for action in the_plan.actions:
        if action.removal and action.extension in left:
            why = (f"placement of extension {action.extension} does not select {where}" if view.known
                   else f"extension {action.extension} has spec.placement and {where} is not in the inventory")
            actions.append(replace(action, reasons=(why, *(r for r in action.reasons if r != ORPHAN_REASON))))
        else:
            actions.append(action)
    return Plan(tuple(actions))
