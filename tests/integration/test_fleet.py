"""Fleet (issue 16) end to end: two sandboxes as two clusters, one Git remote, one chart repository.

Each "agent" is ``extctl reconcile --once`` against one sandbox with its own identity (east from
``--cluster-name``, west from the ConfigMap ``extctl-system/extctl-cluster``). The second sandbox is
started once for this module. The fleet preview needs no cluster: its goldens live in ``golden/fleet/``
(regenerate with ``--update-goldens`` and read the diff).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import GoldenCheck
from tests.integration.test_preview import normalise, preview
from tests.support.chart_repo import ChartRepo, RepoFactory
from tests.support.extctl import API, extension, extension_type, run_extctl
from tests.support.git_branches import branch
from tests.support.git_remote import GitRemote
from tests.support.sandbox import SandboxHandle, running_sandbox
from tests.support.scenario import SYSTEM_NAMESPACE, Scenario

pytestmark = pytest.mark.integration
REJECT = {"annotations": {"sandbox.extctl.dev/reject": "denied by policy"}}


@pytest.fixture(scope="module")
def west_sandbox() -> Iterator[SandboxHandle]:
    """The second cluster (the session's ``sandbox`` is east)."""
    with running_sandbox("extctl-sandbox-west-") as handle:
        yield handle


@pytest.fixture
def charts(chart_repo_factory: RepoFactory) -> ChartRepo:
    return chart_repo_factory(versions=("1.0.0", "1.1.0"))


def inventory(**clusters: dict[str, str]) -> str:
    return "---\n".join(f"apiVersion: {API}\nkind: Cluster\nmetadata:\n  name: {name}\n  labels: {json.dumps(labels)}\n"
                        for name, labels in clusters.items())


def placed(name: str, ns: str, placement: str, **kwargs: Any) -> str:
    return extension(name, "demo.agent", ns, **kwargs) + f"  placement: {placement}\n"


def test_two_agents_install_their_placements_and_settings_and_a_moved_label_moves_the_extension(
        sandbox: SandboxHandle, west_sandbox: SandboxHandle, git_remote: GitRemote, charts: ChartRepo, *,
        unique_name: str, tmp_path: Path) -> None:
    ns = unique_name
    east = Scenario(sandbox, git_remote, charts, ns, tmp_path / "east")
    west = Scenario(west_sandbox, git_remote, charts, ns, tmp_path / "west")
    west_sandbox.core_v1().create_namespace({"metadata": {"name": SYSTEM_NAMESPACE}})
    west_sandbox.core_v1().create_namespaced_config_map(SYSTEM_NAMESPACE, {
        "metadata": {"name": "extctl-cluster"}, "data": {"name": "west", "labels": "zone=b"}})
    prod_warn = ("  overrides:\n    - clusterSelector: {matchLabels: {env: prod}}\n"
                 "      configurationSettings: {logLevel: warn}\n")
    git_remote.commit({
        "catalog/agent.yaml": extension_type("demo.agent", charts.url, namespace=ns),
        "clusters.yaml": inventory(east={"env": "prod"}, west={"env": "dev"}),
        "extensions/base.yaml": extension("base", "demo.agent", ns, settings={"logLevel": "info"}, extra=prod_warn),
        "extensions/agent.yaml": placed("agent", ns, "{clusterSelector: {matchLabels: {env: prod}}}"),
        "extensions/tools.yaml": placed("tools", ns, "{clusters: [west]}") + (
            "  overrides: [{clusters: [west], version: 1.0.0}]\n"),
    })
    first_east, first_west = east.reconcile("--cluster-name", "east"), west.reconcile()
    assert first_east.returncode == 0, first_east.stderr
    assert first_west.returncode == 0, first_west.stderr
    assert (first_east.summary()["cluster"], first_east.summary()["cluster_labels"]) == ("east", "env=prod")
    # west's name and extra label come from its ConfigMap; the inventory's labels win where both say something.
    assert (first_west.summary()["cluster"], first_west.summary()["cluster_labels"]) == ("west", "env=dev,zone=b")
    assert {n: r["chart"] for n, r in east.releases().items()} == {"base": "demo-agent-1.1.0",
                                                                    "agent": "demo-agent-1.1.0"}
    assert {n: r["chart"] for n, r in west.releases().items()} == {"base": "demo-agent-1.1.0",
                                                                    "tools": "demo-agent-1.0.0"}
    assert east.settings_configmap("base")["value.logLevel"] == "warn"
    assert west.settings_configmap("base")["value.logLevel"] == "info"
    status = east.extctl("status", "-n", ns)
    assert status.returncode == 0 and "cluster: east (env=prod)" in status.stdout, status.stdout

    git_remote.commit({"clusters.yaml": inventory(east={"env": "dev"}, west={"env": "prod"})}, message="move env=prod")
    moved_east, moved_west = east.reconcile("--cluster-name", "east"), west.reconcile()
    assert moved_east.returncode == 0, moved_east.stderr
    assert moved_west.returncode == 0, moved_west.stderr
    assert sorted(moved_east.changes()) == [("agent", "uninstall", "succeeded"), ("base", "upgrade", "succeeded")]
    removal = next(a for a in moved_east.actions() if a["extension"] == "agent")
    assert removal["reason"] == "placement of extension agent does not select cluster east (env=dev)"
    assert sorted(moved_west.changes()) == [("agent", "install", "succeeded"), ("base", "upgrade", "succeeded")]
    assert set(east.releases()) == {"base"} and set(west.releases()) == {"base", "agent", "tools"}
    assert east.settings_configmap("base")["value.logLevel"] == "info"
    assert west.settings_configmap("base")["value.logLevel"] == "warn"


def test_fleet_status_reports_a_removed_release_and_a_failed_one_as_non_compliant(
        sandbox: SandboxHandle, west_sandbox: SandboxHandle, git_remote: GitRemote, charts: ChartRepo, *,
        unique_name: str, tmp_path: Path) -> None:
    ns = unique_name
    east = Scenario(sandbox, git_remote, charts, ns, tmp_path / "east")
    west = Scenario(west_sandbox, git_remote, charts, ns, tmp_path / "west")
    git_remote.commit({
        "catalog/agent.yaml": extension_type("demo.agent", charts.url, namespace=ns),
        "clusters.yaml": inventory(east={"env": "prod"}, west={"env": "dev"}, north={"env": "dev"}),
        "extensions/agent.yaml": extension("agent", "demo.agent", ns),
        "extensions/broken.yaml": placed("broken", ns, "{clusters: [east]}", settings=REJECT),
    })
    assert east.reconcile("--cluster-name", "east").returncode == 1, "broken fails on east"
    assert west.reconcile("--cluster-name", "west").returncode == 0
    # Someone removes agent from west by hand: its release and its Extension object are gone.
    west_sandbox.helm("uninstall", "agent", "-n", ns)
    west_sandbox.kubectl("delete", "extension", "agent", "-n", ns)

    kubeconfigs = tmp_path / "kubeconfigs"
    kubeconfigs.mkdir()
    # east's name comes from the extctl.dev/cluster annotation of its objects; west has none left (its only
    # object was deleted): the file name stands in.
    shutil.copy(sandbox.env["KUBECONFIG"], kubeconfigs / "a.yaml")
    shutil.copy(west_sandbox.env["KUBECONFIG"], kubeconfigs / "west.yaml")
    source = ["--source", git_remote.http_url, "--cache-dir", str(tmp_path / "fleet"), "--instance", ns]
    table = run_extctl(None, "fleet", "status", *source, "--kubeconfig-dir", str(kubeconfigs))
    assert table.returncode == 1, table.stdout + table.stderr
    rows = {line.split()[0]: line.split()[1:] for line in table.stdout.splitlines()[2:5]}
    assert rows == {"EXTENSION": ["east", "west"], "agent": ["ok", "1.1.0", "missing"],
                    "broken": ["failed", "-"]}, table.stdout
    assert "not checked (in the inventory, no context given): north" in table.stdout

    merged = tmp_path / "merged.yaml"
    merged.write_text(_merged_kubeconfig(sandbox, west_sandbox))
    found = run_extctl(sandbox, "fleet", "status", *source, "--context", "ctx-east", "--context", "ctx-west=west",
                       "-o", "json", env_extra={"KUBECONFIG": str(merged)})
    assert found.returncode == 1, found.stderr
    document = found.document("fleet-status")
    cells = {c["name"]: {n: e["finding"] for n, e in c["extensions"].items()} for c in document["clusters"]}
    assert cells == {"east": {"agent": "ok", "broken": "failed"}, "west": {"agent": "missing"}}
    east_cluster = document["clusters"][0]
    assert (east_cluster["context"], east_cluster["labels"], east_cluster["compliant"]) == (
        "ctx-east", {"env": "prod"}, False)
    assert "denied by policy" in east_cluster["extensions"]["broken"]["detail"]

    # Repaired (west reconciles again, broken leaves Git): every cluster complies.
    git_remote.commit({"extensions/broken.yaml": None}, message="drop broken")
    assert east.reconcile("--cluster-name", "east").returncode == 0
    assert west.reconcile("--cluster-name", "west").returncode == 0
    healthy = run_extctl(None, "fleet", "status", *source, "--kubeconfig-dir", str(kubeconfigs))
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr


def _merged_kubeconfig(east: SandboxHandle, west: SandboxHandle) -> str:
    def server(handle: SandboxHandle) -> str:
        text = Path(handle.env["KUBECONFIG"]).read_text()
        return next(line.split("server:")[1].strip() for line in text.splitlines() if "server:" in line)

    clusters = "".join(f"- name: {n}\n  cluster:\n    server: {server(h)}\n"
                       for n, h in (("east", east), ("west", west)))
    contexts = "".join(f"- name: ctx-{n}\n  context:\n    cluster: {n}\n    user: u\n" for n in ("east", "west"))
    return (f"apiVersion: v1\nkind: Config\nclusters:\n{clusters}contexts:\n{contexts}current-context: ctx-east\n"
            "users:\n- name: u\n  user: {}\n")


# ---------------------------------------------------------------------------------------------- fleet preview
def test_a_fleet_preview_of_a_prod_only_setting_changes_only_prod_clusters(
        git_remote: GitRemote, charts: ChartRepo, tmp_path: Path, golden: GoldenCheck) -> None:
    ns = "demo"
    overrides = ("  overrides:\n    - clusterSelector: {matchLabels: {env: prod}}\n"
                 "      configurationSettings: {logLevel: %s}\n")
    git_remote.commit({
        "catalog/agent.yaml": extension_type("demo.agent", charts.url, namespace=ns),
        "clusters.yaml": inventory(east={"env": "prod", "region": "eu"}, west={"env": "dev"},
                                   north={"env": "prod", "region": "us"}),
        "extensions/base.yaml": extension("base", "demo.agent", ns, settings={"logLevel": "info"},
                                          extra=overrides % "warn"),
        "extensions/tools.yaml": placed("tools", ns, "{clusters: [west]}"),
        "extensions/agent.yaml": placed("agent", ns, "{clusterSelector: {matchLabels: {region: eu}}}"),
    }, message="base")
    branch(git_remote, "feature", {"extensions/base.yaml": extension(
        "base", "demo.agent", ns, settings={"logLevel": "info"}, extra=overrides % "error")})
    repos = {charts.url: "http://127.0.0.1:<PORT>"}
    markdown = preview(git_remote, tmp_path, "--fleet")
    as_json = preview(git_remote, tmp_path, "--fleet", "--output", "json")
    assert markdown.returncode == 2, markdown.stderr
    assert as_json.returncode == 2, as_json.stderr
    golden("fleet/prod-setting.md", normalise(markdown.stdout, git_remote, repos))
    golden("fleet/prod-setting.json", normalise(as_json.stdout, git_remote, repos))
    document = as_json.json
    assert document["matrix"]["base"] == {"east": "upgrade 1.1.0 (settings)", "north": "upgrade 1.1.0 (settings)",
                                          "west": "unchanged"}
    assert document["matrix"]["agent"] == {"east": "unchanged", "north": "-", "west": "-"}
    assert document["stats"]["helm_template_calls"] == 2, "east and north render the same base once per side"

    one = preview(git_remote, tmp_path, "--cluster", "west", "--output", "json")
    assert (one.returncode, one.json["cluster"], one.json["changes"]) == (0, "west (env=dev)", [])
    plan = run_extctl(None, "plan", "--source", git_remote.file_url, "--branch", "feature", "--cluster", "north",
                      "--cache-dir", str(tmp_path / "plan"), "-o", "json")
    assert plan.returncode == 2, plan.stderr
    planned = plan.document("plan")
    assert planned["cluster"]["not_placed"] == ["agent", "tools"]
    assert {a["extension"]: a["action"] for a in planned["actions"]} == {"base": "install"}
    resolved = run_extctl(None, "resolve", "--source", str(git_remote.worktree), "--cluster", "west", "-o", "json")
    assert resolved.returncode == 0, resolved.stdout + resolved.stderr
    assert [e["name"] for e in resolved.document("resolve")["extensions"]] == ["base", "tools"], resolved.stdout
