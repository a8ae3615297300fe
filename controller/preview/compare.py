"""What preview compares between two revisions without rendering: protected settings as references,
``dependsOn`` edits, and base's releases as a controller would have deployed them.

Owns: these pure helpers of ``controller.preview.build``. Must not: read Secrets (protected values are
shown as ``***`` with a digest of their references), render charts or touch Git.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from controller.models.desired import DesiredRelease, canonical_json
from controller.models.desired_state import Notice, ProtectedInput
from controller.models.manifests import Extension, ManifestSet
from controller.models.observed import ObservedRelease

PROTECTED_PLACEHOLDER = "***"


def protected_input(extension: Extension) -> ProtectedInput | None:
    """``***`` at every protected target path, with a digest of the *references* (never values)."""
    refs = extension.spec.configuration_protected_settings
    if not refs:
        return None
    values = {ref.target_path or ref.key or ref.secret_name: PROTECTED_PLACEHOLDER for ref in refs}
    material = canonical_json([[r.secret_name, r.namespace, r.key, r.target_path] for r in refs])
    digests = {ref.target_path or ref.key or ref.secret_name: hashlib.sha256(canonical_json(
        [ref.secret_name, ref.namespace, ref.key]).encode()).hexdigest() for ref in refs}
    return ProtectedInput(values=values, hmac=hashlib.sha256(material.encode()).hexdigest(), digests=digests)


def protected_changes(before: Extension | None, after: Extension | None) -> list[str]:
    def refs(extension: Extension | None) -> dict[str, Any]:
        if extension is None:
            return {}
        return {(r.target_path or r.key or r.secret_name): r for r in extension.spec.configuration_protected_settings}

    a, b = refs(before), refs(after)
    return [f"{path} (protected)" for path in sorted(set(a) | set(b)) if a.get(path) != b.get(path)]


def dependency_notices(base: ManifestSet, head: ManifestSet) -> list[Notice]:
    """dependsOn edits change the order of actions, not the rendered manifests: say so beside the upgrade
    the planner schedules to record the new dependencies on the release."""
    notices = []
    for name, extension in head.extensions.items():
        before = set(base.extensions[name].spec.depends_on) if name in base.extensions else set()
        after = set(extension.spec.depends_on)
        if name in base.extensions and before != after:
            edits = [f"+{d}" for d in sorted(after - before)] + [f"-{d}" for d in sorted(before - after)]
            notices.append(Notice(name, "depends_on_changed", "dependsOn changed (" + ", ".join(edits) + "): "
                                  "the rendered manifests do not change; the release is upgraded only to "
                                  "record the new order of actions"))
    return notices


def deployed_from(releases: Sequence[DesiredRelease], revision: str, instance: str) -> list[ObservedRelease]:
    """Base's desired releases as if a controller had deployed them (same instance, same labels)."""
    return [ObservedRelease(name=d.release_name, namespace=d.namespace, revision=1, status="deployed",
                            chart_name=d.chart.name, chart_version=d.version, labels=d.labels(revision, instance),
                            setting_digests=d.setting_digests)
            for d in releases]
