"""Typed, immutable views of the manifest kinds: Extension, ExtensionType and Cluster (the fleet inventory).

Owns: the manifest data model with the defaults the spec defines (release train ``stable`` matched
case-insensitively, auto-upgrade on, cluster scope, the default ``stable``/``preview`` trains; readiness
``wait``/``timeout``, ``driftDetection`` and ``takeOwnership`` left unset mean "the controller's
default"), and pure helpers over it (train lookup, effective namespace, durations). Must not: parse
YAML, validate documents (that is ``controller.manifests``), or do any I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from controller.errors import Location, ValidationIssue
from controller.models.placement import ClusterEntry, Override, Placement

API_VERSION = "extctl.dev/v1alpha1"
DEFAULT_RELEASE_TRAIN = "stable"
DEFAULT_PREVIEW_IDENTIFIERS = ("preview", "rc", "beta", "alpha")
MAX_EXTENSION_NAME_LENGTH = 53
UNKNOWN_LOCATION = Location(file="<unknown>", line=0, column=0)
# At the manifests root (the --path directory): gitignore-syntax rules of files that are not manifests.
IGNORE_FILE = ".extctlignore"

_CONSTRAINT_OPERATOR = re.compile(r"(<=|>=|==|!=|<|>)\s+")
_CONSTRAINT_SEPARATOR = re.compile(r"[\s,]+")


class Kind(StrEnum):
    EXTENSION = "Extension"
    EXTENSION_TYPE = "ExtensionType"
    CLUSTER = "Cluster"


class ScopeKind(StrEnum):
    CLUSTER = "cluster"
    NAMESPACE = "namespace"


@dataclass(frozen=True)
class Scope:
    """Where the release goes. ``namespace`` is releaseNamespace (cluster) or targetNamespace (namespace);
    ``None`` for cluster scope means "the type's defaultReleaseNamespace"."""

    kind: ScopeKind = ScopeKind.CLUSTER
    namespace: str | None = None


@dataclass(frozen=True)
class ProtectedSettingRef:
    """A reference to a Secret whose value(s) become Helm values; never the value itself."""

    secret_name: str
    namespace: str | None = None
    key: str | None = None
    target_path: str | None = None


@dataclass(frozen=True)
class Remediation:
    """Failure handling. ``retries=None`` means "the controller's default" (``--remediation-retries``)."""

    retries: int | None = None
    install_strategy: str = "uninstall"
    upgrade_strategy: str = "rollback"


class DriftMode(StrEnum):
    """``spec.driftDetection.mode``: correct drift with an upgrade, only report it, or do not look."""

    ENABLED = "enabled"
    WARN = "warn"
    DISABLED = "disabled"


@dataclass(frozen=True)
class DriftIgnoreRule:
    """Flux's shape: JSON pointers (RFC 6901) never compared on the objects ``target`` selects (all when unset)."""

    paths: tuple[str, ...]
    kind: str | None = None
    name: str | None = None
    namespace: str | None = None

    def selects(self, kind: str, name: str, namespace: str | None) -> bool:
        return all(want is None or want == have
                   for want, have in ((self.kind, kind), (self.name, name), (self.namespace, namespace)))


@dataclass(frozen=True)
class DriftDetection:
    """``mode=None`` means "the controller's default" (``--drift-detection``, itself ``warn`` by default)."""

    mode: DriftMode | None = None
    ignore: tuple[DriftIgnoreRule, ...] = ()


@dataclass(frozen=True)
class ExtensionSpec:
    extension_type: str
    scope: Scope = Scope()
    release_train: str = DEFAULT_RELEASE_TRAIN
    auto_upgrade_minor_version: bool = True
    version: str | None = None
    major_version: int | None = None
    configuration_settings: Mapping[str, object] = field(default_factory=dict, hash=False)
    configuration_protected_settings: tuple[ProtectedSettingRef, ...] = ()
    depends_on: tuple[str, ...] = ()
    suspend: bool = False
    remediation: Remediation = Remediation()
    placement: Placement | None = None  # None: every cluster (controller/models/fleet.py)
    overrides: tuple[Override, ...] = ()  # per-cluster changes, applied in order (later wins)
    wait: bool | None = None  # None: the controller's --wait (true by default)
    timeout_s: float | None = None  # None: the controller's --helm-timeout
    drift_detection: DriftDetection = DriftDetection()
    take_ownership: bool = False


