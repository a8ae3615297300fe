"""Tables for the prune guard (``controller.models.plan.guard_prune``): when a revision's uninstalls are refused."""

from __future__ import annotations

import pytest

from controller.models.plan import ActionKind, Hold, HoldKind, Plan, ReleaseState, guard_prune, plan
from tests.unit.test_plan import desired, observed


def _plan(kept: int, removed: int) -> Plan:
    names_kept = [f"keep{i}" for i in range(kept)]
    names_removed = [f"gone{i}" for i in range(removed)]
    return plan([desired(n) for n in names_kept], [observed(n) for n in names_kept + names_removed])


@pytest.mark.parametrize(
    ("case", "kept", "removed", "in_git", "max_fraction", "allowed", "refused", "reason_part"),
    [
        ("nothing removed", 3, 0, 3, 0.5, False, 0, ""),
        ("1 of 3 (33%) is fine", 2, 1, 2, 0.5, False, 0, ""),
        ("1 of 2 (50%) is not more than 50%", 1, 1, 1, 0.5, False, 0, ""),
        ("2 of 3 (67%) refused", 1, 2, 1, 0.5, False, 2, "would uninstall 2 of 3 managed releases (more than 50%)"),
        ("2 of 3 allowed by flag or file", 1, 2, 1, 0.5, True, 0, ""),
        ("stricter --max-prune 0.2", 4, 1, 4, 0.2, False, 0, ""),
        ("stricter --max-prune 0.1", 4, 1, 4, 0.1, False, 1, "more than 10%"),
        ("--max-prune 1 allows all but an empty revision", 0, 3, 1, 1.0, False, 0, ""),
        ("empty revision always refused", 0, 3, 0, 1.0, False, 3, "holds no extensions"),
        ("empty revision, single release", 0, 1, 0, 0.5, False, 1, "all 1 managed release(s)"),
        ("empty revision allowed explicitly", 0, 3, 0, 0.5, True, 0, ""),
    ],
)
def test_prune_guard_table(*, case: str, kept: int, removed: int, in_git: int, max_fraction: float, allowed: bool,
                           refused: int, reason_part: str) -> None:
    the_plan = _plan(kept, removed)
    decision = guard_prune(the_plan, managed_count=kept + removed, extensions_in_git=in_git,
                           max_fraction=max_fraction, allowed=allowed)
    assert len(decision.refused) == refused, case
    kinds = {a.extension: a.kind for a in decision.plan.actions}
    if refused:
        assert reason_part in decision.reason, (case, decision.reason)
        assert "--allow-mass-prune" in decision.reason and ".extctl/allow-mass-prune" in decision.reason
        assert decision.plan.count(ActionKind.UNINSTALL) == 0, "a refused revision uninstalls nothing"
        assert all(kinds[a.extension] is ActionKind.SKIP for a in decision.refused)
        assert {a.extension for a in decision.refused} == {f"gone{i}" for i in range(removed)}
        assert all(a.kind is ActionKind.UNINSTALL and a.state is ReleaseState.ORPHANED for a in decision.refused), \
            "refused lists the uninstalls as planned"
        guarded = [a for a in decision.plan.actions if a.removal]
        assert [(a.kind, a.state, a.changes_cluster) for a in guarded] == \
            [(ActionKind.SKIP, ReleaseState.PRUNE_REFUSED, False)] * removed
        assert all(decision.reason in a.reason for a in decision.plan.actions if a.extension.startswith("gone"))
    else:
        assert decision.plan == the_plan and decision.reason == "", case
    assert all(kinds[f"keep{i}"] is ActionKind.NOOP for i in range(kept)), "forward actions are never changed"


def test_guard_only_touches_orphaned_releases() -> None:
    """A held extension's release (suspended, pending, blocked) is never an uninstall, so never refused."""
    the_plan = plan([], [observed("held"), observed("gone")], {"held": Hold(HoldKind.SUSPENDED, "suspended")})
    decision = guard_prune(the_plan, managed_count=2, extensions_in_git=1, max_fraction=0.4, allowed=False)
    assert [a.extension for a in decision.refused] == ["gone"]
    kinds = {a.extension: (a.kind, a.state) for a in decision.plan.actions}
    assert kinds == {"held": (ActionKind.SKIP, ReleaseState.SUSPENDED),
                     "gone": (ActionKind.SKIP, ReleaseState.PRUNE_REFUSED)}
