"""`extctl validate`, `extctl catalog versions` and `extctl resolve` run as real subprocesses."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.output_schemas import assert_output_schema

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_REPO = REPO_ROOT / "sample-repo"
LONG_NAME = "m" * 54


def extctl(*args: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "controller", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def document(result: subprocess.CompletedProcess[str], schema: str) -> Any:
    """The command's ``--output json`` document, checked against schemas/output/<schema>.schema.json."""
    parsed = json.loads(result.stdout)
    assert_output_schema(schema, parsed)
    return parsed


@pytest.fixture
def sample_copy(tmp_path: Path) -> Path:
    """A private copy of sample-repo at ``<tmp>/repo`` (commands run with cwd ``<tmp>``)."""
    target = tmp_path / "repo"
    shutil.copytree(SAMPLE_REPO, target)
    return target


def test_validate_sample_repo_exits_zero() -> None:
    result = extctl("validate", "sample-repo")
    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        "sample-repo: valid (4 extension types, 5 extensions)\n",
        "",
    )


def test_validate_json_lists_what_was_validated() -> None:
    result = extctl("validate", "sample-repo", "--output", "json")
    assert result.returncode == 0
    found = document(result, "validate")
    assert found["valid"] is True
    assert found["errors"] == []
    assert [e["name"] for e in found["extensions"]] == [
        "certs",
        "monitoring",
        "policy",
        "team-a-backup",
        "team-a-metrics",
    ]
    assert [t["name"] for t in found["extension_types"]] == [
        "contoso.backup",
        "contoso.certs",
        "contoso.monitoring",
        "contoso.policy",
    ]


@dataclass(frozen=True)
class Seed:
    id: str
    file: str
    old: str
    new: str
    expected: str


CERTS = "extensions/certs.yaml"
TEAM_A = "extensions/team-a.yaml"
MONITORING = "extensions/monitoring.yaml"
POLICY = "extensions/policy.yaml"

SEEDS = [
    Seed("pinned-with-auto-upgrade", CERTS, "  autoUpgradeMinorVersion: false\n", "",
         f"{CERTS}:9:12: error: spec.version: a pinned version requires autoUpgradeMinorVersion: false; remove "
         "version to follow the release train, or set autoUpgradeMinorVersion: false to pin it"),
    Seed("plaintext-protected-setting", TEAM_A,
         "    - secretName: team-a-backup-credentials\n      namespace: team-a\n      key: access-key\n"
         "      targetPath: storage.accessKey\n",
         "    - hunter2\n",
         f"{TEAM_A}:36:7: error: spec.configurationProtectedSettings[0]: plaintext values are not allowed in "
         "configurationProtectedSettings; use a Secret reference {secretName, key}"),
    Seed("unknown-train", MONITORING, "releaseTrain: Stable", "releaseTrain: Nightly",
         f"{MONITORING}:12:17: error: spec.releaseTrain: extension type 'contoso.monitoring' has no release train "
         "'Nightly'; available trains: stable, preview"),
    Seed("dependency-cycle", CERTS, "  version: 1.0.0\n", "  version: 1.0.0\n  dependsOn: [team-a-backup]\n",
         f"{CERTS}:11:15: error: spec.dependsOn[0]: dependency cycle: certs -> team-a-backup -> certs"),
    Seed("unknown-type", POLICY, "extensionType: contoso.policy", "extensionType: contoso.polcy",
         f"{POLICY}:8:18: error: spec.extensionType: unknown extension type 'contoso.polcy' (did you mean "
         "'contoso.policy'?); known types: contoso.backup, contoso.certs, contoso.monitoring, contoso.policy"),
    Seed("unsupported-scope", POLICY, "  releaseTrain: lts\n",
         "  releaseTrain: lts\n  scope:\n    namespace:\n      targetNamespace: team-a\n",
         f"{POLICY}:10:3: error: spec.scope: extension type 'contoso.policy' does not support namespace scope; "
         "supported: cluster"),
    Seed("name-too-long", POLICY, "  name: policy\n", f"  name: {LONG_NAME}\n",
         f"{POLICY}:6:9: error: metadata.name: must be at most 53 characters (it is the Helm release name)"),
    Seed("stray-kubernetes-object", "extensions/namespace.yaml", "",
         "apiVersion: extctl.dev/v1alpha1\nkind: Namespace\nmetadata:\n  name: team-a\n",
         "extensions/namespace.yaml:2:7: error: kind: unknown kind 'Namespace'; expected one of: Extension, "
         "ExtensionType, Cluster"),
]


