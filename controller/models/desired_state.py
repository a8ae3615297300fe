"""Desired state of a whole revision: every extension → a ``DesiredRelease`` or a ``Hold`` saying why not.

Owns: the per-extension decision chain shared by reconcile, plan and preview: suspended → hold;
chart repository unreadable → hold; version resolution (against the installed version) → hold on
error; protected settings missing → pending hold; else a desired release. Also the notices a user
should see (a newer major exists, tags that are not SemVer). Must not: read Secrets, fetch
catalogs, call helm or log; the caller hands in what those edges returned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from controller.errors import ResolutionError
from controller.models.desired import DesiredRelease, build_desired_release
from controller.models.manifests import ManifestSet
from controller.models.observed import ObservedRelease
from controller.models.plan import Hold, HoldKind
from controller.models.resolution import resolve_version


@dataclass(frozen=True)
class ProtectedInput:
    """What the edge found for one extension's protected settings: values (path → value) and their
    HMAC, or the ``hold`` that stops the extension (a missing Secret or key, an unreadable cluster)."""

    values: Mapping[str, Any] = field(default_factory=dict, repr=False)
    hmac: str | None = None
    digests: Mapping[str, str] = field(default_factory=dict)  # path → keyed digest of its value (never the value)
    hold: Hold | None = None


@dataclass(frozen=True)
class Notice:
    extension: str
    kind: str
    message: str


@dataclass(frozen=True)
class DesiredState:
    releases: tuple[DesiredRelease, ...]
    holds: Mapping[str, Hold]
    namespaces: Mapping[str, str]
    notices: tuple[Notice, ...] = ()


def installed_versions(
    manifests: ManifestSet, observed: Sequence[ObservedRelease], instance: str
) -> dict[str, str]:
    """Extension → chart version currently deployed for it by this instance (same namespace and chart).
    A failed release has no installed version: resolution treats it as a first install."""
    result: dict[str, str] = {}
    by_key = {o.key: o for o in observed}
    for name, extension in manifests.extensions.items():
        release = by_key.get((manifests.namespace_of(extension) or "default", name))
        chart = manifests.types[extension.spec.extension_type].chart.name \
            if extension.spec.extension_type in manifests.types else None
        if (release is not None and release.owned_by(instance) and release.extension == name
                and release.chart_name in (None, chart) and release.status != "failed"
                and release.chart_version is not None):
            result[name] = release.chart_version
    return result


def build_desired_state(
    manifests: ManifestSet,
    *,
    versions: Mapping[str, Sequence[str]],
    catalog_errors: Mapping[str, str] | None = None,
    installed: Mapping[str, str] | None = None,
    protected: Mapping[str, ProtectedInput] | None = None,
) -> DesiredState:
    """``versions`` and ``catalog_errors`` are keyed by ExtensionType name; ``installed`` and
    ``protected`` by extension name."""
    catalog_errors = catalog_errors or {}
    installed = installed or {}
    protected = protected or {}
    releases: list[DesiredRelease] = []
    holds: dict[str, Hold] = {}
    namespaces: dict[str, str] = {}
    notices: list[Notice] = []
    for name in sorted(manifests.extensions):
        extension = manifests.extensions[name]
        extension_type = manifests.type_of(extension)
        namespaces[name] = manifests.namespace_of(extension) or "default"
        if extension.spec.suspend:
            holds[name] = Hold(HoldKind.SUSPENDED, "suspended in Git: left exactly as it is")
            continue
        if extension_type.name in catalog_errors:
            holds[name] = Hold(HoldKind.ERROR, "chart repository unavailable, release left as it is: "
                               + catalog_errors[extension_type.name])
            continue
        train = extension_type.find_train(extension.spec.release_train) or extension_type.release_trains[0]
        try:
            resolution = resolve_version(
                versions.get(extension_type.name, ()), train,
                pinned_version=extension.spec.version,
                auto_upgrade_minor_version=extension.spec.auto_upgrade_minor_version,
                major_version=extension.spec.major_version,
                installed_version=installed.get(name),
            )
        except ResolutionError as exc:
            holds[name] = Hold(HoldKind.ERROR, f"version resolution failed: {exc}")
            continue
        secrets = protected.get(name, ProtectedInput())
        if secrets.hold is not None:
            holds[name] = secrets.hold
            continue
        releases.append(build_desired_release(extension, manifests, resolution,
                                              protected_values=secrets.values, protected_hmac=secrets.hmac,
                                              protected_digests=secrets.digests))
        if resolution.newer_major_available:
            notices.append(Notice(name, "newer_major_available",
                                  f"{resolution.newer_major_available} is available; majors are never upgraded "
                                  f"automatically (currently {resolution.version})"))
        if resolution.ignored_tags:
            notices.append(Notice(name, "ignored_tags", "not SemVer, ignored: " + ", ".join(resolution.ignored_tags)))
    return DesiredState(tuple(releases), holds, namespaces, tuple(notices))
