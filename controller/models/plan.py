"""The planner: desired vs. observed → one release state and one action per extension, in order.

Owns: gathering each extension's facts for ``release_state.determine_state`` (which decides), the
orphaned releases to uninstall, the dependency gate over the decisions, the deterministic order
(dependencies first, ties by name; uninstalls in reverse dependency order), which actions wait for
which, and the prune guard. Must not: run anything, read the clock (``now`` is handed in), or
uninstall a release extctl does not own, or one whose extension is still in Git (suspended, pending
a Secret, or failing to resolve).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

from controller.models.desired import DesiredRelease
from controller.models.observed import ObservedRelease
from controller.models.release_state import (
    ACTION_FOR_STATE,
    CHANGES,
    ActionKind,
    Facts,
    Policy,
    ReleaseState,
    StateDecision,
    dependency_not_ready,
    determine_state,
    satisfies_dependents,
)
from controller.models.remediation import ExtensionState

__all__ = ["ActionKind", "Hold", "HoldKind", "Plan", "PlannedAction", "Policy", "PruneDecision", "ReleaseState",
           "guard_prune", "plan"]


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
    state: ReleaseState = ReleaseState.IN_SYNC
    error_reason: str | None = None  # for FAIL: the typed reason (Conflict, Blocked, RetriesExhausted, …)
    unlock_to: int | None = None  # for UNLOCK: the revision to roll back to (None: uninstall)
    note: str | None = None  # e.g. "retry 1 of 3"
    drift: tuple[str, ...] = ()  # what drifted from the release (objects, field paths, out-of-band revision)
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
        return "; ".join(self.reasons + ((self.note,) if self.note else ()))


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


def _action(decision: StateDecision, *, extension: str, namespace: str, release: str,
            desired: DesiredRelease | None, observed: ObservedRelease | None, hold: HoldKind | None = None,
            removal: bool = False) -> PlannedAction:
    to_version = desired.version if desired is not None else None
    if decision.action is ActionKind.UNLOCK or decision.action is ActionKind.UNINSTALL:
        to_version = None
    return PlannedAction(
        kind=decision.action, extension=extension, namespace=namespace, release=release, reasons=decision.reasons,
        from_version=observed.chart_version if observed is not None else None, to_version=to_version,
        hold=hold, removal=removal, state=decision.state, error_reason=decision.error_reason,
        unlock_to=decision.unlock_to, note=decision.note, drift=decision.drift, desired=desired, observed=observed)


def plan(
    desired: Sequence[DesiredRelease],
    observed: Sequence[ObservedRelease],
    holds: Mapping[str, Hold] | None = None,
    *,
    held_namespaces: Mapping[str, str] | None = None,
    policy: Policy | None = None,
    remembered: Mapping[str, ExtensionState] | None = None,
    retries: Mapping[str, int | None] | None = None,
    in_flight: frozenset[tuple[str, str]] = frozenset(),
    now: float = 0.0,
) -> Plan:
    """Compute the ordered plan: one release state and one action per extension and orphaned release.

    ``holds`` are extensions in Git with no desired release this pass; ``held_namespaces`` maps such an
    extension to its namespace when known (for reporting); ``remembered`` is the state store's record
    per extension (failures, pending timers); ``retries`` per-extension overrides of ``policy.retries``;
    ``in_flight`` releases this process is acting on. Only releases labelled with ``policy.instance``
    count as owned."""
    policy = policy or Policy()
    holds = dict(holds or {})
    held_namespaces = dict(held_namespaces or {})
    remembered = remembered or {}
    retries = retries or {}
    by_key = {o.key: o for o in observed}
    desired_by_name = {d.extension: d for d in desired}
    in_git = set(desired_by_name) | set(holds)

    decisions: dict[str, tuple[StateDecision, PlannedAction]] = {}
    for d in desired:
        current = by_key.get((d.namespace, d.release_name))
        facts = Facts(d.extension, desired=d, observed=current,
                      remembered=remembered.get(d.extension, ExtensionState()), retries=retries.get(d.extension),
                      in_flight=(d.namespace, d.release_name) in in_flight)
        decision = determine_state(facts, policy, now)
        decisions[d.extension] = (decision, _action(decision, extension=d.extension, namespace=d.namespace,
                                                    release=d.release_name, desired=d, observed=current))
    for name, hold in holds.items():
        owned = [o for o in observed if o.owned_by(policy.instance) and o.extension == name]
        current = owned[0] if owned else None
        facts = Facts(name, hold_kind=hold.kind.value, hold_reason=hold.reason, observed=current,
                      remembered=remembered.get(name, ExtensionState()))
        decision = determine_state(facts, policy, now)
        namespace = held_namespaces.get(name) or (current.namespace if current else "")
        decisions[name] = (decision, _action(decision, extension=name, namespace=namespace, release=name,
                                             desired=None, observed=current, hold=hold.kind))

    # Owned releases that no extension in Git claims (or that an extension left for another namespace).
    removals: dict[str, PlannedAction] = {}
    for o in observed:
        if not o.owned_by(policy.instance) or o.extension is None or o.extension in holds:
            continue
        wanted = desired_by_name.get(o.extension)
        if wanted is not None and (wanted.namespace, wanted.release_name) == o.key:
            continue
        if wanted is None and o.extension in in_git:
            continue
        reason = f"extension {o.extension} moved to namespace {wanted.namespace}" if wanted is not None \
            else "owned release no longer in Git"
        decision = determine_state(Facts(o.extension, hold_reason=reason, observed=o, in_flight=o.key in in_flight),
                                   policy, now)
        action = _action(decision, extension=o.extension, namespace=o.namespace, release=o.name, desired=None,
                         observed=o, removal=True)
        removals[action.key] = action

    # Forward order: dependencies first. A change waits for its dependencies' actions, and is skipped
    # when a dependency will not be ready (it fails, waits, backs off, or is being unlocked).
    forward_edges = {name: (desired_by_name[name].depends_on if name in desired_by_name else ()) for name in decisions}
    ordered: list[PlannedAction] = []
    for name in _topological(decisions, forward_edges):
        decision, action = decisions[name]
        deps = tuple(sorted(dep for dep in forward_edges.get(name, ()) if dep in decisions))
        blocked = [f"{dep} ({decisions[dep][1].kind.value}: {decisions[dep][0].state.value})" for dep in deps
                   if not satisfies_dependents(decisions[dep][0], decisions[dep][1].observed is not None)]
        gated = dependency_not_ready(decision, blocked)
        if gated is not decision:
            decisions[name] = (gated, action := replace(
                action, kind=gated.action, state=gated.state, reasons=gated.reasons, note=None,
                error_reason=gated.error_reason))
        ordered.append(_with_waits(action, deps))
    # Uninstalls: dependents first. A release waits for the uninstalls of those that depend on it.
    by_extension = {a.extension: a for a in removals.values()}
    reverse_edges: dict[str, set[str]] = {name: set() for name in by_extension}
    for name, removal in by_extension.items():
        assert removal.observed is not None  # noqa: S101 - uninstall actions always carry their release
        for dep in removal.observed.depends_on:
            if dep in reverse_edges:
                reverse_edges[dep].add(name)
    for name in _topological(by_extension, reverse_edges):
        removal = by_extension[name]
        waits = tuple(sorted(by_extension[d].key for d in reverse_edges[name]))
        ordered.append(_with_waits(removal, waits))
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
    removals = [a for a in the_plan.actions if a.state is ReleaseState.ORPHANED]
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
    guarded = tuple(replace(a, kind=ACTION_FOR_STATE[ReleaseState.PRUNE_REFUSED], state=ReleaseState.PRUNE_REFUSED,
                            reasons=(*a.reasons, reason))
                    if a.state is ReleaseState.ORPHANED else a for a in the_plan.actions)
    return PruneDecision(Plan(guarded), tuple(removals), reason)
