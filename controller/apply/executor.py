"""The executor: performs one planned action with helm. It decides nothing and records nothing.

Owns: the helm calls each action kind stands for (install: namespace then ``helm install``; upgrade
and downgrade: ``helm upgrade``, with ``--take-ownership`` when it adopts an unowned release; reinstall:
uninstall then install; unlock: rollback to the planned revision, or uninstall; uninstall), how an
install or upgrade runs (readiness ``--wait`` and ``--timeout`` from the spec or the controller, the
revision label that makes out-of-band revisions visible), saying what a drift correction restored, and,
after a failed install/upgrade (not ready in time included), performing the remediation
step that ``release_state.remediation_for`` chooses from the release's history. Returns an
``ActionResult`` (outcome, typed error reason, transient or permanent; for a succeeded install or upgrade
the facts of the revision it made, which the engine hands to the observer). Must not: choose an action,
skip one, retry, write status or log (``controller.status`` writes the lines from the result).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Protocol

from controller.errors import ExtctlError, HelmError, InternalError
from controller.helm import HelmClient, ReleaseRequest
from controller.models.desired import LABEL_HELM_REVISION, recordable_settings
from controller.models.manifests import Remediation
from controller.models.plan import ActionKind, PlannedAction, ReleaseState
from controller.models.release_state import APPLIES_DESIRED, RemediationStep, remediation_for
from controller.models.status import ActionResult, AppliedRelease, Outcome


class NamespaceBackend(Protocol):
    def ensure_namespace(self, name: str) -> bool: ...


def _ms(start: float) -> int:
    return int((time.monotonic() - start) * 1000)


def expected_revision(action: PlannedAction) -> int:
    """The helm revision an install (1) or upgrade (the observed one + 1) creates: labelled on the release so a
    later revision extctl did not make shows as out-of-band drift (``models.drift.out_of_band``)."""
    if action.kind in {ActionKind.INSTALL, ActionKind.REINSTALL} or action.observed is None:
        return 1
    return action.observed.revision + 1


class Executor:
    def __init__(self, helm: HelmClient, namespaces: NamespaceBackend, *, wait: bool = True) -> None:
        self.helm = helm
        self.namespaces = namespaces
        self.wait = wait  # --wait: the default for extensions that do not set spec.wait
        self.in_flight: set[tuple[str, str]] = set()

    def release_request(self, action: PlannedAction, built: ReleaseRequest) -> ReleaseRequest:
        """``built`` with how this action applies it: readiness wait and timeout (spec, else the controller's),
        ``--take-ownership`` when it adopts an unowned release, and the revision label."""
        desired = action.desired
        wait = self.wait if desired is None or desired.wait is None else desired.wait
        return replace(built, wait=wait, timeout_s=desired.timeout_s if desired is not None else None,
                       take_ownership=action.state is ReleaseState.UNOWNED,
                       labels={**built.labels, LABEL_HELM_REVISION: str(expected_revision(action))})

    async def execute(self, action: PlannedAction, request: Callable[[], ReleaseRequest] | None,
                      policy: Remediation) -> ActionResult:
        """``request`` builds the release request for actions that install or upgrade."""
        started = time.monotonic()
        key = (action.namespace, action.release)
        self.in_flight.add(key)
        try:
            applied = await self._perform(action, request)
        except ExtctlError as exc:
            result = ActionResult(action, Outcome.FAILED, error=str(exc), error_reason=exc.reason,
                                  transient=exc.transient)
            if action.kind in APPLIES_DESIRED:
                result = await self._remediate(result, policy)
            return replace(result, duration_ms=_ms(started))
        finally:
            self.in_flight.discard(key)
        restored = f"restored what drifted: {'; '.join(action.drift)}" if action.drift else None
        return ActionResult(action, Outcome.SUCCEEDED, _ms(started), note=restored, applied=applied)

    async def _perform(self, action: PlannedAction,
                       request: Callable[[], ReleaseRequest] | None) -> AppliedRelease | None:
        kind = action.kind
        if kind is ActionKind.UNINSTALL or (kind is ActionKind.UNLOCK and action.unlock_to is None):
            await self.helm.uninstall(action.release, action.namespace)
            return None
        if kind is ActionKind.UNLOCK:
            await self.helm.rollback(action.release, action.namespace, action.unlock_to)
            return None
        if request is None:
            raise InternalError(f"{kind.value} {action.extension}: no release request")
        built = self.release_request(action, request())
        if kind is ActionKind.REINSTALL:
            await self.helm.uninstall(action.release, action.namespace)
        previous: Mapping[str, str] = {}
        if kind in {ActionKind.INSTALL, ActionKind.REINSTALL}:
            await asyncio.to_thread(self.namespaces.ensure_namespace, action.namespace)
            await self.helm.install(built)
        else:
            await self.helm.upgrade(built)
            previous = action.observed.labels if action.observed is not None else {}
        desired = action.desired
        if desired is None:
            return None
        # helm's upgrade merges the new labels into the previous revision's (a value "null" removes one).
        labels = {k: v for k, v in {**previous, **built.labels}.items() if v != "null"}
        return AppliedRelease(expected_revision(action), desired.chart.name, desired.version,
                              tuple(sorted(labels.items())), recordable_settings(desired.setting_digests))

    async def _remediate(self, result: ActionResult, policy: Remediation) -> ActionResult:
        action = result.action
        try:
            history = await self.helm.history(action.release, action.namespace)
            latest = max((int(h.get("revision", 0)) for h in history), default=None)
        except HelmError as exc:
            if exc.reason != "ReleaseNotFound":
                return replace(result, remediation_error=f"cannot read history: {exc}")
            latest = None
        deployed = action.observed.last_deployed_revision if action.observed is not None \
            and action.observed.status == "deployed" else None
        step = remediation_for(action.kind, install_strategy=policy.install_strategy,
                               upgrade_strategy=policy.upgrade_strategy, deployed_revision=deployed,
                               latest_revision=latest)
        if step is RemediationStep.NONE:
            # Say why nothing was done when a strategy asked for something: the failed action left
            # the release as it was (no new helm revision, or no release at all).
            installing = action.kind in {ActionKind.INSTALL, ActionKind.REINSTALL}
            wanted = policy.install_strategy == "uninstall" if installing else policy.upgrade_strategy == "rollback"
            return replace(result, remediation="nothing", remediation_revision=deployed) if wanted else result
        try:
            if step is RemediationStep.UNINSTALL:
                await self.helm.uninstall(action.release, action.namespace)
                return replace(result, remediation=step.value, note="remediation: failed install uninstalled")
            await self.helm.rollback(action.release, action.namespace, deployed)
            return replace(result, remediation=step.value, remediation_revision=deployed,
                           note=f"remediation: rolled back to revision {deployed}")
        except ExtctlError as exc:
            return replace(result, remediation=step.value, remediation_error=str(exc))