def plant(repo: Path, seed: Seed) -> None:
    path = repo / seed.file
    if not seed.old:
        path.write_text(seed.new, encoding="utf-8")
        return
    text = path.read_text(encoding="utf-8")
    assert text.count(seed.old) == 1, f"seed {seed.old!r} must occur once in {seed.file}"
    path.write_text(text.replace(seed.old, seed.new), encoding="utf-8")


@pytest.mark.parametrize("seed", SEEDS, ids=[s.id for s in SEEDS])
def test_seeded_mistake_is_reported_exactly(sample_copy: Path, seed: Seed) -> None:
    plant(sample_copy, seed)
    result = extctl("validate", "repo", cwd=sample_copy.parent)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"{seed.expected}\nrepo: 1 error\n"
    assert "hunter2" not in result.stderr


def test_validate_json_reports_every_error(sample_copy: Path) -> None:
    for seed in (SEEDS[0], SEEDS[2]):
        plant(sample_copy, seed)
    result = extctl("validate", "repo", "-o", "json", cwd=sample_copy.parent)
    assert result.returncode == 1
    errors = document(result, "validate")["errors"]
    assert [(e["file"], e["line"], e["column"], e["field"]) for e in errors] == [
        (CERTS, 9, 12, "spec.version"),
        (MONITORING, 12, 17, "spec.releaseTrain"),
    ]
    assert [e["text"] for e in errors] == [SEEDS[0].expected, SEEDS[2].expected]


EXPECTED_RESOLVE_TEXT = """\
EXTENSION       TYPE                TRAIN    VERSION           RULE
certs           contoso.certs       stable   1.0.0             pinned
    why: 1.0.0 is pinned by spec.version with autoUpgradeMinorVersion: false
monitoring      contoso.monitoring  stable   1.1.1             latest-in-major
    why: 1.1.1 is the newest version the stable train admits in majorVersion 1 (3 candidates; first install); \
newer major 2.0.0 is available
policy          contoso.policy      lts      1.0.1             latest-in-train
    why: 1.0.1 is the newest version the lts train admits (2 candidates; first install, auto-upgrade on)
team-a-backup   contoso.backup      preview  1.1.0-preview.10  latest-in-train
    why: 1.1.0-preview.10 is the newest version the preview train admits (4 candidates; first install, \
auto-upgrade on)
team-a-metrics  contoso.monitoring  stable   2.0.0             latest-in-train
    why: 2.0.0 is the newest version the stable train admits (4 candidates; first install, auto-upgrade on)
"""


def test_resolve_explains_every_target_version() -> None:
    result = extctl("resolve", "--source", "sample-repo")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == EXPECTED_RESOLVE_TEXT


def test_resolve_json_parses_and_explains_each_extension() -> None:
    result = extctl("resolve", "--source", "sample-repo", "--output", "json")
    assert result.returncode == 0
    extensions = document(result, "resolve")["extensions"]
    assert {e["name"]: (e["version"], e["rule"], e["namespace"]) for e in extensions} == {
        "certs": ("1.0.0", "pinned", "contoso-certs"),
        "monitoring": ("1.1.1", "latest-in-major", "monitoring"),
        "policy": ("1.0.1", "latest-in-train", "contoso-policy"),
        "team-a-backup": ("1.1.0-preview.10", "latest-in-train", "team-a"),
        "team-a-metrics": ("2.0.0", "latest-in-train", "team-a"),
    }
    assert all(e["explanation"] and e["error"] is None for e in extensions)
    assert next(e for e in extensions if e["name"] == "monitoring")["newer_major_available"] == "2.0.0"


def test_resolve_with_installed_versions_never_downgrades_or_jumps_majors() -> None:
    result = extctl(
        "resolve", "--source", "sample-repo", "-o", "json",
        "--installed", "monitoring=1.0.0", "--installed", "team-a-metrics=2.1.0-preview.1",
    )
    assert result.returncode == 0
    extensions = {e["name"]: e for e in document(result, "resolve")["extensions"]}
    assert (extensions["monitoring"]["version"], extensions["monitoring"]["rule"]) == (
        "1.1.1",
        "latest-in-installed-major",
    )
    assert (extensions["team-a-metrics"]["version"], extensions["team-a-metrics"]["rule"]) == (
        "2.1.0-preview.1",
        "keep-installed",
    )
    assert "never downgrades" in extensions["team-a-metrics"]["explanation"]


def test_resolve_reports_a_missing_pinned_version_and_resolves_the_rest(sample_copy: Path) -> None:
    plant(sample_copy, Seed("pin", CERTS, "version: 1.0.0", "version: 1.0.5", ""))
    result = extctl("resolve", "--source", "repo", cwd=sample_copy.parent)
    assert result.returncode == 1
    assert result.stderr == (
        "extctl: error: certs: pinned version 1.0.5 is not in the chart repository; nearest available: 1.0.0, "
        "1.1.0, 1.2.0-beta.1 (hint: set spec.version to one of the available versions)\n"
    )
    assert "monitoring      contoso.monitoring  stable   1.1.1" in result.stdout


