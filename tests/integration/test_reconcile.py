"""End to end: a real Git remote, a real chart repository, real helm, the sandbox; extctl as a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.chart_repo import ChartRepo
from tests.support.extctl import ExtctlRun, extension, extension_type, run_extctl
from tests.support.git_remote import GitRemote
from tests.support.localnet import wait_for
from tests.support.sandbox import SandboxHandle
from tests.support.scenario import Scenario

pytestmark = pytest.mark.integration
DOCUMENTED_ACTION_FIELDS = {"event", "reconcile_id", "revision", "extension", "action", "state", "namespace",
                            "from_version", "to_version", "outcome", "duration_ms", "reason", "timestamp", "level"}
DOCUMENTED_SUMMARY_FIELDS = {"event", "reconcile_id", "revision", "outcome", "installed", "upgraded", "downgraded",
                             "reinstalled", "unlocked", "uninstalled", "unchanged", "failed", "skipped", "pending",
                             "planned", "duration_ms", "helm_calls"}


@pytest.fixture
def scenario(sandbox: SandboxHandle, git_remote: GitRemote, chart_repo_factory: Any, unique_name: str,
             tmp_path: Path) -> Scenario:
    charts = chart_repo_factory(versions=("1.0.0", "1.1.0"))
    ns = unique_name
    git_remote.commit({
        "catalog/agent.yaml": extension_type("demo.agent", charts.url, namespace=ns),
        "extensions/agent.yaml": extension("agent", "demo.agent", ns, settings={"logLevel": "info"}),
        "extensions/pinned.yaml": extension("pinned", "demo.agent", ns, version="1.0.0"),
        "extensions/web.yaml": extension("web", "demo.agent", ns, depends_on=["agent"]),
    }, message="initial extensions")
    return Scenario(sandbox, git_remote, charts, ns, tmp_path / "cache")


def test_first_pass_installs_everything_second_pass_changes_nothing(scenario: Scenario) -> None:
    first = scenario.reconcile()
    assert first.returncode == 0, first.stdout + first.stderr
    assert sorted(first.changes()) == [("agent", "install", "succeeded"), ("pinned", "install", "succeeded"),
                                       ("web", "install", "succeeded")]
    versions = {name: scenario.metadata(name)["version"] for name in scenario.releases()}
    assert versions == {"agent": "1.1.0", "pinned": "1.0.0", "web": "1.1.0"}
    # dependsOn: web's action line comes after agent's.
    order = [a["extension"] for a in first.actions()]
    assert order.index("agent") < order.index("web")
    assert first.summary()["installed"] == 3

    second = scenario.reconcile()
    assert second.returncode == 0
    assert second.changes() == []
    summary = second.summary()
    assert (summary["installed"], summary["upgraded"], summary["uninstalled"], summary["unchanged"]) == (0, 0, 0, 3)
    assert scenario.revisions() == {"agent": 1, "pinned": 1, "web": 1}


def test_settings_change_upgrades_exactly_that_extension(scenario: Scenario) -> None:
    assert scenario.reconcile().returncode == 0
    before = scenario.metadata("agent")["labels"]["extctl.dev/values-digest"]
    scenario.remote.commit({"extensions/agent.yaml": extension("agent", "demo.agent", scenario.ns,
                                                               settings={"logLevel": "debug", "replicaCount": 2})})
    planned = next(a for a in plan_actions(scenario.plan()) if a["extension"] == "agent")
    assert planned["reasons"] == ["settings changed: logLevel, replicaCount"], "the keys, never the values"
    result = scenario.reconcile()
    assert result.returncode == 0
    assert result.changes() == [("agent", "upgrade", "succeeded")]
    assert next(a for a in result.actions() if a["extension"] == "agent")["reason"] == \
        "settings changed: logLevel, replicaCount"
    assert scenario.revisions() == {"agent": 2, "pinned": 1, "web": 1}
    after = scenario.metadata("agent")["labels"]
    assert after["extctl.dev/values-digest"] != before
    assert after["extctl.dev/source-revision"] == scenario.remote.head()
    cm = scenario.sandbox.core_v1().read_namespaced_config_map("agent-settings", scenario.ns)
    assert cm.data["value.logLevel"] == "debug"


def test_new_minor_auto_upgrades_new_major_never_pinned_stays(scenario: Scenario) -> None:
    assert scenario.reconcile().returncode == 0
    scenario.charts.publish("1.2.0")
    result = scenario.reconcile()
    assert sorted(result.changes()) == [("agent", "upgrade", "succeeded"), ("web", "upgrade", "succeeded")]
    agent_line = next(a for a in result.actions() if a["extension"] == "agent")
    assert (agent_line["from_version"], agent_line["to_version"]) == ("1.1.0", "1.2.0")

    scenario.charts.publish("2.0.0")
    result = scenario.reconcile()
    assert result.changes() == []
    assert {n: scenario.metadata(n)["version"] for n in ("agent", "pinned", "web")} == {
        "agent": "1.2.0", "pinned": "1.0.0", "web": "1.2.0"}
    plan = scenario.plan()
    agent = next(a for a in plan_actions(plan) if a["extension"] == "agent")
    assert agent["resolution"]["newer_major_available"] == "2.0.0"


def plan_actions(run: ExtctlRun) -> list[dict[str, Any]]:
    data: dict[str, Any] = run.document("plan")
    actions: list[dict[str, Any]] = data["actions"]
    return actions


def test_deleting_a_manifest_uninstalls_only_that_release_and_unowned_clash_is_conflict(
    scenario: Scenario, chart_repo: ChartRepo
) -> None:
    assert scenario.reconcile().returncode == 0
    # A release extctl did not create, on the name an extension wants.
    scenario.sandbox.helm("install", "intruder", f"{scenario.charts.url}/demo-agent-1.0.0.tgz", "-n", scenario.ns,
                          "--server-side=false", "--disable-openapi-validation")
    scenario.remote.commit({
        "extensions/pinned.yaml": None,
        "extensions/intruder.yaml": extension("intruder", "demo.agent", scenario.ns),
    })
    result = scenario.reconcile()
    assert result.returncode == 1, "a conflict is a failure the user must see"
    changes = dict(((e, a), o) for e, a, o in result.changes())
    assert changes == {("pinned", "uninstall"): "succeeded", ("intruder", "fail"): "failed"}
    conflict = next(a for a in result.actions() if a["extension"] == "intruder")
    assert (conflict["state"], conflict["error_reason"]) == ("foreign", "Conflict")
    assert f"release {scenario.ns}/intruder already exists" in conflict["reason"]
    releases = scenario.releases()
    assert set(releases) == {"agent", "web", "intruder"}
    assert releases["intruder"]["revision"] == "1", "the unowned release was not touched"


def test_plan_changes_nothing(scenario: Scenario) -> None:
    result = scenario.plan()
    assert result.returncode == 2, "changes planned: exit 2, as helmfile's --detailed-exitcode"
    assert {a["extension"]: a["action"] for a in plan_actions(result)} == {
        "agent": "install", "pinned": "install", "web": "install"}
    # Read-only: not even the system namespace or the state ConfigMap are created.
    assert scenario.state_store() == {}
    assert scenario.releases() == {}
    assert scenario.reconcile().returncode == 0
    history_before = scenario.sandbox.helm_json("history", "agent", "-n", scenario.ns)
    scenario.remote.commit({"extensions/agent.yaml": extension("agent", "demo.agent", scenario.ns,
                                                               settings={"logLevel": "warn"})})
    result = scenario.plan()
    assert result.returncode == 2
    assert {a["extension"]: a["action"] for a in plan_actions(result)} == {
        "agent": "upgrade", "pinned": "noop", "web": "noop"}
    assert scenario.sandbox.helm_json("history", "agent", "-n", scenario.ns) == history_before
    assert scenario.reconcile().returncode == 0
    unchanged = scenario.plan()
    assert unchanged.returncode == 0, "nothing to change: exit 0"
    offline = run_extctl(None, "plan", *scenario.source_args(), "--offline", "--output", "json")
    assert offline.returncode == 2, offline.stderr
    assert {a["action"] for a in plan_actions(offline)} == {"install"}


def test_console_lines_are_short_and_ordered(scenario: Scenario) -> None:
    """``--log-format console`` (a TTY's default): what happened to which extension first, revisions to 12
    hex digits, no null fields; the JSON lines of the same pass keep the full revision."""
    console = scenario.extctl("reconcile", "--once", *scenario.source_args(), "--log-format", "console")
    assert console.returncode == 0, console.stdout + console.stderr
    lines = console.stdout.splitlines()
    actions = [line for line in lines if " extension.action " in line]
    assert len(actions) == 3, console.stdout
    for line in actions:
        keys = [field.split("=", 1)[0] for field in line.split(" extension.action ", 1)[1].split()[:3]]
        assert keys == ["extension", "action", "outcome"], line
    assert all("None" not in line for line in lines), console.stdout
    revisions = {field for line in lines for field in line.split() if field.startswith("revision=")}
    assert revisions == {f"revision=main@sha1:{scenario.remote.head()[:12]}"}, revisions
    assert max(len(line) for line in lines) <= 320, max(lines, key=len)
    assert scenario.reconcile().summary()["revision"] == f"main@sha1:{scenario.remote.head()}"


def test_json_log_lines_carry_documented_fields(scenario: Scenario) -> None:
    result = scenario.reconcile()
    assert result.events, result.stdout
    for action in result.actions():
        assert set(action) >= DOCUMENTED_ACTION_FIELDS, set(DOCUMENTED_ACTION_FIELDS) - set(action)
        assert action["revision"].startswith("main@sha1:")
    summary = result.summary()
    assert set(summary) >= DOCUMENTED_SUMMARY_FIELDS
    assert len({e["reconcile_id"] for e in result.events}) == 1


def test_sigterm_during_a_long_action_exits_cleanly_with_release_deployed(scenario: Scenario) -> None:
    scenario.remote.commit({
        "extensions/pinned.yaml": None, "extensions/web.yaml": None,
        "extensions/agent.yaml": extension("agent", "demo.agent", scenario.ns, settings={
            "annotations": {"sandbox.extctl.dev/delay-seconds": "4"}}),
    })
    process = subprocess.Popen(
        [sys.executable, "-m", "controller", "run", *scenario.source_args(), "--interval", "1h",
         "--log-format", "json"],
        env=scenario.sandbox.full_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: scenario.releases().get("agent", {}).get("status") == "pending-install",
                 timeout=60, what="helm install in flight")
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert scenario.releases()["agent"]["status"] == "deployed"
    assert '"event": "controller.stopped"' in stdout


def test_local_directory_mode_reconciles_on_file_change(
    sandbox: SandboxHandle, chart_repo_factory: Any, unique_name: str, tmp_path: Path
) -> None:
    charts = chart_repo_factory(versions=("1.0.0",))
    source = tmp_path / "repo"
    (source / "extensions").mkdir(parents=True)
    (source / "type.yaml").write_text(extension_type("demo.agent", charts.url, namespace=unique_name))
    manifest = source / "extensions" / "agent.yaml"
    manifest.write_text(extension("agent", "demo.agent", unique_name, settings={"logLevel": "info"}))
    process = subprocess.Popen(
        [sys.executable, "-m", "controller", "run", "--source", str(source), "--interval", "1h",
         "--instance", unique_name, "--log-format", "json"],
        env=sandbox.full_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def revision() -> int:
        rows = sandbox.helm_json("list", "-n", unique_name)
        return int(rows[0]["revision"]) if rows and rows[0]["status"] == "deployed" else 0

    try:
        wait_for(lambda: revision() == 1, timeout=60, what="first install")
        manifest.write_text(extension("agent", "demo.agent", unique_name, settings={"logLevel": "debug"}))
        wait_for(lambda: revision() == 2, timeout=60, what="upgrade triggered by the file change")
    finally:
        os.kill(process.pid, signal.SIGTERM)
        stdout, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    revisions = {e["revision"] for e in (ExtctlRun(0, stdout, "").events) if e.get("revision")}
    assert all(r.startswith("local@sha256:") for r in revisions), revisions


def test_steady_state_pass_of_a_running_controller_costs_one_helm_call(scenario: Scenario, tmp_path: Path) -> None:
    with scenario.start_run("--interval", "1s", log_dir=tmp_path) as controller:
        first = controller.wait_for_event("reconcile.summary", timeout=120)
        assert first["installed"] == 3
        # The first pass also reads the metadata of every other release in the (shared) sandbox once.
        assert first["helm_calls"] >= 6, first  # 1 list + 2 chart pulls (1.0.0, 1.1.0) + 3 installs
        # The first pass recorded the facts of the 3 revisions it made: from then on a pass is one `helm list`.
        second = controller.wait_for_event("reconcile.summary", after=1, timeout=60)
        assert (second["unchanged"], second["helm_calls"]) == (3, 1)
        steady = controller.wait_for_event("reconcile.summary", after=2, timeout=60)
        assert (steady["unchanged"], steady["helm_calls"]) == (3, 1)
        result = controller.terminate()
    assert result.returncode == 0
