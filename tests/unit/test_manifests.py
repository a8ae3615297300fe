"""Manifest loading and validation: every class of mistake yields one exact, located message."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from controller.errors import ManifestError
from controller.manifests import load_directory, parse_documents, select_manifest_files
from controller.models.manifests import ProtectedSettingRef, ScopeKind

TYPES = """\
apiVersion: extctl.dev/v1alpha1
kind: ExtensionType
metadata:
  name: contoso.monitoring
spec:
  chart:
    repository: charts
    name: contoso-monitoring
  supportedScopes: [cluster]
  defaultReleaseNamespace: monitoring
---
apiVersion: extctl.dev/v1alpha1
kind: ExtensionType
metadata:
  name: contoso.backup
spec:
  chart:
    repository: charts
    name: contoso-backup
  releaseTrains:
    - name: stable
    - name: preview
      prereleaseIdentifiers: [preview]
"""

MONITORING = """\
apiVersion: extctl.dev/v1alpha1
kind: Extension
metadata:
  name: monitoring
spec:
  extensionType: contoso.monitoring
  releaseTrain: Stable
  scope:
    cluster:
      releaseNamespace: monitoring
"""

BACKUP = """\
apiVersion: extctl.dev/v1alpha1
kind: Extension
metadata:
  name: backup
spec:
  extensionType: contoso.backup
  releaseTrain: preview
  scope:
    namespace:
      targetNamespace: team-a
  dependsOn: [monitoring]
  configurationProtectedSettings:
    - secretName: backup-credentials
      key: access-key
      targetPath: storage.accessKey
