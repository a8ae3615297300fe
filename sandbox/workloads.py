"""What a kubelet and the workload controllers would do, for the sandbox: workloads become ready (or not).

The emulator stores objects and nothing acts on them, so without this a Deployment never reports a ready
replica and ``helm --wait=watcher`` (kstatus) waits for ever. This simulator watches Deployments,
StatefulSets, DaemonSets and Jobs in every namespace through the API (``?watch=true``, like a controller)
and, ``delay`` seconds (``--ready-delay``, env ``SANDBOX_READY_DELAY_S``, default 0.2) after a workload was
created or its spec changed, writes the status the real controllers write once every pod runs, through the
``status`` subresource: ``observedGeneration``, replicas ready/available/updated and the ``Available`` and
``Progressing`` conditions; a Job completes (``succeeded`` and a ``Complete`` condition).

A workload is **broken**, and never becomes ready, when any container's image has the tag ``crashloop``
(``registry.invalid/app:crashloop``), or when the workload or its pod template carries the annotation
``sandbox.extctl.dev/broken: "<reason>"``. Its status then says what a crash-looping pod leaves behind:
0 ready and available replicas and ``Available=False`` (``MinimumReplicasUnavailable``), the reason in the
condition's message; a broken Job fails (``Failed``, ``BackoffLimitExceeded``).

Owns: the status rules above. Must not: write anything but status, or be imported by ``controller/``.
Run on its own with ``python -m sandbox.workloads --server http://127.0.0.1:PORT``; ``sandbox.server``
starts it next to the emulator.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import os
from collections.abc import Mapping
from typing import Any

import aiohttp

BROKEN_ANNOTATION = "sandbox.extctl.dev/broken"
BROKEN_TAG = "crashloop"
DEFAULT_DELAY_S = float(os.environ.get("SANDBOX_READY_DELAY_S", "0.2"))
WORKLOADS = {"Deployment": "/apis/apps/v1/deployments", "StatefulSet": "/apis/apps/v1/statefulsets",
             "DaemonSet": "/apis/apps/v1/daemonsets", "Job": "/apis/batch/v1/jobs"}
_TIMES = ("lastTransitionTime", "lastUpdateTime", "lastProbeTime", "startTime", "completionTime")
RECONNECT_S = 0.2  # pause before re-opening a watch the server closed (bounded: the loop runs until stopped)


def _now() -> str:
    return datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def broken_reason(obj: Mapping[str, Any]) -> str | None:
    """Why ``obj`` never becomes ready (annotation or a ``:crashloop`` image), or None for a healthy one."""
    template = (obj.get("spec") or {}).get("template") or {}
    for meta in (obj.get("metadata") or {}, template.get("metadata") or {}):
        reason = (meta.get("annotations") or {}).get(BROKEN_ANNOTATION)
        if reason:
            return str(reason)
    pod = template.get("spec") or {}
    for container in [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]:
        image = str(container.get("image", ""))
        if image.rsplit("/", 1)[-1].partition(":")[2] == BROKEN_TAG:
            return f"container {container.get('name')}: back-off restarting failed container (image {image})"
    return None


def _condition(kind: str, status: bool, reason: str, message: str) -> dict[str, str]:
    now = _now()
    return {"type": kind, "status": "True" if status else "False", "reason": reason, "message": message,
            "lastTransitionTime": now, "lastUpdateTime": now}


def desired_status(kind: str, obj: Mapping[str, Any]) -> dict[str, Any]:
    """The status the controllers would report for ``obj`` once its pods run (or crash-loop)."""
    meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
    name, generation = meta.get("name", ""), int(meta.get("generation", 1))
    broken = broken_reason(obj)
    if kind == "Job":
        if broken:
            limit = int(spec.get("backoffLimit", 6))
            return {"startTime": _now(), "active": 0, "failed": limit + 1, "conditions": [
                _condition("Failed", True, "BackoffLimitExceeded", f"Job has reached the specified backoff limit: "
                                                                   f"{broken}")]}
        completions = int(spec.get("completions", 1) or 1)
        return {"startTime": _now(), "completionTime": _now(), "active": 0, "succeeded": completions,
                "conditions": [_condition("SuccessCriteriaMet", True, "CompletionsReached", "Reached expected "
                                          "number of succeeded pods"),
                               _condition("Complete", True, "CompletionsReached", "Reached expected number of "
                                          "succeeded pods")]}
    wanted = 1 if kind == "DaemonSet" else int(spec.get("replicas", 1))
    ready = 0 if broken else wanted
    if kind == "DaemonSet":
        status: dict[str, Any] = {"desiredNumberScheduled": wanted, "currentNumberScheduled": wanted,
                                  "updatedNumberScheduled": wanted, "numberReady": ready, "numberAvailable": ready}
        status["numberUnavailable"] = wanted if broken else None  # None: removed by the merge patch
    else:
        status = {"replicas": wanted, "updatedReplicas": wanted, "readyReplicas": ready, "availableReplicas": ready}
    status["observedGeneration"] = generation
    if kind == "StatefulSet":
        revision = f"{name}-{generation}"
        status.update(currentReplicas=wanted, currentRevision=revision, updateRevision=revision)
    if kind == "Deployment":
        status["unavailableReplicas"] = wanted if broken else None
        if broken:
            status["conditions"] = [
                _condition("Available", False, "MinimumReplicasUnavailable",
                           f"Deployment does not have minimum availability: {broken}"),
                _condition("Progressing", True, "ReplicaSetUpdated", f'ReplicaSet "{name}" is progressing.')]
        else:
            status["conditions"] = [
                _condition("Available", True, "MinimumReplicasAvailable", "Deployment has minimum availability."),
                _condition("Progressing", True, "NewReplicaSetAvailable",
                           f'ReplicaSet "{name}" has successfully progressed.')]
    return status


def _timeless(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _timeless(v) for k, v in value.items() if k not in _TIMES}
    if isinstance(value, list):
        return [_timeless(v) for v in value]
    return value


def up_to_date(kind: str, obj: Mapping[str, Any]) -> bool:
    """Does ``obj`` already show the status this simulator would write (timestamps aside)?"""
    current = obj.get("status") or {}
    wanted = desired_status(kind, obj)
    return all(_timeless(current.get(key)) == _timeless(value) for key, value in wanted.items())


class WorkloadSimulator:
    """Watches the four workload kinds on ``server`` and writes their status after ``delay`` seconds."""

    def __init__(self, server: str, *, delay: float = DEFAULT_DELAY_S) -> None:
        self.server = server.rstrip("/")
        self.delay = delay
        self._pending: dict[tuple[str, str, str], asyncio.Task[None]] = {}

    async def run(self, stop: asyncio.Event) -> None:
        async with aiohttp.ClientSession() as session:
            watches = [asyncio.create_task(self._watch(session, kind, path)) for kind, path in WORKLOADS.items()]
            try:
                await stop.wait()
            finally:
                for task in [*watches, *self._pending.values()]:
                    task.cancel()
                await asyncio.gather(*watches, *self._pending.values(), return_exceptions=True)

    async def _watch(self, session: aiohttp.ClientSession, kind: str, path: str) -> None:
        """One watch per kind, re-opened whenever it ends; the emulator replays existing objects first."""
        while True:
            with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError, ValueError):
                async with session.get(f"{self.server}{path}", params={"watch": "true"},
                                       timeout=aiohttp.ClientTimeout(total=None, sock_read=None)) as response:
                    async for line in response.content:
                        if line.strip():
                            self._seen(kind, path, json.loads(line))
            await asyncio.sleep(RECONNECT_S)

    def _seen(self, kind: str, path: str, event: Mapping[str, Any]) -> None:
        obj = event.get("object") or {}
        meta = obj.get("metadata") or {}
        key = (kind, str(meta.get("namespace", "")), str(meta.get("name", "")))
        if event.get("type") == "DELETED" or meta.get("deletionTimestamp"):
            if key in self._pending:
                self._pending.pop(key).cancel()
            return
        if event.get("type") not in {"ADDED", "MODIFIED"} or up_to_date(kind, obj):
            return
        if key in self._pending:  # a newer spec supersedes the write still waiting for its delay
            self._pending.pop(key).cancel()
        self._pending[key] = asyncio.create_task(self._write_later(key, path))

    async def _write_later(self, key: tuple[str, str, str], path: str) -> None:
        kind, namespace, name = key
        try:
            await asyncio.sleep(self.delay)  # the simulated time for pods to start; not a synchronisation
            group_version, plural = path.rsplit("/", 1)
            url = f"{self.server}{group_version}/namespaces/{namespace}/{plural}/{name}"
            async with aiohttp.ClientSession() as session:
                async with session.get(url) as response:
                    if response.status != 200:
                        return
                    obj = await response.json()
                if up_to_date(kind, obj):
                    return
                body = {"status": desired_status(kind, obj)}
                async with session.patch(f"{url}/status", data=json.dumps(body),
                                         headers={"Content-Type": "application/merge-patch+json"}):
                    pass
        except aiohttp.ClientError:
            return  # the next event for this object tries again
        finally:
            if self._pending.get(key) is asyncio.current_task():
                del self._pending[key]


def main() -> None:
    parser = argparse.ArgumentParser(prog="sandbox.workloads")
    parser.add_argument("--server", required=True, help="the API server URL, e.g. http://127.0.0.1:8080")
    parser.add_argument("--ready-delay", type=float, default=DEFAULT_DELAY_S)
    args = parser.parse_args()
    asyncio.run(WorkloadSimulator(args.server, delay=args.ready_delay).run(asyncio.Event()))


if __name__ == "__main__":
    main()
