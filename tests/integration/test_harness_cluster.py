"""The harness is real: the official helm binary and the kubernetes client against the sandbox."""

from __future__ import annotations

import threading

import pytest

from tests.support.chart_repo import ChartRepo
from tests.support.sandbox import SandboxHandle

pytestmark = pytest.mark.integration
CSA = ("--server-side=false",)
NO_VALIDATION = ("--disable-openapi-validation",)


def test_helm_version_is_v4(sandbox: SandboxHandle) -> None:
    out = sandbox.helm("version", "--short").stdout
    assert out.startswith("v4."), out


def test_helm_release_lifecycle_against_sandbox(
    sandbox: SandboxHandle, chart_repo: ChartRepo, unique_name: str
) -> None:
    ns, rel = unique_name, f"{unique_name}-agent"
    chart = f"{chart_repo.url}/demo-agent-1.0.0.tgz"
    upgraded = f"{chart_repo.url}/demo-agent-1.1.0.tgz"
    core = sandbox.core_v1()
    core.create_namespace({"metadata": {"name": ns}})

    sandbox.helm("install", rel, chart, "-n", ns, *CSA, *NO_VALIDATION, "--labels", "extctl.dev/managed-by=extctl",
                 "--set", "greeting=hello")
    cm = core.read_namespaced_config_map(f"{rel}-settings", ns)
    assert cm.data["chartVersion"] == "1.0.0"
    assert cm.data["value.greeting"] == "hello"

    sandbox.helm("upgrade", rel, upgraded, "-n", ns, *CSA, *NO_VALIDATION, "--reset-values", "--set", "greeting=bye")
    cm = core.read_namespaced_config_map(f"{rel}-settings", ns)
    assert (cm.data["chartVersion"], cm.data["value.greeting"]) == ("1.1.0", "bye")

    sandbox.helm("rollback", rel, "1", "-n", ns, *CSA)
    cm = core.read_namespaced_config_map(f"{rel}-settings", ns)
    assert (cm.data["chartVersion"], cm.data["value.greeting"]) == ("1.0.0", "hello")

    history = sandbox.helm_json("history", rel, "-n", ns)
    assert [(h["revision"], h["status"]) for h in history] == [
        (1, "superseded"), (2, "superseded"), (3, "deployed")
    ]
    assert history[2]["description"] == "Rollback to 1"
    metadata = sandbox.helm_json("get", "metadata", rel, "-n", ns)
    assert metadata["labels"]["extctl.dev/managed-by"] == "extctl"
    listed = {(r["namespace"], r["name"]): r for r in sandbox.helm_json("list", "-A")}
    assert listed[(ns, rel)]["status"] == "deployed"

    sandbox.helm("uninstall", rel, "-n", ns)
    assert (ns, rel) not in {(r["namespace"], r["name"]) for r in sandbox.helm_json("list", "-A")}
    assert core.list_namespaced_config_map(ns).items == []


