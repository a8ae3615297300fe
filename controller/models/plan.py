"""The planner: desired vs. observed → an ordered list of actions, each with its reasons.

Owns: choosing Install / Upgrade / Uninstall / Noop / Conflict / Skip / Blocked per extension and
release, the deterministic order (dependencies first, ties by name; uninstalls in reverse dependency
order), and which actions must wait for which. Must not: run anything, read the clock, or
uninstall a release extctl does not own, or one whose extension is still in Git (suspended,
pending a Secret, or failing to resolve).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

from controller.models.desired import DEFAULT_INSTANCE, LABEL_DEPENDS_ON, DesiredRelease, depends_on_label
from controller.models.observed import ObservedRelease


class ActionKind(StrEnum):
    INSTALL = "install"
    UPGRADE = "upgrade"
    UNINSTALL = "uninstall"
    NOOP = "noop"
    CONFLICT = "conflict"
    SKIP = "skip"
    BLOCKED = "blocked"


CHANGES = frozenset({ActionKind.INSTALL, ActionKind.UPGRADE, ActionKind.UNINSTALL})


class HoldKind(StrEnum):
    SUSPENDED = "suspended"
    PENDING = "pending"
    ERROR = "error"


@dataclass(frozen=True)
class Hold:
    """An extension that is in Git but gets no desired release this pass, and why."""

    kind: HoldKind
    reason: str


@dataclass(frozen=True)
class PlannedAction:
    kind: ActionKind
    extension: str
    namespace: str
    release: str
    reasons: tuple[str, ...]
    from_version: str | None = None
    to_version: str | None = None
    waits_for: tuple[str, ...] = ()
    hold: HoldKind | None = None
    removal: bool = False
    desired: DesiredRelease | None = field(default=None, compare=False, repr=False)
    observed: ObservedRelease | None = field(default=None, compare=False, repr=False)

    @property
    def key(self) -> str:
        """Unique within a plan: an extension may be uninstalled in one namespace and installed in another."""
        return f"uninstall:{self.namespace}/{self.release}" if self.removal else self.extension

    @property
    def changes_cluster(self) -> bool:
        return self.kind in CHANGES

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


@dataclass(frozen=True)
class Plan:
    actions: tuple[PlannedAction, ...]

    @property
    def changes(self) -> tuple[PlannedAction, ...]:
        return tuple(a for a in self.actions if a.changes_cluster)

    def by_key(self) -> dict[str, PlannedAction]:
        return {a.key: a for a in self.actions}

    def count(self, kind: ActionKind) -> int:
        return sum(1 for a in self.actions if a.kind is kind)


def _topological(names: Iterable[str], edges: Mapping[str, Iterable[str]]) -> list[str]:
    """Dependencies first, ties broken by name; members of a cycle (rejected by validation) go last."""
    nodes = sorted(set(names))
    node_set = set(nodes)
    deps = {n: {d for d in edges.get(n, ()) if d in node_set and d != n} for n in nodes}
    dependents: dict[str, set[str]] = {n: set() for n in nodes}
    for node, node_deps in deps.items():
        for dep in node_deps:
            dependents[dep].add(node)
    remaining = {n: len(d) for n, d in deps.items()}
    ready = [n for n in nodes if remaining[n] == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        node = heapq.heappop(ready)
        order.append(node)
        for dependent in sorted(dependents[node]):
            remaining[dependent] -= 1
            if remaining[dependent] == 0:
                heapq.heappush(ready, dependent)
    return order + [n for n in nodes if n not in order]


def _upgrade_reasons(desired: DesiredRelease, current: ObservedRelease) -> list[str]:
    reasons: list[str] = []
    if current.status == "failed":
        reasons.append(f"previous attempt failed (release status {current.status})")
    if current.chart_name is not None and current.chart_name != desired.chart.name:
        reasons.append(f"chart changed {current.chart_name} → {desired.chart.name}")
    if current.chart_version != desired.version:
        reasons.append(
            f"chart version {current.chart_version} → {desired.version} ({desired.resolution.explanation})"
        )
    if current.values_digest != desired.values_digest:
        reasons.append(f"values digest changed {current.values_digest or 'none'} → {desired.values_digest}")
    if current.labels.get(LABEL_DEPENDS_ON, "") != (depends_on_label(desired.depends_on) if desired.depends_on else ""):
        # The release label records dependsOn so uninstalls can run in reverse order; keep it current.
        before = ", ".join(current.depends_on) or "none"
        reasons.append(f"dependsOn changed {before} → {', '.join(sorted(desired.depends_on)) or 'none'}")
    return reasons


def _plan_desired(desired: DesiredRelease, current: ObservedRelease | None, instance: str) -> PlannedAction:
    install = PlannedAction(
        kind=ActionKind.INSTALL, extension=desired.extension, namespace=desired.namespace,
        release=desired.release_name, reasons=("not installed",), to_version=desired.version,
        desired=desired, observed=current)
    if current is None:
        return install
    if not current.owned_by(instance) or current.extension != desired.extension:
        owner = (f"extension {current.extension!r}" if current.owned_by(instance)
                 else f"extctl instance {current.instance!r}" if current.managed else "something other than extctl")
        return replace(install, kind=ActionKind.CONFLICT, from_version=current.chart_version, reasons=(
            f"release {current.namespace}/{current.name} already exists and is managed by {owner}; "
            "extctl never modifies it: rename the extension, or uninstall the release by hand",))
    if current.locked:
        return replace(install, kind=ActionKind.SKIP, from_version=current.chart_version, reasons=(
            f"release is locked in status {current.status} (another helm operation is running or was interrupted)",))
    reasons = _upgrade_reasons(desired, current)
    if reasons:
        return replace(install, kind=ActionKind.UPGRADE, from_version=current.chart_version, reasons=tuple(reasons))
    return replace(install, kind=ActionKind.NOOP, from_version=current.chart_version,
                   reasons=(f"up to date ({desired.resolution.explanation})",))


def plan(
    desired: Sequence[DesiredRelease],
    observed: Sequence[ObservedRelease],
    holds: Mapping[str, Hold] | None = None,
    *,
    held_namespaces: Mapping[str, str] | None = None,
    instance: str = DEFAULT_INSTANCE,
) -> Plan:
    """Compute the ordered plan. ``holds`` are extensions in Git with no desired release this pass;
    ``held_namespaces`` maps such an extension to its namespace when known (for reporting);
    only releases labelled with this extctl ``instance`` count as owned."""
    holds = dict(holds or {})
    held_namespaces = dict(held_namespaces or {})
    by_key = {o.key: o for o in observed}
    desired_by_name = {d.extension: d for d in desired}
    in_git = set(desired_by_name) | set(holds)

    forward: dict[str, PlannedAction] = {}
    for d in desired:
        forward[d.extension] = _plan_desired(d, by_key.get((d.namespace, d.release_name)), instance)
    for name, hold in holds.items():
        owned = [o for o in observed if o.owned_by(instance) and o.extension == name]
        current = owned[0] if owned else None
        kind = ActionKind.SKIP if hold.kind is HoldKind.SUSPENDED else ActionKind.BLOCKED
        forward[name] = PlannedAction(
            kind=kind, extension=name, namespace=held_namespaces.get(name) or (current.namespace if current else ""),
            release=name, from_version=current.chart_version if current else None,
            reasons=(hold.reason,), hold=hold.kind, observed=current)

    # Owned releases that no extension in Git claims (or that an extension left for another namespace).
    removals: dict[str, PlannedAction] = {}
    for o in observed:
        if not o.owned_by(instance) or o.extension is None:
            continue
        wanted = desired_by_name.get(o.extension)
        if o.extension in holds:
            continue
        if wanted is not None and (wanted.namespace, wanted.release_name) == o.key:
            continue
        if wanted is not None:
            reason = f"extension {o.extension} moved to namespace {wanted.namespace}"
        elif o.extension in in_git:
            continue
        else:
            reason = "owned release no longer in Git"
        action = PlannedAction(kind=ActionKind.UNINSTALL, extension=o.extension, namespace=o.namespace,
                               release=o.name, from_version=o.chart_version, reasons=(reason,), observed=o,
                               removal=True)
        removals[action.key] = action

    # Forward order: dependencies first. An install/upgrade waits for its dependencies' actions.
    forward_edges = {name: (desired_by_name[name].depends_on if name in desired_by_name else ()) for name in forward}
    ordered: list[PlannedAction] = []
    for name in _topological(forward, forward_edges):
        action = forward[name]
        waits = tuple(sorted(dep for dep in forward_edges.get(name, ()) if dep in forward))
        ordered.append(_with_waits(action, waits))
    # Uninstalls: dependents first. A release waits for the uninstalls of those that depend on it.
    by_extension = {a.extension: a for a in removals.values()}
    reverse_edges: dict[str, set[str]] = {name: set() for name in by_extension}
    for name, action in by_extension.items():
        assert action.observed is not None  # noqa: S101 - uninstall actions always carry their release
        for dep in action.observed.depends_on:
            if dep in reverse_edges:
                reverse_edges[dep].add(name)
    for name in _topological(by_extension, reverse_edges):
        action = by_extension[name]
        waits = tuple(sorted(by_extension[d].key for d in reverse_edges[name]))
        ordered.append(_with_waits(action, waits))
    return Plan(actions=tuple(ordered))


def _with_waits(action: PlannedAction, waits: tuple[str, ...]) -> PlannedAction:
    return replace(action, waits_for=waits) if waits else action


@dataclass(frozen=True)
class PruneDecision:
    plan: Plan
    refused: tuple[PlannedAction, ...] = ()
    reason: str = ""


def guard_prune(the_plan: Plan, *, managed_count: int, extensions_in_git: int, max_fraction: float,
                allowed: bool) -> PruneDecision:
    """Refuse a revision's uninstalls when it would remove more than ``max_fraction`` of the managed
    releases, or any when Git now holds no extension at all (a wiped or mis-pointed repository)."""
    removals = [a for a in the_plan.actions if a.kind is ActionKind.UNINSTALL]
    if allowed or not removals:
        return PruneDecision(the_plan)
    if extensions_in_git == 0:
        reason = (f"prune guard: the revision holds no extensions, which would uninstall all {len(removals)} "
                  "managed release(s)")
    elif managed_count and len(removals) / managed_count > max_fraction:
        reason = (f"prune guard: would uninstall {len(removals)} of {managed_count} managed releases "
                  f"(more than {max_fraction:.0%})")
    else:
        return PruneDecision(the_plan)
    reason += "; nothing was uninstalled. If this is intended, run with --allow-mass-prune or commit an " \
              "empty file .extctl/allow-mass-prune to the repository"
    guarded = tuple(replace(a, kind=ActionKind.SKIP, reasons=(*a.reasons, reason))
                    if a.kind is ActionKind.UNINSTALL else a for a in the_plan.actions)
    return PruneDecision(Plan(guarded), tuple(removals), reason)
