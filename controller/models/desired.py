"""Desired state: one ``DesiredRelease`` per extension, built from manifests + resolutions + values.

Owns: the release labels extctl writes (ownership, extension, values digest, source revision,
dependencies), expanding Arc-style dotted settings keys and merging protected values into Helm values at
their ``targetPath`` (one key syntax for both: ``settings_keys``), the canonical values digest
(protected values enter it only as an HMAC computed by the caller, never in clear), and the per-key
setting digests a release is recorded with, from which a later pass names the settings keys that
changed (``changed_setting_keys``; keys only, a protected key marked, never a value).
Must not: read Secrets, call helm, fetch catalogs, or read the clock.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from controller.models.manifests import ChartRef, DriftDetection, Extension, ManifestSet
from controller.models.resolution import Resolution
from controller.models.settings_keys import DottedKeyError, expand_settings, parse_key, set_at

LABEL_MANAGED_BY = "extctl.dev/managed-by"
MANAGED_BY_VALUE = "extctl"
LABEL_EXTENSION = "extctl.dev/extension"
LABEL_DIGEST = "extctl.dev/values-digest"
LABEL_REVISION = "extctl.dev/source-revision"
LABEL_DEPENDS_ON = "extctl.dev/depends-on"
LABEL_INSTANCE = "extctl.dev/instance"
# The helm revision an extctl install/upgrade creates: a later revision without it was made outside extctl.
LABEL_HELM_REVISION = "extctl.dev/helm-revision"
DEFAULT_INSTANCE = "default"
DEPENDS_SEPARATOR = "_"  # extension names are DNS-1123 labels, so "_" never occurs inside one
DIGEST_LENGTH = 32
# 8 hex digits name a changed key reliably (the values digest still decides whether to upgrade) and keep the
# state ConfigMap small: a release records at most MAX_RECORDED_SETTINGS keys (more: none, digests are shown).
SETTING_DIGEST_LENGTH = 8
MAX_RECORDED_SETTINGS = 64
PROTECTED_PREFIX = "protected:"  # a setting digest of a protected key: an HMAC (or a reference digest)
LABEL_VALUE_MAX = 63


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def values_digest(settings: Mapping[str, Any], protected_hmac: str | None = None) -> str:
    """Digest of the plain settings plus (optionally) an HMAC of the protected ones; 32 hex chars."""
    material = canonical_json(settings) + "\x00" + (protected_hmac or "")
    return hashlib.sha256(material.encode()).hexdigest()[:DIGEST_LENGTH]


def flatten_settings(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1}``: dotted paths to leaves (lists and empty mappings are leaves)."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten_settings(value, path + "."))
        else:
            flat[path] = value
    return flat


def setting_digests(settings: Mapping[str, Any], protected: Mapping[str, str] | None = None) -> dict[str, str]:
    """Dotted settings path → a short digest of its value; protected paths → ``protected:`` + the digest
    the caller computed (an HMAC keyed with the digest key: never a hash anyone could brute-force)."""
    digests = {path: hashlib.sha256(canonical_json(value).encode()).hexdigest()[:SETTING_DIGEST_LENGTH]
               for path, value in flatten_settings(settings).items()}
    digests.update({path: PROTECTED_PREFIX + digest[:SETTING_DIGEST_LENGTH]
                    for path, digest in (protected or {}).items()})
    return dict(sorted(digests.items()))


def recordable_settings(digests: Mapping[str, str]) -> tuple[tuple[str, str], ...] | None:
    """What a release records of its setting digests: all of them, or None when there are too many."""
    return tuple(sorted(digests.items())) if len(digests) <= MAX_RECORDED_SETTINGS else None


def changed_setting_keys(before: Mapping[str, str], after: Mapping[str, str]) -> tuple[str, ...]:
    """The settings keys added, removed or changed between two ``setting_digests``, sorted; a key that is
    protected on either side is marked ``(protected)``. Names only: the digests are never shown."""
    changed = []
    for path in sorted(set(before) | set(after)):
        old, new = before.get(path), after.get(path)
        if old != new:
            protected = any(d is not None and d.startswith(PROTECTED_PREFIX) for d in (old, new))
            changed.append(f"{path} (protected)" if protected else path)
    return tuple(changed)


def settings_reason(before: Mapping[str, str] | None, after: Mapping[str, str], before_digest: str | None,
                    after_digest: str) -> str:
    """Why the values of a release differ from Git's: the changed settings keys when the release's
    setting digests were recorded (extctl applied it), else the values digests."""
    keys = changed_setting_keys(before, after) if before is not None else ()
    if keys:
        return "settings changed: " + ", ".join(keys)
    return f"values digest changed {before_digest or 'none'} → {after_digest}"


def set_path(values: dict[str, Any], dotted_path: str, value: Any) -> None:
    """Set ``a.b.c`` (the key syntax of ``settings_keys``: ``\\.`` a literal dot, ``[N]`` a list item) in
    nested values, creating levels; whatever is in the way is replaced. A malformed path (``validate``
    reports those) falls back to splitting on dots."""
    try:
        path = parse_key(dotted_path)
    except DottedKeyError:
        path = tuple(p for p in dotted_path.split(".") if p)
    if path:
        set_at(values, path, value)


def merge_values(settings: Mapping[str, Any], protected: Mapping[str, Any]) -> dict[str, Any]:
    """Helm values: configurationSettings with every protected value set at its dotted target path."""
    merged = copy.deepcopy(dict(settings))
    for path, value in sorted(protected.items()):
        set_path(merged, path, value)
    return merged


def expanded_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Helm values from ``configurationSettings``: Arc-style dotted keys expanded, a dotted key winning over
    a nested one for the same path (``settings_keys``). Malformed keys (``validate`` refuses them) stay
    as they are."""
    try:
        return expand_settings(settings).values
    except DottedKeyError:
        return dict(settings)