def test_python_client_crud_selectors_and_watch(sandbox: SandboxHandle, unique_name: str) -> None:
    from kubernetes import client, watch
    from kubernetes.client.exceptions import ApiException

    api = sandbox.api_client()
    core = client.CoreV1Api(api)
    ns = unique_name
    core.create_namespace({"metadata": {"name": ns, "labels": {"team": "a"}}})
    assert ns in [n.metadata.name for n in core.list_namespace(label_selector="team=a").items]

    core.create_namespaced_secret(ns, {"metadata": {"name": "creds", "labels": {"tier": "db"}},
                                       "stringData": {"password": "s3cr3t"}})
    assert core.read_namespaced_secret("creds", ns).data == {"password": "czNjcjN0"}
    core.patch_namespaced_secret("creds", ns, {"metadata": {"labels": {"rotated": "yes"}}})
    assert [s.metadata.name for s in core.list_namespaced_secret(ns, label_selector="rotated=yes").items] == ["creds"]
    assert core.list_namespaced_secret(ns, label_selector="tier!=db").items == []

    core.create_namespaced_event(ns, {"metadata": {"generateName": "ev-"}, "involvedObject": {"name": "x"},
                                      "reason": "Installed", "message": "ok"})
    assert [e.reason for e in core.list_namespaced_event(ns).items] == ["Installed"]

    leases = client.CoordinationV1Api(api)
    leases.create_namespaced_lease(ns, {"metadata": {"name": "leader"}, "spec": {"holderIdentity": "a"}})
    lease = leases.read_namespaced_lease("leader", ns)
    lease.spec.holder_identity = "b"
    leases.replace_namespaced_lease("leader", ns, lease)
    assert leases.read_namespaced_lease("leader", ns).spec.holder_identity == "b"

    crds = client.ApiextensionsV1Api(api)
    crds.create_custom_resource_definition({
        "metadata": {"name": f"widgets.{ns}.example.com"},
        "spec": {"group": f"{ns}.example.com", "scope": "Namespaced",
                 "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                 "versions": [{"name": "v1", "served": True, "storage": True,
                               "schema": {"openAPIV3Schema": {"type": "object"}}}]},
    })
    custom = client.CustomObjectsApi(api)
    group = f"{ns}.example.com"
    custom.create_namespaced_custom_object(group, "v1", ns, "widgets", {
        "apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "w1"}, "spec": {"size": 1}})
    custom.patch_namespaced_custom_object(group, "v1", ns, "widgets", "w1", {"spec": {"colour": "red"}})
    assert custom.get_namespaced_custom_object(group, "v1", ns, "widgets", "w1")["spec"] == {"size": 1, "colour": "red"}

    seen: list[tuple[str, str]] = []
    started = threading.Event()

    def produce() -> None:
        started.wait(5)
        core.create_namespaced_config_map(ns, {"metadata": {"name": "watched", "labels": {"w": "1"}}})
        core.create_namespaced_config_map(ns, {"metadata": {"name": "ignored"}})
        core.delete_namespaced_config_map("watched", ns)

    producer = threading.Thread(target=produce)
    producer.start()
    stream = watch.Watch()
    for event in stream.stream(core.list_namespaced_config_map, ns, label_selector="w=1", timeout_seconds=10):
        started.set()
        seen.append((event["type"], event["object"].metadata.name))
        if event["type"] == "DELETED":
            stream.stop()
    started.set()
    producer.join()
    assert seen == [("ADDED", "watched"), ("DELETED", "watched")]

    core.delete_namespaced_secret("creds", ns)
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_secret("creds", ns)
    assert missing.value.status == 404


def test_kubectl_reads_objects(sandbox: SandboxHandle, unique_name: str) -> None:
    core = sandbox.core_v1()
    core.create_namespace({"metadata": {"name": unique_name}})
    core.create_namespaced_config_map(unique_name, {"metadata": {"name": "settings"}, "data": {"a": "1"}})
    out = sandbox.kubectl("get", "configmaps", "-n", unique_name, "-o", "name").stdout
    assert out.strip() == "configmap/settings"
    out = sandbox.kubectl("get", "namespaces", "-o", "jsonpath={.items[*].metadata.name}").stdout
    assert unique_name in out.split()


def test_a_change_made_while_a_watch_replays_is_streamed(sandbox: SandboxHandle, unique_name: str) -> None:
    """helm's --wait=watcher lists, then watches: a status written while the watch replays the existing
    objects must still arrive, or helm waits for ever for a Deployment that is already ready."""
    import http.client
    import json

    core = sandbox.core_v1()
    ns = unique_name
    core.create_namespace({"metadata": {"name": ns}})
    bulk = "x" * 512 * 1024  # 40 x 512 KiB: more than the loopback socket buffers hold, so the replay blocks
    for i in range(40):
        core.create_namespaced_config_map(ns, {"metadata": {"name": f"bulk-{i:02d}"}, "data": {"v": bulk}})
    state = sandbox.sandbox.load_state()
    assert state is not None
    conn = http.client.HTTPConnection("127.0.0.1", state.emulator_port, timeout=30)
    conn.request("GET", f"/api/v1/namespaces/{ns}/configmaps?watch=true&timeoutSeconds=20")
    response = conn.getresponse()
    first = json.loads(response.readline())
    assert first["type"] == "ADDED"  # the replay has begun and is stalled on the unread socket
    core.patch_namespaced_config_map("bulk-39", ns, {"metadata": {"labels": {"changed": "during-replay"}}})
    seen: list[tuple[str, str]] = []
    while not seen or seen[-1][0] != "MODIFIED":
        line = response.readline()
        assert line, f"the watch ended without the change; saw {len(seen)} events"
        event = json.loads(line)
        seen.append((event["type"], event["object"]["metadata"]["name"]))
    conn.close()
    assert seen[-1] == ("MODIFIED", "bulk-39")
    assert len(seen) == 39 + 1  # the rest of the replay, then the change
