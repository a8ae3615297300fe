"""What a preview found, as plain data: the input of every report format.

Owns: ``PreviewResult`` (both revisions, the changed extensions with their rendered diffs, the
other actions, validation and other errors, stats) and its exit code (0 nothing changes, 2 changes,
1 an error: invalid manifests, an extension that cannot be resolved or rendered, a conflict).
Must not: do I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from controller.errors import ValidationIssue
from controller.models.desired_state import Notice
from controller.preview.render import ResourceDiff

EXIT_NO_CHANGES = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
ERROR_ACTIONS = frozenset({"fail"})  # a conflict, a blocked extension, exhausted retries …


@dataclass(frozen=True)
class ExtensionChange:
    """One extension whose action changes the cluster (install, upgrade or uninstall)."""

    extension: str
    namespace: str
    release: str
    action: str
    from_version: str | None
    to_version: str | None
    reasons: tuple[str, ...]
    chart: str = ""
    settings_changed: tuple[str, ...] = ()
    waits_for: tuple[str, ...] = ()
    resources: tuple[ResourceDiff, ...] = ()
    unchanged_resources: int = 0
    rendered: bool = False
    notes: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class OtherAction:
    """An extension that changes nothing (noop), waits (skip) or cannot be acted on (fail: a conflict, a block …)."""

    extension: str
    namespace: str
    action: str
    version: str | None
    reasons: tuple[str, ...]
    drift: tuple[str, ...] = ()  # --cluster: what drifted from the release (driftDetection warn: reported only)


@dataclass(frozen=True)
class PreviewResult:
    source: str
    path: str | None
    base_ref: str
    head_ref: str
    compare: str = "base"  # "base" or "cluster"
    cluster: str | None = None  # the fleet cluster both sides are seen as (preview --cluster), e.g. "east (env=prod)"
    base_revision: str | None = None
    head_revision: str | None = None
    changes: tuple[ExtensionChange, ...] = ()
    others: tuple[OtherAction, ...] = ()
    validation_errors: tuple[ValidationIssue, ...] = ()
    base_validation_errors: tuple[ValidationIssue, ...] = ()
    errors: tuple[str, ...] = ()
    notices: tuple[Notice, ...] = ()
    stats: dict[str, int] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return bool(self.errors or self.validation_errors or self.base_validation_errors
                    or any(c.errors for c in self.changes) or any(o.action in ERROR_ACTIONS for o in self.others))

    @property
    def exit_code(self) -> int:
        if self.failed:
            return EXIT_ERROR
        return EXIT_CHANGES if self.changes else EXIT_NO_CHANGES
