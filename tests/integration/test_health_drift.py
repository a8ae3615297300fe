"""Readiness, drift and adoption (issue 11) on real helm and the sandbox with its workload simulator.

- A healthy chart is Succeeded only once ready; a broken one (image ``:crashloop``: the simulator never
  makes it ready) times out, is remediated (a failed install uninstalled, a failed upgrade rolled back),
  its reason names the unready Deployment, and its dependent is skipped with that reason.
- Drift by hand (a ConfigMap deleted, a Deployment scaled, a Secret edited): ``warn`` reports it with the
  paths, ``disabled`` says nothing, ``enabled`` restores it on the next pass; Secret data is never shown.
- ``helm upgrade --reuse-values --set replicaCount=9`` by hand is drift, reverted under ``enabled``.
- A release installed by hand is adopted with ``takeOwnership`` (revision + 1, uids kept, no uninstall),
  and is a Conflict with a hint without it.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.extctl import ExtctlRun, extension, extension_type
from tests.support.git_remote import GitRemote
from tests.support.sandbox import SandboxHandle
from tests.support.scenario import Scenario

pytestmark = pytest.mark.integration

FAST = ("--remediation-retries", "1", "--remediation-backoff", "1h", "--drift-interval", "0")
BROKEN = {"image": {"tag": "crashloop"}}


@pytest.fixture
def scenario(sandbox: SandboxHandle, git_remote: GitRemote, chart_repo_factory: Any, unique_name: str,
             tmp_path: Path) -> Scenario:
    charts = chart_repo_factory(versions=("1.0.0",), charts=("demo-agent", "demo-web"))
    git_remote.commit({
        "catalog/agent.yaml": extension_type("demo.agent", charts.url, namespace=unique_name),
        "catalog/web.yaml": extension_type("demo.web", charts.url, chart="demo-web", namespace=unique_name),
    }, message="extension types")
    return Scenario(sandbox, git_remote, charts, unique_name, tmp_path / "cache")


def ext(s: Scenario, name: str, type_name: str = "demo.agent", **kwargs: Any) -> str:
    return extension(name, type_name, s.ns, **kwargs)


def by_extension(run: ExtctlRun, event: str = "extension.action") -> dict[str, dict[str, Any]]:
    return {e["extension"]: e for e in run.events if e.get("event") == event}


def apps(s: Scenario) -> Any:
    from kubernetes import client

    return client.AppsV1Api(s.sandbox.api_client())


def everything_printed(s: Scenario) -> str:
    return "".join(r.stdout + r.stderr for r in s.runs)


# --------------------------------------------------------------------------------------------- readiness
def test_readiness_gates_success_remediation_and_dependents(scenario: Scenario) -> None:
    s = scenario
    s.remote.commit({
        "extensions/healthy.yaml": ext(s, "healthy"),
        "extensions/broken.yaml": ext(s, "broken", settings=BROKEN, extra="  timeout: 3s\n"),
        "extensions/needs-broken.yaml": ext(s, "needs-broken", depends_on=["broken"]),
        "extensions/unwatched.yaml": ext(s, "unwatched", settings=BROKEN, extra="  wait: false\n"),
    }, message="one healthy, one broken, one depending on the broken one, one not waited for")
    run = s.reconcile(*FAST)
    actions = by_extension(run)

    assert (actions["healthy"]["action"], actions["healthy"]["outcome"]) == ("install", "succeeded")
    ready = apps(s).read_namespaced_deployment("healthy", s.ns)
    assert (ready.status.ready_replicas, ready.status.observed_generation) == (1, ready.metadata.generation), \
        "helm returned (and extctl said succeeded) only once the Deployment was ready"

    broken = actions["broken"]
    assert (broken["action"], broken["outcome"], broken["error_reason"], broken["transient"]) == (
        "install", "failed", "NotReady", True)
    assert f"not ready before the timeout: Deployment {s.ns}/broken (InProgress; Available: 0/1)" in broken["error"]
    assert "broken" not in s.releases(), "the failed install was remediated: uninstalled"
    assert [e for e in run.events if e.get("event") == "remediation.uninstalled" and e.get("extension") == "broken"]

    dependent = actions["needs-broken"]
    assert (dependent["action"], dependent["state"], dependent["outcome"]) == (
        "skip", "dependency-not-ready", "skipped")
    assert f"broken (install: failed: helm install: not ready before the timeout: Deployment {s.ns}/broken" \
        in dependent["reason"], dependent["reason"]
    assert (actions["unwatched"]["action"], actions["unwatched"]["outcome"]) == ("install", "succeeded"), \
        "spec.wait: false: the API server accepting the objects is enough"
    assert run.summary()["failed"] == 1 and run.returncode == 1

    # A broken upgrade of a healthy release is rolled back to the last ready revision.
    s.remote.commit({"extensions/healthy.yaml": ext(s, "healthy", settings=BROKEN, extra="  timeout: 3s\n"),
                     "extensions/broken.yaml": None, "extensions/needs-broken.yaml": None}, message="break healthy")
    upgrade = by_extension(s.reconcile(*FAST))["healthy"]
    assert (upgrade["action"], upgrade["outcome"], upgrade["error_reason"]) == ("upgrade", "failed", "NotReady")
    assert [(h["revision"], h["status"]) for h in s.history("healthy")] == [
        (1, "superseded"), (2, "failed"), (3, "deployed")], "rolled back to revision 1 as revision 3"
    image = apps(s).read_namespaced_deployment("healthy", s.ns).spec.template.spec.containers[0].image
    assert not image.endswith(":crashloop")


# ------------------------------------------------------------------------------------------------- drift
def test_drift_is_reported_ignored_or_corrected_by_mode(scenario: Scenario) -> None:
    s = scenario
    core = s.sandbox.core_v1()
    core.create_namespace({"metadata": {"name": s.ns}})
    core.create_namespaced_secret(s.ns, {"metadata": {"name": "web-token"}, "stringData": {"token": "s3cr3t-token"}})
    web = {"protected": [{"secretName": "web-token", "key": "token", "targetPath": "apiKey"}]}
    s.remote.commit({"extensions/agent.yaml": ext(s, "agent"), "extensions/web.yaml": ext(s, "web", "demo.web", **web)},
                    message="agent and web")
    assert s.reconcile(*FAST).returncode == 0
    secret_before = core.read_namespaced_secret("web-credentials", s.ns).data["apiKey"]

    # By hand: a ConfigMap deleted, the Deployment scaled, the Secret edited.
    core.delete_namespaced_config_map("agent-settings", s.ns)
    apps(s).patch_namespaced_deployment("agent", s.ns, {"spec": {"replicas": 3}})
    hand_edited = base64.b64encode(b"hand-edited-value").decode()
    core.patch_namespaced_secret("web-credentials", s.ns, {"data": {"apiKey": hand_edited}})

    # warn (the default): both reported with their paths, counted, nothing changed.
    warned = s.reconcile(*FAST)
    drift = by_extension(warned, "extension.drift")
    assert set(drift) == {"agent", "web"}, warned.stdout + warned.stderr
    assert drift["agent"]["drift"] == [f"ConfigMap {s.ns}/agent-settings deleted",
                                       f"Deployment {s.ns}/agent: /spec/replicas (1 → 3)"]
    assert drift["web"]["drift"] == [f"Secret {s.ns}/web-credentials: /data/apiKey"]
    assert {e["extension"]: (e["action"], e["state"]) for e in warned.actions()} == {
        "agent": ("noop", "drift-reported"), "web": ("noop", "drift-reported")}
    assert drift["agent"]["corrected"] is False and warned.summary()["drifted"] == 2 and warned.returncode == 0
    assert apps(s).read_namespaced_deployment("agent", s.ns).spec.replicas == 3, "warn changes nothing"

    # The plan shows the same drift, and so does a preview against the live cluster.
    planned = s.plan(*FAST)
    assert any("/spec/replicas (1 → 3)" in r for a in planned_actions(planned) for r in a["reasons"])
    preview = s.extctl("preview", "--source", s.remote.file_url, "--base", "main", "--head", "main", "--cluster",
                       "--instance", s.ns, "--cache-dir", str(s.cache), "--output", "json")
    others = {o["extension"]: o for o in json.loads(preview.stdout)["others"]}
    assert others["agent"]["drift"] == drift["agent"]["drift"]
    markdown = s.extctl("preview", "--source", s.remote.file_url, "--base", "main", "--head", "main", "--cluster",
                        "--instance", s.ns, "--cache-dir", str(s.cache))
    assert "**Drift in the cluster**" in markdown.stdout and f"Deployment {s.ns}/agent: /spec/replicas" in \
        markdown.stdout, markdown.stdout + markdown.stderr

    # disabled: says nothing.
    quiet = s.reconcile(*FAST, "--drift-detection", "disabled")
    assert not by_extension(quiet, "extension.drift") and quiet.summary()["drifted"] == 0
    assert {a["state"] for a in quiet.actions()} == {"in-sync"}

    # enabled (in the spec): an upgrade restores all three on the next pass, and says what it restored.
    enabled = "  driftDetection:\n    mode: enabled\n"
    s.remote.commit({"extensions/agent.yaml": ext(s, "agent", extra=enabled),
                     "extensions/web.yaml": ext(s, "web", "demo.web", extra=enabled, **web)}, message="correct drift")
    corrected = s.reconcile(*FAST)
    actions = by_extension(corrected)
    assert {n: (a["action"], a["state"], a["outcome"]) for n, a in actions.items()} == {
        "agent": ("upgrade", "drifted", "succeeded"), "web": ("upgrade", "drifted", "succeeded")}
    assert f"restored what drifted: ConfigMap {s.ns}/agent-settings deleted" in actions["agent"]["reason"]
    assert by_extension(corrected, "extension.drift")["agent"]["corrected"] is True
    assert core.read_namespaced_config_map("agent-settings", s.ns).data["chartVersion"] == "1.0.0"
    assert apps(s).read_namespaced_deployment("agent", s.ns).spec.replicas == 1
    assert core.read_namespaced_secret("web-credentials", s.ns).data["apiKey"] == secret_before
    assert {a["state"] for a in s.reconcile(*FAST).actions()} == {"in-sync"}, "nothing left to correct"

    # Secret data never appears, in clear or base64, in anything extctl printed.
    printed = everything_printed(s)
    for value in ("s3cr3t-token", secret_before, "hand-edited-value", hand_edited):
        assert value not in printed


def planned_actions(run: ExtctlRun) -> list[dict[str, Any]]:
    actions: list[dict[str, Any]] = json.loads(run.stdout)["actions"]
    return actions


def test_an_out_of_band_helm_upgrade_is_drift_and_is_reverted(scenario: Scenario) -> None:
    s = scenario
    s.remote.commit({"extensions/agent.yaml": ext(s, "agent", extra="  driftDetection:\n    mode: enabled\n")},
                    message="agent")
    assert s.reconcile(*FAST).returncode == 0
    s.sandbox.helm("upgrade", "agent", str(s.charts.root / "demo-agent-1.0.0.tgz"), "-n", s.ns, "--reuse-values",
                   "--set", "replicaCount=9", "--server-side=false", "--disable-openapi-validation")
    assert apps(s).read_namespaced_deployment("agent", s.ns).spec.replicas == 9

    run = s.reconcile(*FAST)
    action = by_extension(run)["agent"]
    assert (action["action"], action["state"], action["outcome"]) == ("upgrade", "drifted", "succeeded")
    assert "helm revision 2 was not made by extctl (its last install or upgrade made revision 1)" in action["reason"]
    assert apps(s).read_namespaced_deployment("agent", s.ns).spec.replicas == 1
    assert "replicaCount" not in s.values("agent") and s.revisions()["agent"] == 3
    assert by_extension(s.reconcile(*FAST))["agent"]["state"] == "in-sync"


# ---------------------------------------------------------------------------------------------- adoption
def test_an_unowned_release_is_adopted_only_with_take_ownership(scenario: Scenario) -> None:
    s = scenario
    s.sandbox.core_v1().create_namespace({"metadata": {"name": s.ns}})
    s.sandbox.helm("install", "legacy", str(s.charts.root / "demo-agent-1.0.0.tgz"), "-n", s.ns, "--wait=watcher",
                   "--server-side=false", "--disable-openapi-validation")
    uids = {"cm": s.sandbox.core_v1().read_namespaced_config_map("legacy-settings", s.ns).metadata.uid,
            "deploy": apps(s).read_namespaced_deployment("legacy", s.ns).metadata.uid}

    s.remote.commit({"extensions/legacy.yaml": ext(s, "legacy")}, message="claim legacy")
    conflict = by_extension(s.reconcile(*FAST))["legacy"]
    assert (conflict["action"], conflict["state"], conflict["error_reason"]) == ("fail", "foreign", "Conflict")
    assert "set spec.takeOwnership: true on the extension or run with --take-ownership" in conflict["error"]
    assert s.revisions()["legacy"] == 1, "never touched without the flag"

    s.remote.commit({"extensions/legacy.yaml": ext(s, "legacy", extra="  takeOwnership: true\n")}, message="adopt")
    adopted = by_extension(s.reconcile(*FAST))["legacy"]
    assert (adopted["action"], adopted["state"], adopted["outcome"]) == ("upgrade", "unowned", "succeeded")
    assert [(h["revision"], h["status"]) for h in s.history("legacy")] == [(1, "superseded"), (2, "deployed")], \
        "no uninstall: one upgrade"
    assert s.metadata("legacy")["labels"]["extctl.dev/managed-by"] == "extctl"
    assert uids == {"cm": s.sandbox.core_v1().read_namespaced_config_map("legacy-settings", s.ns).metadata.uid,
                    "deploy": apps(s).read_namespaced_deployment("legacy", s.ns).metadata.uid}, "objects kept"
    assert by_extension(s.reconcile(*FAST))["legacy"]["state"] == "in-sync"
