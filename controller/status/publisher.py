"""The status publisher: after each pass, the one writer of ``Extension`` objects, their status and their
Events, and the feed of the pass's facts to observers (the Prometheus metrics).

Owns: turning a pass result into one ``Extension`` object per extension in Git (``models.extension_object``
and ``models.extension_status`` decide what it holds), writing only what changed (server-side apply of the
object and of its status subresource), deleting objects whose extension left Git (after their release is
gone), one Event per action outcome or state change, scrubbing every string it writes of registered
secrets, and the CRD at start (applied or upgraded when allowed). Status is written only for an applied
pass (the engine hands ``plan`` and offline passes the ``NullStatusPublisher``).
Must not: fail or slow a pass because the API refused a write (a failure is logged once per operation
and reason, and the next pass tries again), talk to the API itself (its ``ExtensionBackend`` is
``controller.cluster``), or decide an action.
"""

from __future__ import annotations

import asyncio
import datetime
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from controller.errors import ClusterError
from controller.logs import get_logger, redact_text
from controller.models.extension_object import (
    DesiredObject,
    EventSpec,
    LiveObject,
    desired_object,
    event_for,
    plan_writes,
    stale_objects,
    written_under,
)
from controller.models.extension_status import (
    IN_SYNC_REASON,
    ExtensionStatus,
    StatusInput,
    build_status,
    verdict,
    with_generation,
)
from controller.models.manifests import ManifestSet
from controller.models.release_state import ReleaseState
from controller.models.remediation import ExtensionState
from controller.models.status import ActionResult, Outcome


class PassOutcome(Protocol):
    """What the publisher reads of the engine's ``PassResult``."""

    @property
    def outcome(self) -> str: ...
    @property
    def revision(self) -> str | None: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def duration_ms(self) -> int: ...
    @property
    def results(self) -> tuple[ActionResult, ...]: ...
    @property
    def manifests(self) -> ManifestSet | None: ...
    @property
    def remembered(self) -> Mapping[str, ExtensionState]: ...
    @property
    def cluster_annotations(self) -> Mapping[str, str]: ...  # which cluster of the fleet (docs/fleet.md)


class ExtensionBackend(Protocol):
    crd_digest: str  # of the CRD this extctl applies; written on each object (``written_under``)

    def ensure_extension_crd(self) -> None: ...
    def try_list_extensions(self, instance: str | None) -> list[dict[str, Any]] | None: ...
    def list_extensions(self, instance: str | None) -> list[dict[str, Any]]: ...
    def apply_extension(self, body: dict[str, Any]) -> dict[str, Any]: ...
    def apply_extension_status(self, namespace: str, name: str, status: dict[str, Any]) -> dict[str, Any]: ...
    def delete_extension(self, namespace: str, name: str) -> None: ...
    def ensure_namespace(self, name: str) -> bool: ...
    def record_event(self, event: EventSpec, *, object_uid: str, name: str, now: str) -> None: ...


WRITE_CONCURRENCY = 8  # extensions whose objects are written at once (each write is a thread: asyncio.to_thread)


@dataclass(frozen=True)
class ExtensionView:
    """One extension after a pass, for observers: where it is, what it is, and its status."""

    name: str
    namespace: str
    extension_type: str
    train: str
    status: ExtensionStatus


@dataclass(frozen=True)
class PassView:
    """What observers get after every pass (``extensions`` is empty unless the pass applied)."""

    outcome: str
    reason: str | None
    duration_s: float
    extensions: tuple[ExtensionView, ...]
    actions: tuple[tuple[str, str, str], ...]  # (action, outcome, typed reason) per action result


Observer = Callable[[PassView], None]


