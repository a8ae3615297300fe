"""The state store: failure records, pending timers, release facts and the last good revision.

Owns: the ConfigMap ``<system namespace>/extctl-state-<instance>`` (through ``controller.cluster``),
its JSON layout (``extensions``, ``releases``, ``last_good_revision``; a legacy layout of bare
extension records is read too), ``--reset NAME``, and writing only when something changed. Must not:
decide anything, or fail a pass because a write failed (it logs ``state.write_failed`` and goes on).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from controller.errors import ClusterError
from controller.logs import get_logger
from controller.models.remediation import ExtensionState
from controller.observe.releases import ReleaseFacts

LAYOUT_VERSION = 2


class StateBackend(Protocol):
    def read_state(self, namespace: str, name: str) -> dict[str, Any]: ...
    def write_state(self, namespace: str, name: str, state: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class Remembered:
    extensions: Mapping[str, ExtensionState] = field(default_factory=dict)
    releases: Mapping[str, ReleaseFacts] = field(default_factory=dict)
    last_good_revision: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "version": LAYOUT_VERSION,
            "extensions": {name: state.to_json() for name, state in sorted(self.extensions.items()) if not state.empty},
            "releases": {key: facts.to_json() for key, facts in sorted(self.releases.items())},
        }
        if self.last_good_revision is not None:
            data["last_good_revision"] = self.last_good_revision
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Remembered:
        """Tolerant: a malformed entry is dropped, never an error (the store is a cache of facts)."""
        # The first layout held bare {extension: record} entries; every later one has these keys.
        legacy = not {"version", "extensions", "releases"} & set(data)
        raw_extensions = data if legacy else data.get("extensions")
        extensions: dict[str, ExtensionState] = {}
        for name, record in (raw_extensions or {}).items() if isinstance(raw_extensions, Mapping) else ():
            if isinstance(record, Mapping) and not (state := ExtensionState.from_json(record)).empty:
                extensions[str(name)] = state
        raw_releases = {} if legacy else data.get("releases")
        releases = {str(key): facts for key, value in (raw_releases or {}).items()
                    if (facts := ReleaseFacts.from_json(value)) is not None} \
            if isinstance(raw_releases, Mapping) else {}
        last_good = data.get("last_good_revision")
        return cls(extensions, releases, last_good if isinstance(last_good, str) else None)


class StateStore:
    """Reads and writes the state ConfigMap of one extctl instance."""

    def __init__(self, cluster: StateBackend, *, namespace: str, instance: str, reset: tuple[str, ...] = ()) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.name = f"extctl-state-{instance}"
        self.reset = reset
        self._written: dict[str, Any] | None = None

    async def load(self) -> Remembered:
        """Raises ``ClusterError`` when the API cannot be read (the pass then touches nothing)."""
        raw = await asyncio.to_thread(self.cluster.read_state, self.namespace, self.name)
        self._written = raw
        remembered = Remembered.from_json(raw)
        if not self.reset:
            return remembered
        extensions = dict(remembered.extensions)
        for name in self.reset:
            if extensions.pop(name, None) is not None:
                get_logger().info("remediation.reset", extension=name, reason="failure count cleared by --reset")
        self.reset = ()  # once per process: a running controller must not reset on every pass
        return Remembered(extensions, remembered.releases, remembered.last_good_revision)

    async def save(self, remembered: Remembered) -> None:
        data = remembered.to_json()
        if data == self._written:
            return
        try:
            await asyncio.to_thread(self.cluster.write_state, self.namespace, self.name, data)
        except ClusterError as exc:
            get_logger().warning("state.write_failed", error=str(exc), reason=exc.reason)
            return
        self._written = data


class NullStateStore:
    """Offline, or read-only commands that must not write: loads what there is (or nothing), saves nothing."""

    def __init__(self, inner: StateStore | None = None) -> None:
        self.inner = inner

    async def load(self) -> Remembered:
        return await self.inner.load() if self.inner is not None else Remembered()

    async def save(self, remembered: Remembered) -> None:
        return None