"""

BASE = {
    "catalog/types.yaml": TYPES,
    "extensions/monitoring.yaml": MONITORING,
    "extensions/backup.yaml": BACKUP,
}
LONG_NAME = "m" * 54


@dataclass(frozen=True)
class Mistake:
    id: str
    file: str
    old: str
    new: str
    expected: tuple[str, ...]


def seeded(file: str, old: str, new: str) -> dict[str, str]:
    files = dict(BASE)
    if old:
        assert files[file].count(old) == 1, f"seed {old!r} must occur once in {file}"
        files[file] = files[file].replace(old, new)
    else:
        files[file] = new
    return files


MB = "extensions/monitoring.yaml"
BK = "extensions/backup.yaml"
TY = "catalog/types.yaml"

MISTAKES = [
    Mistake("name-too-long", BK, "name: backup", f"name: {LONG_NAME}", (
        f"{BK}:4:9: error: metadata.name: must be at most 53 characters (it is the Helm release name)",)),
    Mistake("name-not-dns-1123", BK, "name: backup", "name: Backup_1", (
        f"{BK}:4:9: error: metadata.name: must be a DNS-1123 label: lowercase letters, digits and '-', "
        "starting and ending with a letter or digit",)),
    Mistake("unknown-field-typo", MB, "releaseTrain: Stable", "releaseTrian: Stable", (
        f"{MB}:7:3: error: spec.releaseTrian: unknown field 'releaseTrian'; did you mean 'releaseTrain'? expected "
        "one of: autoUpgradeMinorVersion, configurationProtectedSettings, configurationSettings, dependsOn, "
        "driftDetection, extensionType, majorVersion, overrides, placement, releaseTrain, remediation, scope, "
        "suspend, takeOwnership, timeout, version, wait",)),
    Mistake("timeout-not-a-duration", MB, "  releaseTrain: Stable\n",
            "  releaseTrain: Stable\n  timeout: 5 minutes\n", (
        f"{MB}:8:12: error: spec.timeout: expected a duration like 90s, 5m or 1h30m",)),
    Mistake("timeout-zero", MB, "  releaseTrain: Stable\n", "  releaseTrain: Stable\n  timeout: 0s\n", (
        f"{MB}:8:12: error: spec.timeout: the timeout must be at least 1s (it bounds helm and the wait for "
        "readiness); remove it to use the controller's --helm-timeout",)),
    Mistake("drift-mode-unknown", MB, "  releaseTrain: Stable\n",
            "  releaseTrain: Stable\n  driftDetection:\n    mode: correct\n", (
                f"{MB}:9:11: error: spec.driftDetection.mode: expected one of: enabled, warn, disabled, "
                "got 'correct'",)),
    Mistake("drift-ignore-not-a-pointer", MB, "  releaseTrain: Stable\n",
            "  releaseTrain: Stable\n  driftDetection:\n    ignore:\n      - paths: [spec.replicas]\n", (
                f"{MB}:10:17: error: spec.driftDetection.ignore[0].paths[0]: expected a JSON pointer like "
                "/spec/replicas (~1 for '/', ~0 for '~'; \"\" for the whole object)",)),
    Mistake("take-ownership-not-boolean", MB, "  releaseTrain: Stable\n",
            "  releaseTrain: Stable\n  takeOwnership: yes please\n", (
                f"{MB}:8:18: error: spec.takeOwnership: expected a boolean, got string 'yes please'",)),
    Mistake("wrong-type", MB, "releaseNamespace: monitoring", "releaseNamespace: 42", (
        f"{MB}:10:25: error: spec.scope.cluster.releaseNamespace: expected a string, got integer 42 "
        "(quote it to make it a string)",)),
    Mistake("required-field-missing", MB, "  extensionType: contoso.monitoring\n", "", (
        f"{MB}:5:1: error: spec.extensionType: required field is missing",)),
    Mistake("plaintext-protected-setting", BK,
            "    - secretName: backup-credentials\n      key: access-key\n      targetPath: storage.accessKey\n",
            "    - hunter2-plaintext\n", (
                f"{BK}:13:7: error: spec.configurationProtectedSettings[0]: plaintext values are not allowed in "
                "configurationProtectedSettings; use a Secret reference {secretName, key}",)),
    Mistake("protected-settings-as-mapping", BK,
            "    - secretName: backup-credentials\n      key: access-key\n      targetPath: storage.accessKey\n",
            "    storageKey: hunter2-plaintext\n", (
                f"{BK}:12:3: error: spec.configurationProtectedSettings: expected a list of Secret references like "
                "[{secretName: my-secret, key: password}]; plaintext values are not allowed here, put them in a "
                "Secret",)),
    Mistake("protected-setting-without-secret", BK, "    - secretName: backup-credentials\n", "    - value: x\n", (
        f"{BK}:13:7: error: spec.configurationProtectedSettings[0].secretName: a protected setting must reference "
        "a Secret: {secretName, key}; plaintext values are not allowed",
        f"{BK}:13:7: error: spec.configurationProtectedSettings[0].value: unknown field 'value'; expected one of: "
        "key, namespace, secretName, targetPath",
    )),
    Mistake("both-scopes", BK, "  scope:\n", "  scope:\n    cluster: {}\n", (
        f"{BK}:8:3: error: spec.scope: set exactly one of 'cluster' or 'namespace', not both",)),
    Mistake("wrong-api-version", MB, "apiVersion: extctl.dev/v1alpha1", "apiVersion: extctl.dev/v1", (
        f"{MB}:1:13: error: apiVersion: expected extctl.dev/v1alpha1",)),
    Mistake("unknown-kind", MB, "kind: Extension", "kind: Extensoin", (
        f"{MB}:2:7: error: kind: unknown kind 'Extensoin'; expected one of: Extension, ExtensionType, "
        "Cluster",)),
    Mistake("foreign-kubernetes-object", "extensions/configmap.yaml", "",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n", (
                "extensions/configmap.yaml:1:13: error: apiVersion: unsupported apiVersion 'v1'; expected "
                "extctl.dev/v1alpha1",
                "extensions/configmap.yaml:2:7: error: kind: unknown kind 'ConfigMap'; expected one of: Extension, "
                "ExtensionType, Cluster; if this file is not an extctl manifest, add its path to .extctlignore at "
                "the manifests root (gitignore syntax)",
            )),
    Mistake("not-a-mapping", "extensions/list.yaml", "", "- monitoring\n- backup\n", (
        "extensions/list.yaml:1:1: error: <document>: expected a mapping with apiVersion, kind, metadata and spec, "
        "got list",)),
    Mistake("yaml-syntax-error", BK, "dependsOn: [monitoring]", "dependsOn: [monitoring", (
        f"{BK}:12:33: error: <document>: invalid YAML: expected ',' or ']', but got ':' (while parsing a flow "
        "sequence)",)),
    Mistake("duplicate-key", MB, "  releaseTrain: Stable\n", "  releaseTrain: Stable\n  releaseTrain: hunter2\n", (
        f"{MB}:8:3: error: <document>: invalid YAML: found duplicate key \"releaseTrain\"; each key may appear "
        "once per mapping",)),
    Mistake("unknown-type", BK, "extensionType: contoso.backup", "extensionType: contoso.bakup", (
        f"{BK}:6:18: error: spec.extensionType: unknown extension type 'contoso.bakup' (did you mean "
        "'contoso.backup'?); known types: contoso.backup, contoso.monitoring",)),
    Mistake("unknown-train", BK, "releaseTrain: preview", "releaseTrain: nightly", (
        f"{BK}:7:17: error: spec.releaseTrain: extension type 'contoso.backup' has no release train 'nightly'; "
        "available trains: stable, preview",)),
    Mistake("unsupported-scope", MB, "    cluster:\n      releaseNamespace: monitoring",
            "    namespace:\n      targetNamespace: monitoring", (
                f"{MB}:8:3: error: spec.scope: extension type 'contoso.monitoring' does not support namespace "
                "scope; supported: cluster",)),
    Mistake("cluster-scope-without-namespace", BK, "    namespace:\n      targetNamespace: team-a",
            "    cluster: {}", (
                f"{BK}:8:3: error: spec.scope: extension type 'contoso.backup' has no defaultReleaseNamespace; "
                "set scope.cluster.releaseNamespace",)),
    Mistake("version-with-auto-upgrade", MB, "  releaseTrain: Stable\n", "  releaseTrain: Stable\n  version: 1.0.0\n", (
        f"{MB}:8:12: error: spec.version: a pinned version requires autoUpgradeMinorVersion: false; remove "
        "version to follow the release train, or set autoUpgradeMinorVersion: false to pin it",)),
    Mistake("auto-upgrade-off-without-version", MB, "  releaseTrain: Stable\n",
            "  releaseTrain: Stable\n  autoUpgradeMinorVersion: false\n", (
                f"{MB}:8:28: error: spec.autoUpgradeMinorVersion: autoUpgradeMinorVersion: false requires version "
                "(the exact chart version to install); set version, or remove autoUpgradeMinorVersion to follow "
                "the release train",)),
    Mistake("unquoted-float-version", MB, "  releaseTrain: Stable\n",
            "  releaseTrain: Stable\n  autoUpgradeMinorVersion: false\n  version: 1.10\n", (
                f"{MB}:9:12: error: spec.version: expected a string, got number 1.1 (quote it to make it a string)",)),
    Mistake("depends-on-unknown", BK, "dependsOn: [monitoring]", "dependsOn: [monitorin]", (
        f"{BK}:11:15: error: spec.dependsOn[0]: unknown extension 'monitorin' (did you mean 'monitoring'?)",)),
    Mistake("depends-on-cycle", MB, "  releaseTrain: Stable\n", "  releaseTrain: Stable\n  dependsOn: [backup]\n", (
        f"{BK}:11:15: error: spec.dependsOn[0]: dependency cycle: backup -> monitoring -> backup",)),
    Mistake("depends-on-self", BK, "dependsOn: [monitoring]", "dependsOn: [monitoring, backup]", (
        f"{BK}:11:27: error: spec.dependsOn[1]: dependency cycle: backup -> backup",)),
    Mistake("duplicate-extension-same-release", "extensions/zz-copy.yaml", "", MONITORING, (
        "extensions/zz-copy.yaml:4:9: error: metadata.name: duplicate extension name 'monitoring' (first defined "
        f"at {MB}:4:9); both would own Helm release 'monitoring' in namespace 'monitoring'; extension names are "
        "Helm release names and must be unique",)),
    Mistake("duplicate-type", "catalog/zz-more.yaml", "", TYPES.split("---\n")[1], (
        "catalog/zz-more.yaml:4:9: error: metadata.name: duplicate ExtensionType 'contoso.backup'; it is already "
        f"defined at {TY}:15:9",)),
    Mistake("duplicate-train", TY, "      prereleaseIdentifiers: [preview]\n",
            "      prereleaseIdentifiers: [preview]\n    - name: STABLE\n", (
                f"{TY}:24:13: error: spec.releaseTrains[2].name: duplicate release train 'STABLE' (train names are "
                "case-insensitive)",)),
    Mistake("invalid-train-constraint", TY, "    - name: stable\n", "    - name: stable\n      constraint: ~1.0\n", (
        f"{TY}:22:19: error: spec.releaseTrains[0].constraint: invalid constraint '~1.0': '~1.0' is not a "
        "comparison like '>=1.2.0'; use comparisons (<, <=, >, >=, ==, !=) with full SemVer versions, joined by "
        "commas",)),
    Mistake("unknown-scope-name", TY, "supportedScopes: [cluster]", "supportedScopes: [cluster, global]", (
        f"{TY}:9:30: error: spec.supportedScopes[1]: expected 'cluster' or 'namespace'",)),
    Mistake("repository-outside-root", TY, "    repository: charts\n    name: contoso-monitoring",
            "    repository: ../charts\n    name: contoso-monitoring", (
                f"{TY}:7:17: error: spec.chart.repository: local chart repository '../charts' must be a path relative "
                "to the manifests directory (--source joined with --path), without '..', or an https://, http:// or "
                "oci:// URL",)),
]


@pytest.mark.parametrize("mistake", MISTAKES, ids=[m.id for m in MISTAKES])
def test_seeded_mistake_yields_exact_located_message(mistake: Mistake) -> None:
    with pytest.raises(ManifestError) as raised:
        parse_documents(seeded(mistake.file, mistake.old, mistake.new))
    assert [str(issue) for issue in raised.value.issues] == list(mistake.expected)
    assert "hunter2" not in str(raised.value)


def test_valid_manifests_load_with_defaults() -> None:
    manifests = parse_documents(BASE)
    assert list(manifests.types) == ["contoso.backup", "contoso.monitoring"]
    monitoring = manifests.extensions["monitoring"]
    assert monitoring.spec.release_train == "Stable"
    assert monitoring.spec.auto_upgrade_minor_version is True
    assert monitoring.spec.version is None
    assert manifests.type_of(monitoring).find_train(monitoring.spec.release_train) is not None
    assert str(monitoring.location) == "extensions/monitoring.yaml:4:9"
    backup = manifests.extensions["backup"]
    assert backup.spec.scope.kind is ScopeKind.NAMESPACE
    assert manifests.namespace_of(backup) == "team-a"
    assert backup.spec.depends_on == ("monitoring",)
    assert backup.spec.configuration_protected_settings == (
        ProtectedSettingRef(secret_name="backup-credentials", key="access-key", target_path="storage.accessKey"),
    )
    assert [t.name for t in manifests.types["contoso.monitoring"].release_trains] == ["stable", "preview"]


def test_health_drift_and_adoption_fields_load_and_default_to_the_controller() -> None:
    from controller.models.manifests import DriftDetection, DriftIgnoreRule, DriftMode

    defaults = parse_documents(BASE).extensions["monitoring"].spec
    assert (defaults.wait, defaults.timeout_s, defaults.drift_detection, defaults.take_ownership) == (
        None, None, DriftDetection(), False)
    files = seeded(MB, "  releaseTrain: Stable\n", "  releaseTrain: Stable\n  wait: false\n  timeout: 1m30s\n"
                   "  takeOwnership: true\n  driftDetection:\n    mode: enabled\n    ignore:\n"
                   "      - paths: [/spec/replicas]\n        target: {kind: Deployment}\n"
                   "      - paths: [/metadata/annotations/x~1y]\n")
    spec = parse_documents(files).extensions["monitoring"].spec
    assert (spec.wait, spec.timeout_s, spec.take_ownership) == (False, 90.0, True)
    assert spec.drift_detection == DriftDetection(DriftMode.ENABLED, (
        DriftIgnoreRule(("/spec/replicas",), kind="Deployment"), DriftIgnoreRule(("/metadata/annotations/x~1y",))))


def test_cluster_scope_defaults_to_type_namespace() -> None:
    files = seeded(MB, "  scope:\n    cluster:\n      releaseNamespace: monitoring\n", "")
    manifests = parse_documents(files)
    monitoring = manifests.extensions["monitoring"]
    assert monitoring.spec.scope.kind is ScopeKind.CLUSTER
    assert manifests.namespace_of(monitoring) == "monitoring"


def test_all_errors_are_collected_and_sorted() -> None:
    files = seeded(BK, "releaseTrain: preview", "releaseTrain: nightly")
    files[MB] = MONITORING.replace("releaseTrain: Stable", "releaseTrian: Stable").replace(
        "releaseNamespace: monitoring", "releaseNamespace: Bad_NS"
    )
    files["extensions/aa.yaml"] = "kind: Nope\n"
    with pytest.raises(ManifestError) as raised:
        parse_documents(files)
    located = [(i.location.file, i.location.line, i.field) for i in raised.value.issues]
    assert located == [
        ("extensions/aa.yaml", 1, "apiVersion"),
        ("extensions/aa.yaml", 1, "kind"),
        (BK, 7, "spec.releaseTrain"),
        (MB, 7, "spec.releaseTrian"),
        (MB, 10, "spec.scope.cluster.releaseNamespace"),
    ]
    assert str(raised.value).startswith("5 manifest errors:\n")


def test_select_manifest_files_skips_charts_and_hidden_paths() -> None:
    paths = [
        "catalog/types.yaml",
        "extensions/a.yml",
        "extensions/nested/deeper/b.yaml",
        "README.md",
        ".github/workflows/ci.yaml",
        "extensions/.draft.yaml",
        "charts/index.yaml",
        "charts/contoso-1.0.0.tgz",
        "charts-src/contoso/Chart.yaml",
        "charts-src/contoso/values.yaml",
        "charts-src/contoso/templates/deployment.yaml",
        "index.yaml-lookalike/index.yaml",
    ]
    assert select_manifest_files(paths) == [
        "catalog/types.yaml",
        "extensions/a.yml",
        "extensions/nested/deeper/b.yaml",
        "index.yaml-lookalike/index.yaml",
    ]


def test_load_directory_reports_paths_relative_to_root(tmp_path: Path) -> None:
    for relative, text in BASE.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(text, encoding="utf-8")
    (tmp_path / "charts").mkdir()
    (tmp_path / "charts" / "index.yaml").write_text("apiVersion: v1\nentries: {}\n", encoding="utf-8")
    (tmp_path / "charts" / "contoso-backup-1.0.0.tgz").write_bytes(b"")
    assert sorted(load_directory(tmp_path).extensions) == ["backup", "monitoring"]

    (tmp_path / "extensions" / "monitoring.yaml").write_text(MONITORING.replace("Stable", "Nightly"), "utf-8")
    with pytest.raises(ManifestError) as raised:
        load_directory(tmp_path)
    assert [str(i) for i in raised.value.issues] == [
        f"{MB}:7:17: error: spec.releaseTrain: extension type 'contoso.monitoring' has no release train 'Nightly'; "
        "available trains: stable, preview"
    ]


def test_empty_documents_are_ignored() -> None:
    files = dict(BASE)
    files["extensions/empty.yaml"] = "# nothing here yet\n---\n"
    assert len(parse_documents(files).extensions) == 2