def rfc3339(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def scrub(value: Any) -> Any:
    """Every string with registered secret values replaced by ``***`` (keys are names, never values)."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value


class NullStatusPublisher:
    """``plan``, ``preview`` and offline passes: no object, no Event, no metric."""

    observers: list[Observer]

    def __init__(self) -> None:
        self.observers = []

    async def publish(self, result: PassOutcome) -> None:
        return None


class StatusPublisher:
    """Writes the ``Extension`` objects of one extctl instance; a failed write never fails the pass."""

    def __init__(self, backend: ExtensionBackend, *, instance: str, clock: Callable[[], float] = time.time,
                 observers: Sequence[Observer] = ()) -> None:
        self.backend = backend
        self.instance = instance
        self.clock = clock
        self.observers = list(observers)
        self._crd_ready = False
        self._reported: set[tuple[str, str]] = set()
        self._last: dict[tuple[str, str], ExtensionStatus] = {}  # when the objects cannot be read

    async def publish(self, result: PassOutcome) -> None:
        """Never raises (but CancelledError): every failure is logged and left to the next pass."""
        views: tuple[ExtensionView, ...] = ()
        actions: tuple[tuple[str, str, str], ...] = ()
        try:
            if result.outcome == "applied" and result.manifests is not None and result.revision is not None:
                views, actions = await self._publish(result, result.manifests, result.revision)
        except Exception as exc:  # noqa: BLE001 - status is a report: a bug here must not stop the controller
            get_logger().error("status.internal_error", error=f"{type(exc).__name__}: {exc}", reason="InternalError")
        view = PassView(result.outcome, result.reason, result.duration_ms / 1000, views, actions)
        for observer in self.observers:
            try:
                observer(view)
            except Exception as exc:  # noqa: BLE001 - same: metrics are a report
                get_logger().error("metrics.internal_error", error=f"{type(exc).__name__}: {exc}",
                                   reason="InternalError")

    async def _publish(self, result: PassOutcome, manifests: ManifestSet, revision: str,
                       ) -> tuple[tuple[ExtensionView, ...], tuple[tuple[str, str, str], ...]]:
        now = rfc3339(self.clock())
        live = await self._live()
        writable = live is not None
        live_by_key = {o.key: o for o in live or ()}
        views: list[ExtensionView] = []
        actions: list[tuple[str, str, str]] = []
        wanted: list[tuple[str, str]] = []
        removing: list[tuple[str, str]] = []
        writes: list[tuple[int, tuple[Any, ...]]] = []  # (index in views, _write's arguments)
        for item in result.results:
            action = item.action
            remembered = result.remembered.get(action.extension, ExtensionState())
            extension = None if action.removal else manifests.extensions.get(action.extension)
            key: tuple[str, str] | None = None
            if action.removal:
                key = (action.namespace, action.extension)
            elif extension is not None:
                key = (manifests.namespace_of(extension) or "default", action.extension)
            current = live_by_key.get(key) if key is not None else None
            previous = (ExtensionStatus.from_json(current.status) if current is not None
                        else self._last.get(key) if key is not None and not writable else None)
            actions.append((action.kind.value, item.outcome.value, _reason(item, remembered, previous)))
            if key is None:
                continue
            if action.removal:
                if current is not None and current.instance == self.instance:
                    removing.append(key)
                    if writable:
                        await self._removal(item, current, previous, now)
                continue
            assert extension is not None  # noqa: S101 - key is set only for an extension in Git
            if current is not None and current.instance != self.instance:
                self._report("object.foreign", ClusterError(
                    f"Extension {key[0]}/{key[1]} belongs to extctl instance {current.instance!r}; not written",
                    reason="Conflict"))
                continue
            wanted.append(key)
            desired = desired_object(extension, manifests, instance=self.instance, revision=revision, live=current,
                                     crd_digest=self.backend.crd_digest)
            desired = replace(desired, spec=scrub(desired.spec),
                              annotations={**desired.annotations, **result.cluster_annotations})
            status = build_status(StatusInput(item, revision, self.instance, now,
                                              current.generation if current else 0, remembered, previous))
            status = ExtensionStatus.from_json(scrub(status.to_json())) or status
            if writable:
                writes.append((len(views), (desired, status, current, previous, item)))
            self._last[key] = status
            views.append(ExtensionView(action.extension, key[0], extension.spec.extension_type,
                                       extension.spec.release_train, status))
        for index, written in await self._concurrently(writes):
            views[index] = replace(views[index], status=written)
            self._last[(views[index].namespace, views[index].name)] = written
        if writable:
            for stale in stale_objects(live or (), wanted, self.instance, keep=removing):
                await self._guarded("delete", self.backend.delete_extension, stale.namespace, stale.name)
        self._last = {k: v for k, v in self._last.items() if k in set(wanted)}
        return tuple(views), tuple(actions)

    async def _concurrently(self, writes: list[tuple[int, tuple[Any, ...]]]) -> list[tuple[int, ExtensionStatus]]:
        """Each extension's writes (object, status, Event) in order, ``WRITE_CONCURRENCY`` extensions at once:
        one after the other they cost a round trip each, 4000 after 1000 installs (bench/README.md, P2)."""
        semaphore = asyncio.Semaphore(WRITE_CONCURRENCY)

        async def bounded(index: int, arguments: tuple[Any, ...]) -> tuple[int, ExtensionStatus]:
            async with semaphore:
                return index, await self._write(*arguments)

        return list(await asyncio.gather(*(bounded(index, arguments) for index, arguments in writes)))

    async def _live(self) -> list[LiveObject] | None:
        """The instance's objects, or None when the API cannot serve them (no CRD, no rights, unreachable)."""
        if not self._crd_ready:  # a fresh process: objects written under this CRD prove it is installed
            found = await self._guarded("list", self.backend.try_list_extensions, self.instance)
            live = [LiveObject.from_json(o) for o in found] if found is not _FAILED and found is not None else None
            if live is not None and written_under(live, self.backend.crd_digest):
                self._crd_ready = True
                return live
            self._crd_ready = await self._guarded("crd", self.backend.ensure_extension_crd) is not _FAILED
            if live is not None:  # the resource was served: re-applying its CRD changes no object
                return live
        found = await self._guarded("list", self.backend.list_extensions, self.instance)
        if found is _FAILED:
            return None
        return [LiveObject.from_json(o) for o in found]

    async def _write(self, desired: DesiredObject, status: ExtensionStatus, current: LiveObject | None,
                     previous: ExtensionStatus | None, item: ActionResult) -> ExtensionStatus:
        writes = plan_writes(desired, status, current)
        uid, generation = (current.uid, current.generation) if current is not None else ("", 0)
        if writes.apply_object:
            if current is None:
                await self._guarded("namespace", self.backend.ensure_namespace, desired.namespace)
            applied = await self._guarded("apply", self.backend.apply_extension, desired.body())
            if applied is _FAILED:
                return status
            meta = applied.get("metadata") or {}
            uid, generation = str(meta.get("uid") or ""), int(meta.get("generation") or 0)
            status = with_generation(status, generation)
            writes = plan_writes(desired, status, LiveObject.from_json(applied))
        if writes.apply_status:
            await self._guarded("status", self.backend.apply_extension_status, desired.namespace, desired.name,
                                status.to_json())
        event = event_for(desired.namespace, desired.name, item, previous, status)
        if event is not None and uid:
            await self._event(event, uid, rfc3339(self.clock()))
        return status

    async def _removal(self, item: ActionResult, current: LiveObject, previous: ExtensionStatus | None,
                       now: str) -> None:
        """An owned release whose extension left Git: the object reports Deleting until it is gone."""
        status = build_status(StatusInput(item, "", self.instance, now, current.generation,
                                          ExtensionState(), previous))
        status = ExtensionStatus.from_json(scrub(status.to_json())) or status
        event = event_for(current.namespace, current.name, item, previous, status)
        if event is not None:
            await self._event(event, current.uid, now)
        if item.outcome is Outcome.SUCCEEDED:
            await self._guarded("delete", self.backend.delete_extension, current.namespace, current.name)
        elif previous is None or previous.to_json() != status.to_json():
            await self._guarded("status", self.backend.apply_extension_status, current.namespace, current.name,
                                status.to_json())

    async def _event(self, event: EventSpec, uid: str, now: str) -> None:
        event = replace(event, message=redact_text(event.message))
        await self._guarded("event", lambda: self.backend.record_event(
            event, object_uid=uid, name=event.event_name(uid), now=now))

    async def _guarded(self, what: str, call: Callable[..., Any], *args: Any) -> Any:
        try:
            return await asyncio.to_thread(call, *args)
        except ClusterError as exc:
            self._report(what, exc)
            return _FAILED

    def _report(self, what: str, exc: ClusterError) -> None:
        """Once per operation and reason: a cluster without the CRD or the rights says so once, not per pass."""
        if (what, exc.reason) in self._reported:
            return
        self._reported.add((what, exc.reason))
        get_logger().warning("status.write_failed", operation=what, error=str(exc), reason=exc.reason,
                             note="extctl goes on without this status (reported once); docs/observability.md "
                                  "lists the RBAC it needs")


_FAILED: Any = object()


def _reason(item: ActionResult, remembered: ExtensionState, previous: ExtensionStatus | None) -> str:
    """The typed reason of an action result, as ``extctl_actions_total`` names it."""
    if item.outcome is Outcome.FAILED:
        return item.error_reason or "Failed"
    if item.action.state is ReleaseState.IN_SYNC:
        return IN_SYNC_REASON
    return verdict(item, remembered, previous).reason
