"""Fleet compliance: what Git wants on a cluster against what the cluster's ``Extension`` objects report.

Owns: ``Wanted`` (one extension as a cluster's view has it: namespace, the fields a fleet cares about, the
version the train resolves to from the installed one), the findings and their order of precedence, and
``assess`` (one extension on one cluster → one ``Cell``):

* ``unwanted``: the cluster has an object of an extension Git does not place there (its controller
  uninstalls it on its next pass, or has not run since);
* ``missing``: Git wants it, and there is no object, or nothing is installed and nothing is under way;
* ``failed``: provisioning state ``Failed``/``Conflict`` or ``Stalled`` (retries exhausted, conflict …);
* ``pending``: nothing installed yet, or an operation under way (``Pending``/``Creating``/``Updating``/
  ``Deleting``);
* ``outdated``: the object mirrors another spec than Git's for this cluster (settings, train, pin or
  auto-upgrade not applied yet);
* ``behind``: the installed version is not the version the train resolves to for this cluster;
* ``drifted``: ``Ready`` with reason ``DriftDetected`` (``driftDetection: warn`` reported drift);
* ``ok``.

A newer major is a notice on the cell, not a finding: majors are never upgraded automatically, so
staying on one is what Git asks for. Must not: do I/O, read the clock, or resolve versions itself
(``wanted_version`` calls ``models.resolution``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from controller.errors import ResolutionError
from controller.models.extension_object import LiveObject
from controller.models.extension_status import ExtensionStatus
from controller.models.manifests import Extension, ExtensionType
from controller.models.resolution import resolve_version

FLEET_SPEC_FIELDS = ("configurationSettings", "releaseTrain", "version", "autoUpgradeMinorVersion")
IN_PROGRESS = frozenset({"Pending", "Creating", "Updating", "Deleting"})


class Finding(StrEnum):
    OK = "ok"
    UNWANTED = "unwanted"
    MISSING = "missing"
    FAILED = "failed"
    PENDING = "pending"
    OUTDATED = "outdated"
    BEHIND = "behind"
    DRIFTED = "drifted"


@dataclass(frozen=True)
class Wanted:
    """One extension as Git wants it on one cluster. ``version``: the resolved target (None: unknown, e.g.
    the chart repository could not be read); ``problem``: why it is unknown."""

    extension: str
    namespace: str
    spec: Mapping[str, Any]
    version: str | None = None
    newer_major: str | None = None
    problem: str | None = None


@dataclass(frozen=True)
class Cell:
    finding: Finding
    detail: str
    installed: str | None = None
    wanted: str | None = None
    notice: str | None = None

    @property
    def compliant(self) -> bool:
        return self.finding is Finding.OK

    @property
    def text(self) -> str:
        """Short form for a matrix cell: ``ok 1.1.0``, ``behind 1.0.0 → 1.1.0``, ``missing`` …"""
        if self.finding is Finding.BEHIND:
            base = f"behind {self.installed} → {self.wanted}"
        elif self.installed and self.finding in {Finding.OK, Finding.DRIFTED, Finding.OUTDATED, Finding.UNWANTED}:
            base = f"{self.finding.value} {self.installed}"
        else:
            base = self.finding.value
        return base + (f" ({self.notice})" if self.notice else "")


def fleet_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a spec mirror a fleet compares (others may differ between extctl versions)."""
    return {key: spec.get(key) for key in FLEET_SPEC_FIELDS}


def wanted_version(extension: Extension, extension_type: ExtensionType, versions: Sequence[str] | None,
                   installed: str | None) -> tuple[str | None, str | None, str | None]:
    """(target, newer major, problem) as the cluster's controller would resolve them from ``installed``."""
    if versions is None:
        return None, None, "chart versions unknown (the chart repository could not be read)"
    spec = extension.spec
    train = extension_type.find_train(spec.release_train) or extension_type.release_trains[0]
    try:
        found = resolve_version(versions, train, pinned_version=spec.version,
                                auto_upgrade_minor_version=spec.auto_upgrade_minor_version,
                                major_version=spec.major_version, installed_version=installed)
    except ResolutionError as exc:
        return None, None, str(exc)
    return found.version, found.newer_major_available, None


def assess(wanted: Wanted | None, live: LiveObject | None) -> Cell | None:
    """One extension on one cluster; None when Git does not want it there and the cluster has no object."""
    status = ExtensionStatus.from_json(live.status) if live is not None else None
    installed = status.installed_version if status is not None else None
    if wanted is None:
        if live is None:
            return None
        return Cell(Finding.UNWANTED, "the cluster has it, Git does not place it there (removed on its "
                    "controller's next pass)", installed)
    if live is None or status is None:
        return Cell(Finding.MISSING, "no Extension object: not installed, or not reconciled since it was placed "
                    "here", wanted=wanted.version)
    notice = f"{wanted.newer_major or status.newer_major_available} available" \
        if (wanted.newer_major or status.newer_major_available) else None
    ready = status.condition("Ready")
    state = status.provisioning_state
    if state in {"Failed", "Conflict"} or status.stalled:
        reason = ready.reason if ready is not None else state
        return Cell(Finding.FAILED, f"{state} ({reason}): {status.message}", installed, wanted.version, notice)
    if installed is None:
        if state in IN_PROGRESS:
            return Cell(Finding.PENDING, f"{state}: {status.message}", None, wanted.version, notice)
        return Cell(Finding.MISSING, f"nothing installed ({state}): {status.message}", None, wanted.version, notice)
    if state in IN_PROGRESS:
        return Cell(Finding.PENDING, f"{state}: {status.message}", installed, wanted.version, notice)
    if fleet_spec(live.spec) != fleet_spec(wanted.spec):
        changed = [k for k in FLEET_SPEC_FIELDS if live.spec.get(k) != wanted.spec.get(k)]
        return Cell(Finding.OUTDATED, "the cluster has not applied Git's " + ", ".join(changed) + " yet",
                    installed, wanted.version, notice)
    target = wanted.version or status.target_version
    if target is not None and installed != target:
        return Cell(Finding.BEHIND, f"installed {installed}, Git resolves {target}", installed, target, notice)
    if ready is not None and ready.reason == "DriftDetected":
        return Cell(Finding.DRIFTED, ready.message or "drift detected", installed, target, notice)
    return Cell(Finding.OK, "in sync" + (f"; {wanted.problem}" if wanted.problem else ""), installed, target, notice)
