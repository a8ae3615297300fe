"""Cross-document checks and conversion of schema-valid documents into models.

Owns: building ``ExtensionType``/``Extension`` models from schema-valid documents and the semantic
rules the schema cannot express: duplicate names and Helm release collisions, unknown types and
trains, unsupported scopes, credentials written into a chart repository URL (secrets do not belong
in Git), the version/auto-upgrade rule, ``dependsOn`` targets and cycles, train constraints, a
``timeout`` of at least 1s, and (through ``fleet_checks``) the inventory, placements and overrides. Every
finding is a located ``ValidationIssue``. Must not: read files or
the network, or check schema-level structure (``schema.py`` already did).
"""

from __future__ import annotations

import difflib
import graphlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Generic, TypeVar

import semver

from controller.errors import ValidationIssue
from controller.manifests.fleet_checks import FleetChecker, build_overrides, build_placement
from controller.manifests.yaml_source import FieldPath, SourceDocument, format_field_path
from controller.models.manifests import (
    DEFAULT_RELEASE_TRAINS,
    ChartRef,
    DriftDetection,
    DriftIgnoreRule,
    DriftMode,
    Extension,
    ExtensionSpec,
    ExtensionType,
    ManifestSet,
    ProtectedSettingRef,
    ReleaseTrain,
    Remediation,
    Scope,
    ScopeKind,
    duration_seconds,
    effective_namespace,
    is_local_repository,
)
from controller.urls import has_userinfo, sanitize_url

_CONSTRAINT_OPERATORS = ("<=", ">=", "==", "!=", "<", ">")
ModelT = TypeVar("ModelT", ExtensionType, Extension)


@dataclass(frozen=True)
class _Parsed(Generic[ModelT]):
    model: ModelT
    document: SourceDocument


def build_extension_type(document: SourceDocument) -> ExtensionType:
    data: dict[str, Any] = document.data
    spec = data["spec"]
    trains_data = spec.get("releaseTrains")
    trains = (
        tuple(
            ReleaseTrain(
                name=train["name"],
                prerelease_identifiers=tuple(train.get("prereleaseIdentifiers", ())),
                constraint=train.get("constraint"),
            )
            for train in trains_data
        )
        if trains_data
        else DEFAULT_RELEASE_TRAINS
    )
    scopes = spec.get("supportedScopes")
    return ExtensionType(
        name=data["metadata"]["name"],
        chart=ChartRef(repository=spec["chart"]["repository"], name=spec["chart"]["name"]),
        supported_scopes=tuple(ScopeKind(scope) for scope in scopes)
        if scopes
        else (ScopeKind.CLUSTER, ScopeKind.NAMESPACE),
        default_release_namespace=spec.get("defaultReleaseNamespace"),
        release_trains=trains,
        location=document.locate(["metadata", "name"]),
    )


def build_extension(document: SourceDocument) -> Extension:
    data: dict[str, Any] = document.data
    spec = data["spec"]
    scope_data = spec.get("scope") or {}
    if "namespace" in scope_data:
        scope = Scope(kind=ScopeKind.NAMESPACE, namespace=scope_data["namespace"]["targetNamespace"])
    else:
        scope = Scope(kind=ScopeKind.CLUSTER, namespace=(scope_data.get("cluster") or {}).get("releaseNamespace"))
    return Extension(
        name=data["metadata"]["name"],
        spec=ExtensionSpec(
            extension_type=spec["extensionType"],
            scope=scope,
            release_train=spec.get("releaseTrain", "stable"),
            auto_upgrade_minor_version=spec.get("autoUpgradeMinorVersion", True),
            version=spec.get("version"),
            major_version=spec.get("majorVersion"),
            configuration_settings=spec.get("configurationSettings", {}),
            configuration_protected_settings=tuple(
                ProtectedSettingRef(
                    secret_name=ref["secretName"],
                    namespace=ref.get("namespace"),
                    key=ref.get("key"),
                    target_path=ref.get("targetPath"),
                )
                for ref in spec.get("configurationProtectedSettings", ())
            ),
            depends_on=tuple(spec.get("dependsOn", ())),
            suspend=spec.get("suspend", False),
            remediation=Remediation(
                retries=(spec.get("remediation") or {}).get("retries"),
                install_strategy=((spec.get("remediation") or {}).get("install") or {}).get("strategy", "uninstall"),
                upgrade_strategy=((spec.get("remediation") or {}).get("upgrade") or {}).get("strategy", "rollback"),
            ),
            wait=spec.get("wait"),
            timeout_s=duration_seconds(spec["timeout"]) if "timeout" in spec else None,
            drift_detection=_drift_detection(spec.get("driftDetection") or {}),
            take_ownership=spec.get("takeOwnership", False),
            placement=build_placement(spec.get("placement")),
            overrides=build_overrides(spec.get("overrides")),
        ),
        location=document.locate(["metadata", "name"]),
    )


