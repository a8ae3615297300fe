"""The executor: performs one planned action with helm. It decides nothing and records nothing.

Owns: the helm calls each action kind stands for (install: namespace then ``helm install``; upgrade
and downgrade: ``helm upgrade``; reinstall: uninstall then install; unlock: rollback to the planned
revision, or uninstall; uninstall), and, after a failed install/upgrade, performing the remediation
step that ``release_state.remediation_for`` chooses from the release's history. Returns an
``ActionResult`` (outcome, typed error reason, transient or permanent). Must not: choose an action,
skip one, retry, write status or log (``controller.status`` writes the lines from the result).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

from controller.errors import ExtctlError, HelmError, InternalError
from controller.helm import HelmClient, ReleaseRequest
from controller.models.manifests import Remediation
from controller.models.plan import ActionKind, PlannedAction
from controller.models.release_state import APPLIES_DESIRED, RemediationStep, remediation_for
from controller.models.status import ActionResult, Outcome


class NamespaceBackend(Protocol):
    def ensure_namespace(self, name: str) -> bool: ...


def _ms(start: float) -> int:
    return int((time.monotonic() - start) * 1000)


class Executor:
    def __init__(self, helm: HelmClient, namespaces: NamespaceBackend) -> None:
        self.helm = helm
        self.namespaces = namespaces
        self.in_flight: set[tuple[str, str]] = set()

    async def execute(self, action: PlannedAction, request: Callable[[], ReleaseRequest] | None,
                      policy: Remediation) -> ActionResult:
        """``request`` builds the release request for actions that install or upgrade."""
        started = time.monotonic()
        key = (action.namespace, action.release)
        self.in_flight.add(key)
        try:
            await self._perform(action, request)
        except ExtctlError as exc:
            result = ActionResult(action, Outcome.FAILED, error=str(exc), error_reason=exc.reason,
                                  transient=exc.transient)
            if action.kind in APPLIES_DESIRED:
                result = await self._remediate(result, policy)
            return replace(result, duration_ms=_ms(started))
        finally:
            self.in_flight.discard(key)
        return ActionResult(action, Outcome.SUCCEEDED, _ms(started))

    async def _perform(self, action: PlannedAction, request: Callable[[], ReleaseRequest] | None) -> None:
        kind = action.kind
        if kind is ActionKind.UNINSTALL or (kind is ActionKind.UNLOCK and action.unlock_to is None):
            await self.helm.uninstall(action.release, action.namespace)
            return
        if kind is ActionKind.UNLOCK:
            await self.helm.rollback(action.release, action.namespace, action.unlock_to)
            return
        if request is None:
            raise InternalError(f"{kind.value} {action.extension}: no release request")
        built = request()
        if kind is ActionKind.REINSTALL:
            await self.helm.uninstall(action.release, action.namespace)
        if kind in {ActionKind.INSTALL, ActionKind.REINSTALL}:
            await asyncio.to_thread(self.namespaces.ensure_namespace, action.namespace)
            await self.helm.install(built)
        else:
            await self.helm.upgrade(built)

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