def test_resolve_reports_a_missing_local_repository(sample_copy: Path) -> None:
    shutil.rmtree(sample_copy / "charts")
    result = extctl("resolve", "--source", "repo", "-o", "json", cwd=sample_copy.parent)
    assert result.returncode == 1
    errors = {e["error"] for e in document(result, "resolve")["extensions"]}
    assert errors == {
        "local chart repository 'charts' has no index.yaml: looked for charts/index.yaml (a local chart repository "
        "path is relative to the manifests directory (--source joined with --path), without '..'; manifests "
        "directory: .) (hint: fix spec.chart.repository, or run 'helm repo index charts' and commit the result)"
    }


def test_catalog_versions_lists_every_train_newest_first() -> None:
    result = extctl("catalog", "versions", "contoso.policy", "--source", "sample-repo")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == (
        "# contoso.policy (chart contoso-policy from charts): 4 versions, newest first\n"
        "VERSION     TRAINS\n"
        "1.1.0-rc.1  rc\n"
        "1.0.1       stable, rc, lts\n"
        "1.0.0       stable, rc, lts\n"
        "0.9.0       stable, rc\n"
    )


def test_catalog_versions_for_one_train_json() -> None:
    result = extctl("catalog", "versions", "contoso.backup", "--source", "sample-repo", "--train", "PREVIEW",
                    "-o", "json")
    assert result.returncode == 0
    found = document(result, "catalog-versions")
    assert found["train"] == "preview"
    assert [v["version"] for v in found["versions"]] == ["1.1.0-preview.10", "1.1.0-preview.2", "1.0.1", "1.0.0"]
    assert all(len(v["digest"]) == 64 for v in found["versions"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("contoso.policy", "--train", "nightly"),
         "extctl: error: extension type 'contoso.policy' has no release train 'nightly' (trains: stable, rc, lts)\n"),
        (("contoso.nope",),
         "extctl: error: unknown extension type 'contoso.nope' (known types: contoso.backup, contoso.certs, "
         "contoso.monitoring, contoso.policy)\n"),
    ],
    ids=["unknown-train", "unknown-type"],
)
def test_catalog_versions_rejects_unknown_names(args: tuple[str, ...], message: str) -> None:
    result = extctl("catalog", "versions", *args, "--source", "sample-repo")
    assert (result.returncode, result.stdout, result.stderr) == (1, "", message)


@pytest.mark.parametrize(
    "command",
    [("resolve", "--source", "repo"), ("catalog", "versions", "contoso.policy", "--source", "repo")],
    ids=["resolve", "catalog-versions"],
)
def test_json_commands_report_invalid_manifests_as_json(sample_copy: Path, command: tuple[str, ...]) -> None:
    plant(sample_copy, SEEDS[2])
    result = extctl(*command, "-o", "json", cwd=sample_copy.parent)
    assert result.returncode == 1
    schema = "resolve" if command[0] == "resolve" else "catalog-versions"
    assert [e["text"] for e in document(result, schema)["errors"]] == [SEEDS[2].expected]


KUSTOMIZATION = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [extensions]\n"


@pytest.mark.parametrize(
    "command", [("validate", "repo"), ("plan", "--source", "repo", "--offline")], ids=["validate", "plan"])
def test_a_kustomization_yaml_is_refused_until_extctlignore_lists_it(sample_copy: Path,
                                                                      command: tuple[str, ...]) -> None:
    (sample_copy / "kustomization.yaml").write_text(KUSTOMIZATION, encoding="utf-8")
    refused = extctl(*command, cwd=sample_copy.parent)
    assert refused.returncode == 1
    assert ("kustomization.yaml:2:7: error: kind: unknown kind 'Kustomization'; expected one of: Extension, "
            "ExtensionType, Cluster; if this file is not an extctl manifest, add its path to .extctlignore at the "
            "manifests root (gitignore syntax)") in refused.stdout + refused.stderr

    (sample_copy / ".extctlignore").write_text("# kustomize, not extctl\n/kustomization.yaml\n", encoding="utf-8")
    accepted = extctl(*command, cwd=sample_copy.parent)
    if command[0] == "validate":
        assert (accepted.returncode, accepted.stdout) == (0, "repo: valid (4 extension types, 5 extensions)\n")
    else:  # exit 2: changes are planned
        assert (accepted.returncode, accepted.stdout.splitlines()[-1]) == (2, "5 change(s) planned")
