"""Status in the cluster (issue 12): the Extension objects and their printer columns (the real kubectl),
Events with kubectl-style dedup, ``extctl status`` and its exit codes, and ``extctl run --http-addr``
(Prometheus metrics parsed with ``prometheus_client.parser``, ``/healthz``, ``/readyz``). Every run is
the CLI as a subprocess against the sandbox; waits poll with deadlines."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from ruamel.yaml import YAML

from tests.support.extctl import extension, extension_type
from tests.support.git_remote import GitRemote
from tests.support.localnet import wait_for
from tests.support.output_schemas import assert_output_schema
from tests.support.sandbox import SandboxHandle
from tests.support.scenario import Scenario
from tests.support.webhooks import get

pytestmark = pytest.mark.integration
REJECT = {"annotations": {"sandbox.extctl.dev/reject": "denied by policy"}}
PROTECTED = [{"secretName": "agent-credentials", "key": "apiKey", "targetPath": "logLevel"}]


@pytest.fixture
def scenario(sandbox: SandboxHandle, git_remote: GitRemote, chart_repo_factory: Any, unique_name: str,
             tmp_path: Path) -> Scenario:
    charts = chart_repo_factory(versions=("1.0.0", "1.1.0"))
    git_remote.commit({"catalog/agent.yaml": extension_type("demo.agent", charts.url, namespace=unique_name)},
                      message="extension type")
    return Scenario(sandbox, git_remote, charts, unique_name, tmp_path / "cache")


def rows(s: Scenario, *args: str) -> dict[str, dict[str, str]]:
    """``kubectl get extensions -A`` (the real kubectl, server-side printer columns), this test's namespace."""
    out = s.sandbox.kubectl("get", "extensions", "-A", *args).stdout.splitlines()
    starts = [m.start() for m in re.finditer(r"(?<!\S)\S+(?: \S+)*", out[0])]  # kubectl aligns cells on headers
    header = [out[0][a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
    found = {}
    for line in out[1:]:
        cells = {h: line[a:b].strip() for h, a, b in zip(header, starts, [*starts[1:], None], strict=True)}
        if cells.get("NAMESPACE") == s.ns:
            found[cells["NAME"]] = cells
    return found


def objects(s: Scenario) -> dict[str, dict[str, Any]]:
    listed = json.loads(s.sandbox.kubectl("get", "extensions", "-n", s.ns, "-o", "json").stdout)
    return {o["metadata"]["name"]: o for o in listed["items"]}


def events(s: Scenario) -> list[dict[str, Any]]:
    listed = json.loads(s.sandbox.kubectl("get", "events", "-n", s.ns, "-o", "json").stdout)
    return [e for e in listed["items"] if e.get("involvedObject", {}).get("kind") == "Extension"]


def test_kubectl_get_extensions_and_extctl_status_show_failed_pending_then_fixed(scenario: Scenario) -> None:
    s = scenario
    s.remote.commit({
        "extensions/agent.yaml": extension("agent", "demo.agent", s.ns),
        "extensions/pinned.yaml": extension("pinned", "demo.agent", s.ns, version="1.0.0"),
        "extensions/broken.yaml": extension("broken", "demo.agent", s.ns, settings=REJECT),
        "extensions/waiting.yaml": extension("waiting", "demo.agent", s.ns, protected=PROTECTED),
    })
    assert s.reconcile().returncode == 1
    table = rows(s)
    assert {n: (r["INSTALLED"], r["TARGET"], r["STATE"], r["READY"]) for n, r in table.items()} == {
        "agent": ("1.1.0", "1.1.0", "Succeeded", "True"), "pinned": ("1.0.0", "1.0.0", "Succeeded", "True"),
        "broken": ("", "1.1.0", "Failed", "False"), "waiting": ("", "", "Pending", "False")}
    assert table["agent"]["TYPE"] == "demo.agent" and table["agent"]["TRAIN"] == "stable"
    wide = rows(s, "-o", "wide")
    assert (wide["broken"]["REASON"], wide["waiting"]["REASON"]) == ("ValidationFailed", "SecretNotFound")
    status = {n: o["status"] for n, o in objects(s).items()}
    assert f"Secret {s.ns}/agent-credentials not found" in status["waiting"]["message"]
    assert "denied by policy" in status["broken"]["message"]
    assert status["broken"]["lastAttemptedVersion"] == "1.1.0" and "installedVersion" not in status["broken"]
    ready = {c["type"]: c for c in status["broken"]["conditions"]}
    assert (ready["Ready"]["status"], ready["Stalled"]["status"], ready["Stalled"]["reason"]) == (
        "False", "True", "FailedPermanently")
    annotations = objects(s)["agent"]["metadata"]["annotations"]
    assert annotations["extctl.dev/source-file"] == "extensions/agent.yaml"
    assert annotations["extctl.dev/source-revision"] == f"main@sha1:{s.remote.head()}"

    listing = s.extctl("status", "-n", s.ns)
    assert listing.returncode == 1, "one extension is Failed: exit 1"
    lines = {line.split()[0]: line.split() for line in listing.stdout.splitlines()[1:]}
    assert lines["broken"][6:8] == ["Failed", "False"]
    assert lines["agent"][4:8] == ["1.1.0", "1.1.0", "Succeeded", "True"]
    failed = s.extctl("status", "-n", s.ns, "--state", "failed", "-o", "json").document("status")
    assert [e["name"] for e in failed["extensions"]] == ["broken"]
    detail = s.extctl("status", "broken", "-n", s.ns)
    assert detail.returncode == 1
    for expected in ("Conditions:", "Stalled", "FailedPermanently", "Last actions:", "install", "Events:",
                     "ValidationFailed"):
        assert expected in detail.stdout, detail.stdout
    assert s.extctl("status", "agent", "-n", s.ns).returncode == 0
    one = s.extctl("status", "broken", "-n", s.ns, "-o", "json").document("status")["extensions"][0]
    assert one["status"]["provisioningState"] == "Failed", "the object's status is copied verbatim (camelCase)"
    assert any(e["reason"] == "ValidationFailed" for e in one["events"])

    s.put_secret("agent-credentials", {"apiKey": "debug"})
    s.remote.commit({"extensions/broken.yaml": extension("broken", "demo.agent", s.ns)}, message="fix")
    assert s.reconcile().returncode == 0
    assert {n: (r["INSTALLED"], r["STATE"], r["READY"]) for n, r in rows(s).items()} == {
        "agent": ("1.1.0", "Succeeded", "True"), "pinned": ("1.0.0", "Succeeded", "True"),
        "broken": ("1.1.0", "Succeeded", "True"), "waiting": ("1.1.0", "Succeeded", "True")}
    good = s.extctl("status", "-n", s.ns, "-o", "yaml")
    assert good.returncode == 0 and "provisioningState: Succeeded" in good.stdout
    assert_output_schema("status", YAML(typ="safe", pure=True).load(good.stdout))  # -o yaml: the same document

    s.remote.commit({"extensions/pinned.yaml": None}, message="remove pinned")
    assert s.reconcile().returncode == 0
    assert set(objects(s)) == {"agent", "broken", "waiting"}, "the object of an extension that left Git is deleted"


def test_steady_state_writes_nothing_and_a_repeated_state_change_bumps_its_event(scenario: Scenario) -> None:
    s = scenario
    s.remote.commit({"extensions/agent.yaml": extension("agent", "demo.agent", s.ns),
                     "extensions/waiting.yaml": extension("waiting", "demo.agent", s.ns, protected=PROTECTED)})
    s.reconcile()
    pending = [e for e in events(s) if e["involvedObject"]["name"] == "waiting"]
    assert [(e["type"], e["reason"], e["count"]) for e in pending] == [("Warning", "SecretNotFound", 1)]
    assert "agent-credentials" in pending[0]["message"]
    assert [e["reason"] for e in events(s) if e["involvedObject"]["name"] == "agent"] == ["InstallSucceeded"]

    before = {n: o["metadata"]["resourceVersion"] for n, o in objects(s).items()}
    events_before = {e["metadata"]["name"]: e["metadata"]["resourceVersion"] for e in events(s)}
    s.reconcile()
    assert {n: o["metadata"]["resourceVersion"] for n, o in objects(s).items()} == before, "steady state: no write"
    assert {e["metadata"]["name"]: e["metadata"]["resourceVersion"] for e in events(s)} == events_before

    s.put_secret("agent-credentials", {"apiKey": "info"})
    assert s.reconcile().returncode == 0
    assert sorted(e["reason"] for e in events(s) if e["involvedObject"]["name"] == "waiting") == [
        "InstallSucceeded", "SecretNotFound"]
    s.sandbox.core_v1().delete_namespaced_secret("agent-credentials", s.ns)
    s.reconcile()
    again = [e for e in events(s) if e["involvedObject"]["name"] == "waiting" and e["reason"] == "SecretNotFound"]
    assert [(e["metadata"]["name"], e["count"]) for e in again] == [(pending[0]["metadata"]["name"], 2)]
    assert objects(s)["waiting"]["status"]["provisioningState"] == "Pending"


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def test_metrics_health_and_a_planted_secret_nowhere(scenario: Scenario, tmp_path: Path) -> None:
    s = scenario
    planted = f"planted-{uuid.uuid4().hex}"
    s.put_secret("agent-credentials", {"apiKey": planted})
    slow = {"annotations": {"sandbox.extctl.dev/delay-seconds": "3"}}
    s.remote.commit({"extensions/agent.yaml": extension("agent", "demo.agent", s.ns, protected=PROTECTED,
                                                        settings=slow),
                     "extensions/other.yaml": extension("other", "demo.agent", s.ns, protected=[
                         {"secretName": "agent-credentials", "key": "missing", "targetPath": "x"}])})
    with s.start_run("--interval", "1s", "--http-addr", "127.0.0.1:0", "--liveness-deadline", "1s",
                     log_dir=tmp_path / "run") as run:
        base = f"http://127.0.0.1:{run.wait_for_event('http.listening')['port']}"
        assert get(f"{base}/readyz")[0] == 503, "the first pass (a 3 s install) has not finished"
        wait_for(lambda: get(f"{base}/healthz")[0] == 503, timeout=30, what="healthz failing past the deadline")
        run.wait_for_event("reconcile.summary", timeout=120)
        wait_for(lambda: get(f"{base}/readyz")[0] == 200, timeout=30, what="readyz once the first pass finished")
        wait_for(lambda: get(f"{base}/healthz")[0] == 200, timeout=30, what="healthz ok between passes")
        run.wait_for_event("reconcile.summary", after=1, timeout=60)
        skipped = (("action", "skip"), ("outcome", "pending"), ("reason", "SecretNotFound"))

        def two_passes_counted() -> bool:  # metrics are updated after the summary line, with the status writes
            return _samples(get(f"{base}/metrics")[1]).get(("extctl_actions_total", skipped), 0) >= 2

        wait_for(two_passes_counted, timeout=30, what="the second pass in extctl_actions_total")
        status, text = get(f"{base}/metrics")
        assert status == 200
        samples = _samples(text)
        info = {dict(labels)["extension"]: dict(labels) for (name, labels), value in samples.items()
                if name == "extctl_extension_info" and dict(labels)["namespace"] == s.ns and value == 1}
        assert {n: (i["version"], i["state"], i["type"], i["train"]) for n, i in info.items()} == {
            "agent": ("1.1.0", "Succeeded", "demo.agent", "stable"), "other": ("", "Pending", "demo.agent", "stable")}
        assert samples[("extctl_extension_ready", (("extension", "agent"),))] == 1
        assert samples[("extctl_extension_ready", (("extension", "other"),))] == 0
        install = (("action", "install"), ("outcome", "succeeded"), ("reason", "InstallSucceeded"))
        assert samples[("extctl_actions_total", install)] == 1
        assert samples[("extctl_actions_total", skipped)] >= 2
        assert samples[("extctl_reconcile_duration_seconds_count", (("outcome", "applied"),))] >= 2
        assert samples[("extctl_helm_calls_total", ())] >= 2
        assert samples[("extctl_last_successful_reconcile_timestamp_seconds", ())] > 1.7e9
        assert samples[("extctl_catalog_index_age_seconds", (("repository", s.charts.url),))] >= 0
        assert run.terminate().returncode == 0
    assert planted in s.settings_configmap("agent")["value.logLevel"], "the planted value really was delivered"
    seen = {"metrics": text, "objects": json.dumps(objects(s)), "events": json.dumps(events(s)),
            "status": s.extctl("status", "-n", s.ns, "-o", "json").stdout + s.extctl("status", "agent", "-n", s.ns)
            .stdout, "logs": run.stdout}
    assert {where for where, content in seen.items() if planted in content} == set()


def test_a_source_that_cannot_be_fetched_counts_fetch_errors_and_is_still_ready(
    sandbox: SandboxHandle, tmp_path: Path, unique_name: str
) -> None:
    from tests.support.scenario import BackgroundExtctl

    args = ["run", "--source", "http://127.0.0.1:9/nothing.git", "--cache-dir", str(tmp_path / "cache"),
            "--instance", unique_name, "--interval", "1h", "--http-addr", "127.0.0.1:0", "--log-format", "json"]
    with BackgroundExtctl.start(sandbox, args, log_dir=tmp_path / "run") as run:
        base = f"http://127.0.0.1:{run.wait_for_event('http.listening')['port']}"
        summary = run.wait_for_event("reconcile.summary", outcome="source-error", timeout=60)
        wait_for(lambda: get(f"{base}/readyz")[0] == 200, timeout=30, what="readyz after a failed first pass")
        assert get(f"{base}/healthz")[0] == 200
        samples = _samples(get(f"{base}/metrics")[1])
        assert samples[("extctl_source_fetch_errors_total", (("reason", summary["reason"]),))] == 1
        assert samples[("extctl_reconcile_duration_seconds_count", (("outcome", "source-error"),))] == 1
        assert ("extctl_last_successful_reconcile_timestamp_seconds", ()) in samples
        assert run.terminate().returncode == 0