def source_revision_label(revision: str) -> str:
    """``main@sha1:abc…`` → ``abc…`` (label values allow no ``@`` or ``:``; at most 63 chars)."""
    return revision.rsplit(":", 1)[-1][:40]


def depends_on_label(names: tuple[str, ...]) -> str:
    value = DEPENDS_SEPARATOR.join(sorted(names))
    return value if len(value) <= LABEL_VALUE_MAX else value[:LABEL_VALUE_MAX].rsplit(DEPENDS_SEPARATOR, 1)[0]


@dataclass(frozen=True)
class DesiredRelease:
    """What one extension should look like in the cluster."""

    extension: str
    namespace: str
    chart: ChartRef
    version: str
    resolution: Resolution
    values: Mapping[str, Any] = field(repr=False, compare=False)
    values_digest: str
    protected_paths: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    suspended: bool = False
    settings: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    # Settings path → short digest (``setting_digests``): recorded with the release it is applied as.
    setting_digests: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    # How it is applied and watched (never part of the fingerprint: changing them upgrades nothing).
    wait: bool | None = None  # None: the controller's --wait
    timeout_s: float | None = None  # None: the controller's --helm-timeout
    drift: DriftDetection = field(default_factory=DriftDetection)
    take_ownership: bool = False

    @property
    def release_name(self) -> str:
        return self.extension

    def labels(self, revision: str, instance: str = DEFAULT_INSTANCE) -> dict[str, str]:
        labels = {
            LABEL_MANAGED_BY: MANAGED_BY_VALUE,
            LABEL_INSTANCE: instance,
            LABEL_EXTENSION: self.extension,
            LABEL_DIGEST: self.values_digest,
            LABEL_REVISION: source_revision_label(revision),
        }
        if self.depends_on:
            labels[LABEL_DEPENDS_ON] = depends_on_label(self.depends_on)
        return labels


def build_desired_release(
    extension: Extension,
    manifests: ManifestSet,
    resolution: Resolution,
    *,
    protected_values: Mapping[str, Any] | None = None,
    protected_hmac: str | None = None,
    protected_digests: Mapping[str, str] | None = None,
) -> DesiredRelease:
    """One extension's desired release. ``protected_values`` maps target path → secret value,
    ``protected_digests`` target path → its keyed digest (missing: the HMAC of them all stands in)."""
    extension_type = manifests.type_of(extension)
    namespace = manifests.namespace_of(extension) or "default"
    settings = expanded_settings(extension.spec.configuration_settings)
    protected = dict(protected_values or {})
    return DesiredRelease(
        extension=extension.name,
        namespace=namespace,
        chart=extension_type.chart,
        version=resolution.version,
        resolution=resolution,
        values=merge_values(settings, protected),
        values_digest=values_digest(settings, protected_hmac),
        protected_paths=tuple(sorted(protected)),
        depends_on=tuple(extension.spec.depends_on),
        suspended=extension.spec.suspend,
        settings=settings,
        setting_digests=setting_digests(settings, {
            path: (protected_digests or {}).get(path) or protected_hmac or "none" for path in protected}),
        wait=extension.spec.wait,
        timeout_s=extension.spec.timeout_s,
        drift=extension.spec.drift_detection,
        take_ownership=extension.spec.take_ownership,
    )
