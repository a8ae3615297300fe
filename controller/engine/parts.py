"""What a pass is made of and what it returns: the engine's settings, its parts (the edges it uses) and
the result of one pass.

Owns: these typed containers and the two protocols the engine needs of its catalog and protected-settings
reader. Must not: do I/O or decide anything (they are data; the sequencer runs the pass).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from controller.apply import Executor
from controller.engine.fleet import ClusterScope
from controller.manifests.cache import ParseCache
from controller.models.desired_state import ProtectedInput
from controller.models.manifests import DriftMode, ManifestSet
from controller.models.plan import Plan
from controller.models.remediation import BACKOFF_BASE_S, DEFAULT_PENDING_TIMEOUT_S, DEFAULT_RETRIES, ExtensionState
from controller.models.status import ActionResult, Outcome, Summary
from controller.observe.drift import DriftChecker
from controller.observe.releases import NullObserver, ReleaseObserver
from controller.source import Source
from controller.state import NullStateStore, StateStore
from controller.status.publisher import NullStatusPublisher, StatusPublisher


@dataclass(frozen=True)
class ReconcileSettings:
    concurrency: int = 4
    offline: bool = False
    system_namespace: str = "extctl-system"
    instance: str = "default"
    remediation_retries: int = DEFAULT_RETRIES
    backoff_base_s: float = BACKOFF_BASE_S
    pending_timeout_s: float = DEFAULT_PENDING_TIMEOUT_S
    max_prune: float = 0.5
    allow_mass_prune: bool = False
    lock_timeout_s: float = 300.0  # a pending-* release older than this is stuck
    reset: tuple[str, ...] = ()
    drift_mode: DriftMode = DriftMode.WARN  # --drift-detection: for extensions that set no mode
    take_ownership: bool = False  # --take-ownership: adopt unowned releases of every extension


@dataclass(frozen=True)
class PassResult:
    """What one pass did. ``outcome``: applied, planned, rejected, source-error, cluster-error or internal-error."""

    reconcile_id: str
    revision: str | None
    outcome: str
    plan: Plan | None = None
    results: tuple[ActionResult, ...] = ()
    summary: Summary = field(default_factory=Summary)
    duration_ms: int = 0
    error: str | None = None
    reason: str | None = None
    manifest_errors: tuple[str, ...] = ()
    prune_refused: int = 0
    prune_reason: str = ""  # the prune guard's reason, said once (each refused action repeats it)
    notes: tuple[str, ...] = ()
    # For the status publisher: the revision's manifests and what the pass remembers for the next one.
    manifests: ManifestSet | None = field(default=None, repr=False, compare=False)
    remembered: Mapping[str, ExtensionState] = field(default_factory=dict, repr=False, compare=False)
    cluster_annotations: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        """Nothing failed, nothing is pending, and the prune guard refused nothing (a refused revision
        leaves the cluster behind Git until a human decides: ``reconcile --once`` exits 1)."""
        return self.outcome in {"applied", "planned"} and self.summary.ok and not self.prune_refused

    @property
    def changes(self) -> int:
        return len(self.plan.changes) if self.plan is not None else 0

    @property
    def follow_up(self) -> bool:
        """An unlock succeeded: the next pass (run at once) installs or upgrades the release again."""
        return any(r.action.kind.value == "unlock" and r.outcome is Outcome.SUCCEEDED for r in self.results)


class Catalog(Protocol):
    def lookup(self, repository: str, chart: str, *, repo_root: Path, manifest_root: Path | None = None) -> Any: ...


class Protected(Protocol):
    key_missing: bool

    async def read(self, extension: Any, namespace: str) -> ProtectedInput: ...


@dataclass
class EngineParts:
    """The edges a pass uses; offline and read-only commands get null implementations."""

    source: Source
    catalog: Catalog
    observer: ReleaseObserver | NullObserver
    store: StateStore | NullStateStore
    protected: Protected
    executor: Executor | None = None  # None: the pass can only plan
    drift: DriftChecker | None = None  # None: no drift checks (offline)
    helm_calls: Callable[[], int] = lambda: 0
    parse_cache: ParseCache = field(default_factory=lambda: ParseCache(None))
    status: StatusPublisher | NullStatusPublisher = field(default_factory=NullStatusPublisher)  # after each pass
    scope: ClusterScope = field(default_factory=ClusterScope)  # which cluster: identity and placement view