@dataclass(frozen=True)
class Extension:
    """One desired extension; ``name`` is also the Helm release name."""

    name: str
    spec: ExtensionSpec
    location: Location = field(default=UNKNOWN_LOCATION, compare=False)


@dataclass(frozen=True)
class ChartRef:
    """``repository`` is http(s)://, oci:// or a path relative to the source root holding index.yaml."""

    repository: str
    name: str

    @property
    def is_local(self) -> bool:
        return is_local_repository(self.repository)


@dataclass(frozen=True)
class ReleaseTrain:
    """A named channel. No prerelease identifiers: stable versions only. ``constraint`` narrows further."""

    name: str
    prerelease_identifiers: tuple[str, ...] = ()
    constraint: str | None = None

    def matches_name(self, requested: str) -> bool:
        """Train names match case-insensitively (Arc writes "Stable")."""
        return self.name.casefold() == requested.casefold()

    def constraint_comparators(self) -> tuple[str, ...]:
        """The constraint split into single comparisons such as ``>=1.0.0`` (all must hold)."""
        return split_constraint(self.constraint)


DEFAULT_RELEASE_TRAINS: tuple[ReleaseTrain, ...] = (
    ReleaseTrain(name="stable"),
    ReleaseTrain(name="preview", prerelease_identifiers=DEFAULT_PREVIEW_IDENTIFIERS),
)


@dataclass(frozen=True)
class ExtensionType:
    name: str
    chart: ChartRef
    supported_scopes: tuple[ScopeKind, ...] = (ScopeKind.CLUSTER, ScopeKind.NAMESPACE)
    default_release_namespace: str | None = None
    release_trains: tuple[ReleaseTrain, ...] = DEFAULT_RELEASE_TRAINS
    location: Location = field(default=UNKNOWN_LOCATION, compare=False)

    def find_train(self, requested: str) -> ReleaseTrain | None:
        """The train called ``requested`` (case-insensitive), or ``None``."""
        for train in self.release_trains:
            if train.matches_name(requested):
                return train
        return None

    @property
    def train_names(self) -> tuple[str, ...]:
        return tuple(train.name for train in self.release_trains)


def effective_namespace(extension: Extension, extension_type: ExtensionType | None) -> str | None:
    """The namespace the release lives in: targetNamespace (namespace scope), releaseNamespace, or the
    type's defaultReleaseNamespace (cluster scope). ``None`` when cluster scope has neither."""
    if extension.spec.scope.namespace is not None:
        return extension.spec.scope.namespace
    if extension.spec.scope.kind is ScopeKind.CLUSTER and extension_type is not None:
        return extension_type.default_release_namespace
    return None


def is_local_repository(repository: str) -> bool:
    """True for a path relative to the source root (not http://, https:// or oci://)."""
    return not repository.lower().startswith(("http://", "https://", "oci://"))


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def duration_seconds(text: str) -> float | None:
    """``90s``, ``5m``, ``1h30m``, ``500ms`` (Go/Flux durations) → seconds; None when not such a duration."""
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        return None
    return sum(float(number) * _DURATION_UNITS[unit] for number, unit in parts)


def split_constraint(constraint: str | None) -> tuple[str, ...]:
    """Split ``">= 1.0.0, <2.0.0"`` into ``(">=1.0.0", "<2.0.0")``; ``None``/blank gives ``()``."""
    if constraint is None or not constraint.strip():
        return ()
    joined = _CONSTRAINT_OPERATOR.sub(r"\1", constraint.strip())
    return tuple(part for part in _CONSTRAINT_SEPARATOR.split(joined) if part)


@dataclass(frozen=True)
class ManifestSet:
    """Every ExtensionType, Extension and Cluster (the fleet inventory) of one source revision, keyed by
    name (already validated)."""

    types: Mapping[str, ExtensionType]
    extensions: Mapping[str, Extension]
    clusters: Mapping[str, ClusterEntry] = field(default_factory=dict)
    warnings: tuple[ValidationIssue, ...] = ()  # located findings that do not reject the revision

    def type_of(self, extension: Extension) -> ExtensionType:
        return self.types[extension.spec.extension_type]

    def namespace_of(self, extension: Extension) -> str | None:
        return effective_namespace(extension, self.types.get(extension.spec.extension_type))
