"""Fleet compliance as a table: what Git wants on a cluster, what its Extension object reports, the finding."""

from __future__ import annotations

from typing import Any

import pytest

from controller.models.compliance import Finding, Wanted, assess, wanted_version
from controller.models.extension_object import LiveObject
from controller.models.manifests import ChartRef, Extension, ExtensionSpec, ExtensionType

SPEC = {"configurationSettings": {"logLevel": "warn"}, "releaseTrain": "stable", "autoUpgradeMinorVersion": True}
WANTED = Wanted("agent", "demo", SPEC, version="1.1.0")


def live(state: str = "Succeeded", installed: str | None = "1.1.0", *, ready_reason: str = "InstallSucceeded",
         stalled: bool = False, spec: dict[str, Any] | None = None, **status: Any) -> LiveObject:
    conditions = [{"type": "Ready", "status": "True" if state == "Succeeded" else "False", "reason": ready_reason,
                   "message": "m"},
                  {"type": "Stalled", "status": "True" if stalled else "False", "reason": "Idle", "message": ""}]
    data = {"provisioningState": state, "conditions": conditions, "message": "msg", **status}
    if installed is not None:
        data["installedVersion"] = installed
    return LiveObject("demo", "agent", spec=spec if spec is not None else dict(SPEC, version=None), status=data)


CASES = [
    # (wanted, live, finding, text)
    (WANTED, live(), Finding.OK, "ok 1.1.0"),
    (WANTED, None, Finding.MISSING, "missing"),
    (None, live(), Finding.UNWANTED, "unwanted 1.1.0"),
    (None, None, None, None),
    (WANTED, live("Failed", None, ready_reason="ValidationFailed", stalled=True), Finding.FAILED, "failed"),
    (WANTED, live("Failed", "1.0.0", ready_reason="UpgradeFailed"), Finding.FAILED, "failed"),
    (WANTED, live("Conflict", None, ready_reason="Conflict", stalled=True), Finding.FAILED, "failed"),
    (WANTED, live("Pending", None, ready_reason="SecretNotFound"), Finding.PENDING, "pending"),
    (WANTED, live("Updating", "1.0.0"), Finding.PENDING, "pending"),
    (WANTED, live("Succeeded", None), Finding.MISSING, "missing"),
    (WANTED, live(spec={**SPEC, "configurationSettings": {"logLevel": "info"}}), Finding.OUTDATED, "outdated 1.1.0"),
    (WANTED, live(spec={**SPEC, "releaseTrain": "preview"}), Finding.OUTDATED, "outdated 1.1.0"),
    (WANTED, live(installed="1.0.0"), Finding.BEHIND, "behind 1.0.0 → 1.1.0"),
    (Wanted("agent", "demo", SPEC), live(installed="1.0.0", targetVersion="1.1.0"), Finding.BEHIND,
     "behind 1.0.0 → 1.1.0"),  # versions unknown: the object's own target counts
    (WANTED, live(ready_reason="DriftDetected"), Finding.DRIFTED, "drifted 1.1.0"),
    (Wanted("agent", "demo", SPEC, "1.1.0", newer_major="2.0.0"), live(), Finding.OK, "ok 1.1.0 (2.0.0 available)"),
]


@pytest.mark.parametrize(("wanted", "have", "finding", "text"), CASES)
def test_assess(wanted: Wanted | None, have: LiveObject | None, finding: Finding | None, text: str | None) -> None:
    cell = assess(wanted, have)
    if finding is None:
        assert cell is None
        return
    assert cell is not None
    assert (cell.finding, cell.text) == (finding, text)
    assert cell.compliant is (finding is Finding.OK)


def test_only_the_fleet_fields_of_the_spec_are_compared() -> None:
    newer_mirror = {**SPEC, "version": None, "wait": True, "driftDetection": {"mode": "warn"}}
    cell = assess(WANTED, live(spec=newer_mirror))
    assert cell is not None and cell.finding is Finding.OK


TYPE = ExtensionType("demo.agent", ChartRef("charts", "demo-agent"))
AUTO = Extension("agent", ExtensionSpec("demo.agent"))
PINNED = Extension("agent", ExtensionSpec("demo.agent", auto_upgrade_minor_version=False, version="1.0.0"))
VERSIONS = ["1.0.0", "1.1.0", "2.0.0"]


@pytest.mark.parametrize(("extension", "versions", "installed", "expected"), [
    (AUTO, VERSIONS, None, ("2.0.0", None, None)),  # a first install takes the newest
    (AUTO, VERSIONS, "1.0.0", ("1.1.0", "2.0.0", None)),  # inside the installed major; the next major noticed
    (PINNED, VERSIONS, "1.1.0", ("1.0.0", "2.0.0", None)),
    (AUTO, None, "1.0.0", (None, None, "chart versions unknown (the chart repository could not be read)")),
])
def test_wanted_version_resolves_as_the_clusters_controller_would(
        extension: Extension, versions: list[str] | None, installed: str | None,
        expected: tuple[str | None, str | None, str | None]) -> None:
    assert wanted_version(extension, TYPE, versions, installed) == expected


def test_an_unresolvable_pin_is_a_problem_not_a_crash() -> None:
    missing = Extension("agent", ExtensionSpec("demo.agent", auto_upgrade_minor_version=False, version="9.9.9"))
    version, newer, problem = wanted_version(missing, TYPE, VERSIONS, None)
    assert (version, newer) == (None, None) and problem is not None and "9.9.9" in problem
