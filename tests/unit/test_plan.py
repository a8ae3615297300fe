"""Planner tables: which action each (desired, observed) pair yields, why, and in what order."""

from __future__ import annotations

import pytest

from controller.models.desired import (
    LABEL_DEPENDS_ON,
    LABEL_DIGEST,
    LABEL_EXTENSION,
    LABEL_INSTANCE,
    LABEL_MANAGED_BY,
    DesiredRelease,
)
from controller.models.manifests import ChartRef
from controller.models.observed import ObservedRelease
from controller.models.plan import ActionKind, Hold, HoldKind, plan
from controller.models.resolution import Resolution, ResolutionRule

CHART = ChartRef(repository="charts", name="agent")


def desired(name: str, *, version: str = "1.1.0", digest: str = "d1", ns: str = "ns",
            depends_on: tuple[str, ...] = ()) -> DesiredRelease:
    resolution = Resolution(version=version, rule=ResolutionRule.LATEST_IN_TRAIN,
                            explanation=f"{version} is the newest on stable", train="stable")
    return DesiredRelease(extension=name, namespace=ns, chart=CHART, version=version, resolution=resolution,
                          values={}, values_digest=digest, depends_on=depends_on)


def observed(name: str, *, version: str = "1.1.0", digest: str = "d1", ns: str = "ns", status: str = "deployed",
             owner: str | None = "self", depends_on: str = "", chart: str = "agent",
             instance: str = "default") -> ObservedRelease:
    labels = {}
    if owner is not None:
        labels = {LABEL_MANAGED_BY: "extctl", LABEL_EXTENSION: name if owner == "self" else owner,
                  LABEL_DIGEST: digest, LABEL_INSTANCE: instance}
        if depends_on:
            labels[LABEL_DEPENDS_ON] = depends_on
    return ObservedRelease(name=name, namespace=ns, revision=1, status=status, chart_name=chart,
                           chart_version=version, labels=labels)


@pytest.mark.parametrize(
    ("case", "desired_set", "observed_set", "holds", "expected"),
    [
        ("fresh install", [desired("a")], [], {}, [("a", ActionKind.INSTALL, "not installed")]),
        ("unchanged", [desired("a")], [observed("a")], {}, [("a", ActionKind.NOOP, "up to date")]),
        ("version bump", [desired("a", version="1.2.0")], [observed("a", version="1.1.0")], {},
         [("a", ActionKind.UPGRADE, "chart version 1.1.0 → 1.2.0")]),
        ("settings change", [desired("a", digest="d2")], [observed("a", digest="d1")], {},
         [("a", ActionKind.UPGRADE, "values digest changed d1 → d2")]),
        ("failed release retried", [desired("a")], [observed("a", status="failed")], {},
         [("a", ActionKind.UPGRADE, "previous attempt failed")]),
        ("chart swapped", [desired("a")], [observed("a", chart="other")], {},
         [("a", ActionKind.UPGRADE, "chart changed other → agent")]),
        ("removed from git", [], [observed("a")], {}, [("a", ActionKind.UNINSTALL, "owned release no longer in Git")]),
        ("unowned release untouched", [], [observed("a", owner=None)], {}, []),
        ("unowned clash is conflict", [desired("a")], [observed("a", owner=None)], {},
         [("a", ActionKind.CONFLICT, "managed by something other than extctl")]),
        ("release of a removed extension", [desired("a")], [observed("a", owner="b")], {},
         [("a", ActionKind.CONFLICT, "managed by extension 'b'"), ("b", ActionKind.UNINSTALL, "no longer in Git")]),
        ("other instance's release is never pruned", [], [observed("a", instance="team-b")], {}, []),
        ("other instance's release is a conflict", [desired("a")], [observed("a", instance="team-b")], {},
         [("a", ActionKind.CONFLICT, "managed by extctl instance 'team-b'")]),
        ("suspended never uninstalled", [], [observed("a")], {"a": Hold(HoldKind.SUSPENDED, "suspended")},
         [("a", ActionKind.SKIP, "suspended")]),
        ("pending secret keeps release", [], [observed("a")], {"a": Hold(HoldKind.PENDING, "pending: Secret x")},
         [("a", ActionKind.BLOCKED, "pending: Secret x")]),
        ("dependsOn added", [desired("a", depends_on=("b",))], [observed("a")], {},
         [("a", ActionKind.UPGRADE, "dependsOn changed none → b")]),
        ("dependsOn unchanged", [desired("a", depends_on=("b",))], [observed("a", depends_on="b")], {},
         [("a", ActionKind.NOOP, "up to date")]),
        ("locked release skipped", [desired("a", version="1.2.0")], [observed("a", status="pending-upgrade")], {},
         [("a", ActionKind.SKIP, "locked in status pending-upgrade")]),
        ("moved namespace", [desired("a", ns="new")], [observed("a", ns="old")], {},
         [("a", ActionKind.INSTALL, "not installed"), ("a", ActionKind.UNINSTALL, "moved to namespace new")]),
    ],
)
def test_plan_table(case: str, desired_set: list[DesiredRelease], observed_set: list[ObservedRelease],
                    holds: dict[str, Hold], expected: list[tuple[str, ActionKind, str]]) -> None:
    result = plan(desired_set, observed_set, holds)
    got = [(a.extension, a.kind) for a in result.actions]
    assert got == [(name, kind) for name, kind, _ in expected], case
    for action, (_, _, reason) in zip(result.actions, expected, strict=True):
        assert reason in action.reason, (case, action.reason)


def test_dependencies_first_ties_by_name_and_waits() -> None:
    result = plan([desired("web", depends_on=("db", "cache")), desired("db"), desired("cache"), desired("zeta")], [])
    assert [a.extension for a in result.actions] == ["cache", "db", "web", "zeta"]
    assert result.by_key()["web"].waits_for == ("cache", "db")
    assert result.by_key()["db"].waits_for == ()


def test_uninstalls_run_in_reverse_dependency_order() -> None:
    result = plan([], [observed("db"), observed("web", depends_on="db"), observed("api", depends_on="db_web")])
    assert [a.extension for a in result.actions] == ["api", "web", "db"]
    db = next(a for a in result.actions if a.extension == "db")
    assert set(db.waits_for) == {"uninstall:ns/api", "uninstall:ns/web"}


def test_plan_is_deterministic() -> None:
    items = [desired(n) for n in ("c", "a", "b")]
    assert plan(items, []).actions == plan(list(reversed(items)), []).actions