def _drift_detection(data: Mapping[str, Any]) -> DriftDetection:
    rules = tuple(DriftIgnoreRule(paths=tuple(rule["paths"]), kind=(rule.get("target") or {}).get("kind"),
                                  name=(rule.get("target") or {}).get("name"),
                                  namespace=(rule.get("target") or {}).get("namespace"))
                  for rule in data.get("ignore", ()))
    return DriftDetection(mode=DriftMode(data["mode"]) if "mode" in data else None, ignore=rules)


class SemanticChecker:
    """Collects semantic issues over all schema-valid documents of one source revision."""

    def __init__(
        self,
        invalid_type_names: Iterable[str] = (),
        invalid_extension_names: Iterable[str] = (),
        *,
        check_references: bool = True,
        invalid_cluster_names: Iterable[str] = (),
    ) -> None:
        # Names of documents that failed the schema: referencing them is not reported again as "unknown".
        self._invalid_type_names = set(invalid_type_names)
        self._invalid_extension_names = set(invalid_extension_names)
        self._check_references = check_references
        self._fleet = FleetChecker(self._report, check_references=check_references,
                                   invalid_clusters=invalid_cluster_names)
        self.issues: list[ValidationIssue] = []

    def _report(self, document: SourceDocument, path: FieldPath, message: str) -> None:
        self.issues.append(ValidationIssue(document.locate(path), format_field_path(path), message))

    def check(self, type_documents: list[SourceDocument], extension_documents: list[SourceDocument],
              cluster_documents: Iterable[SourceDocument] = ()) -> ManifestSet:
        types = self._unique_types([_Parsed(build_extension_type(d), d) for d in type_documents])
        extensions = self._unique_extensions([_Parsed(build_extension(d), d) for d in extension_documents], types)
        clusters = self._fleet.clusters(cluster_documents)
        for parsed_type in types.values():
            self._check_type(parsed_type)
        for parsed_extension in extensions.values():
            self._check_extension(parsed_extension, types, extensions)
            type_parsed = types.get(parsed_extension.model.spec.extension_type)
            self._fleet.extension(parsed_extension.model, parsed_extension.document, clusters,
                                  type_parsed.model if type_parsed is not None else None)
        self._check_cycles(extensions)
        manifest_set = ManifestSet(
            types={name: parsed.model for name, parsed in sorted(types.items())},
            extensions={name: parsed.model for name, parsed in sorted(extensions.items())},
            clusters=clusters,
        )
        if not self.issues:  # the placement of dependencies is only meaningful in an otherwise valid revision
            self._fleet.dependencies(manifest_set, {name: parsed.document for name, parsed in extensions.items()})
        return manifest_set

    def _unique_types(self, parsed_types: list[_Parsed[ExtensionType]]) -> dict[str, _Parsed[ExtensionType]]:
        unique: dict[str, _Parsed[ExtensionType]] = {}
        for parsed in parsed_types:
            first = unique.get(parsed.model.name)
            if first is not None:
                self._report(
                    parsed.document,
                    ["metadata", "name"],
                    f"duplicate ExtensionType {parsed.model.name!r}; it is already defined at {first.model.location}",
                )
                continue
            unique[parsed.model.name] = parsed
        return unique

    def _unique_extensions(
        self, parsed_extensions: list[_Parsed[Extension]], types: Mapping[str, _Parsed[ExtensionType]]
    ) -> dict[str, _Parsed[Extension]]:
        unique: dict[str, _Parsed[Extension]] = {}
        for parsed in parsed_extensions:
            first = unique.get(parsed.model.name)
            if first is not None:
                this_type = types.get(parsed.model.spec.extension_type)
                first_type = types.get(first.model.spec.extension_type)
                namespace = effective_namespace(parsed.model, this_type.model if this_type else None)
                first_namespace = effective_namespace(first.model, first_type.model if first_type else None)
                release = (
                    f"; both would own Helm release {parsed.model.name!r} in namespace {namespace!r}"
                    if namespace is not None and namespace == first_namespace
                    else ""
                )
                self._report(
                    parsed.document,
                    ["metadata", "name"],
                    f"duplicate extension name {parsed.model.name!r} (first defined at {first.model.location})"
                    f"{release}; extension names are Helm release names and must be unique",
                )
                continue
            unique[parsed.model.name] = parsed
        return unique

    def _check_type(self, parsed: _Parsed[ExtensionType]) -> None:
        extension_type, document = parsed.model, parsed.document
        repository = extension_type.chart.repository
        if is_local_repository(repository):
            local = PurePosixPath(repository)
            if local.is_absolute() or ".." in local.parts:
                self._report(
                    document,
                    ["spec", "chart", "repository"],
                    f"local chart repository {repository!r} must be a path relative to the manifests directory "
                    "(--source joined with --path), without '..', or an https://, http:// or oci:// URL",
                )
        elif has_userinfo(repository):
            self._report(
                document,
                ["spec", "chart", "repository"],
                f"repository URL {sanitize_url(repository)!r} carries credentials (user:password@); secrets do not "
                "belong in Git: remove them and bind credentials to the host in the controller's credentials file "
                "(docs/credentials.md)",
            )
        seen: dict[str, int] = {}
        for index, train in enumerate(extension_type.release_trains):
            folded = train.name.casefold()
            if folded in seen:
                self._report(
                    document,
                    ["spec", "releaseTrains", index, "name"],
                    f"duplicate release train {train.name!r} (train names are case-insensitive)",
                )
            seen.setdefault(folded, index)
            problem = _constraint_problem(train)
            if problem is not None:
                self._report(document, ["spec", "releaseTrains", index, "constraint"], problem)

    def _check_extension(
        self,
        parsed: _Parsed[Extension],
        types: Mapping[str, _Parsed[ExtensionType]],
        extensions: Mapping[str, _Parsed[Extension]],
    ) -> None:
        extension, document = parsed.model, parsed.document
        spec = extension.spec
        self._check_version_rule(parsed)
        if spec.timeout_s is not None and spec.timeout_s < 1:
            self._report(document, ["spec", "timeout"], "the timeout must be at least 1s (it bounds helm and the "
                         "wait for readiness); remove it to use the controller's --helm-timeout")
        for index, dependency in enumerate(spec.depends_on):
            if dependency == extension.name:
                continue  # reported as a cycle
            if (
                self._check_references
                and dependency not in extensions
                and dependency not in self._invalid_extension_names
            ):
                self._report(
                    document,
                    ["spec", "dependsOn", index],
                    f"unknown extension {dependency!r}{_did_you_mean(dependency, extensions)}",
                )

        type_parsed = types.get(spec.extension_type)
        if type_parsed is None:
            if self._check_references and spec.extension_type not in self._invalid_type_names:
                known = ", ".join(sorted(types)) or "none"
                self._report(
                    document,
                    ["spec", "extensionType"],
                    f"unknown extension type {spec.extension_type!r}{_did_you_mean(spec.extension_type, types)}; "
                    f"known types: {known}",
                )
            return
        extension_type = type_parsed.model
        train_path: FieldPath = ["spec", "releaseTrain"]
        if extension_type.find_train(spec.release_train) is None:
            self._report(
                document,
                train_path,
                f"extension type {extension_type.name!r} has no release train {spec.release_train!r}; "
                f"available trains: {', '.join(extension_type.train_names)}",
            )
        if spec.scope.kind not in extension_type.supported_scopes:
            supported = ", ".join(scope.value for scope in extension_type.supported_scopes)
            self._report(
                document,
                ["spec", "scope"],
                f"extension type {extension_type.name!r} does not support {spec.scope.kind.value} scope; "
                f"supported: {supported}",
            )
        elif spec.scope.kind is ScopeKind.CLUSTER and effective_namespace(extension, extension_type) is None:
            self._report(
                document,
                ["spec", "scope"],
                f"extension type {extension_type.name!r} has no defaultReleaseNamespace; "
                "set scope.cluster.releaseNamespace",
            )

    def _check_version_rule(self, parsed: _Parsed[Extension]) -> None:
        spec, document = parsed.model.spec, parsed.document
        if spec.auto_upgrade_minor_version and spec.version is not None:
            self._report(
                document,
                ["spec", "version"],
                "a pinned version requires autoUpgradeMinorVersion: false; remove version to follow the "
                "release train, or set autoUpgradeMinorVersion: false to pin it",
            )
        if not spec.auto_upgrade_minor_version and spec.version is None:
            self._report(
                document,
                ["spec", "autoUpgradeMinorVersion"],
                "autoUpgradeMinorVersion: false requires version (the exact chart version to install); "
                "set version, or remove autoUpgradeMinorVersion to follow the release train",
            )
        if not spec.auto_upgrade_minor_version and spec.major_version is not None:
            self._report(
                document,
                ["spec", "majorVersion"],
                "majorVersion only applies when autoUpgradeMinorVersion is true; remove it or remove the pin",
            )

    def _check_cycles(self, extensions: Mapping[str, _Parsed[Extension]]) -> None:
        graph = {
            name: {dep for dep in parsed.model.spec.depends_on if dep in extensions}
            for name, parsed in extensions.items()
        }
        while True:
            try:
                graphlib.TopologicalSorter(graph).prepare()
                return
            except graphlib.CycleError as exc:
                # graphlib lists the cycle against the dependency direction; reverse it, start at the
                # smallest name so the message is stable, then break that edge and look for more.
                ring = list(reversed(exc.args[1]))[:-1]
                start = ring.index(min(ring))
                ring = ring[start:] + ring[:start]
                first, second = ring[0], ring[1 % len(ring)]
                parsed = extensions[first]
                index = list(parsed.model.spec.depends_on).index(second)
                self._report(
                    parsed.document,
                    ["spec", "dependsOn", index],
                    f"dependency cycle: {' -> '.join([*ring, first])}",
                )
                graph[first].discard(second)


def _constraint_problem(train: ReleaseTrain) -> str | None:
    if train.constraint is None:
        return None
    for comparator in train.constraint_comparators():
        operator = next((op for op in _CONSTRAINT_OPERATORS if comparator.startswith(op)), None)
        version_text = comparator[len(operator) :] if operator else comparator
        try:
            semver.Version.parse(version_text)
        except ValueError:
            return (
                f"invalid constraint {train.constraint!r}: {comparator!r} is not a comparison like '>=1.2.0'; "
                "use comparisons (<, <=, >, >=, ==, !=) with full SemVer versions, joined by commas"
            )
        if operator is None:
            return f"invalid constraint {train.constraint!r}: {comparator!r} needs an operator, e.g. '=={comparator}'"
    return None


def _did_you_mean(name: str, known: Iterable[str]) -> str:
    match = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""
