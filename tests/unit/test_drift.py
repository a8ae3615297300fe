"""Tables for ``controller.models.drift``: the comparison rule, the ignore list, redaction, scheduling."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest

from controller.models.desired import LABEL_HELM_REVISION
from controller.models.drift import (
    FieldChange,
    ObjectDrift,
    ObjectRef,
    ReleaseDrift,
    compare_object,
    due_for_check,
    out_of_band,
    pointer,
)
from controller.models.manifests import DriftIgnoreRule
from tests.unit.test_plan import observed

DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "agent", "labels": {"app": "agent"}, "annotations": {"team": "a"}},
    "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "agent"}},
             "template": {"metadata": {"labels": {"app": "agent"}},
                          "spec": {"containers": [{"name": "agent", "image": "agent:1.0", "args": ["--v=1"],
                                                   "resources": {"limits": {"cpu": "500m", "memory": "1Gi"}},
                                                   "env": [], "ports": [{"containerPort": 8080}]}]}}},
}


def live_of(desired: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """``desired`` as the API server returns it: server-set metadata, defaults, status; then ``changes``
    (JSON pointer → value, or None to delete the field)."""
    live = copy.deepcopy(desired)
    live["metadata"].update(uid="u1", resourceVersion="7", generation=3, namespace="web",
                            annotations={**live["metadata"].get("annotations", {}), "meta.helm.sh/release-name": "x"})
    if live["kind"] == "Deployment":
        live["spec"].update(strategy={"type": "RollingUpdate"}, revisionHistoryLimit=10)
        container = live["spec"]["template"]["spec"]["containers"][0]
        container.update(imagePullPolicy="IfNotPresent", terminationMessagePath="/dev/termination-log")
        container.pop("env")
        live["status"] = {"replicas": 1, "readyReplicas": 1}
    for path, value in changes.items():
        *parents, last = [int(p) if p.isdigit() else p for p in path.strip("/").split("/")]
        node = live
        for part in parents:
            node = node[part]
        if value is None:
            del node[last]
        else:
            node[last] = value
    return live


def changes_of(found: ObjectDrift | None) -> list[str]:
    return [str(c) for c in found.changes] if found is not None else []


@pytest.mark.parametrize(("live", "expected"), [
    pytest.param(live_of(DEPLOYMENT), [], id="server defaults, status and helm's annotations are no drift"),
    pytest.param(live_of(DEPLOYMENT, **{"/spec/replicas": 9}), ["/spec/replicas (1 → 9)"], id="replicas changed"),
    pytest.param(live_of(DEPLOYMENT, **{"/spec/template/spec/containers/0/image": "agent:evil"}),
                 ["/spec/template/spec/containers/0/image"], id="strings are never quoted"),
    pytest.param(live_of(DEPLOYMENT, **{"/metadata/labels/app": None}), ["/metadata/labels/app"],
                 id="a chart label removed"),
    pytest.param(live_of(DEPLOYMENT, **{"/metadata/labels/extra": "x", "/metadata/annotations/other": "y"}), [],
                 id="labels and annotations the chart does not set are no drift"),
    pytest.param(live_of(DEPLOYMENT, **{"/spec/template/spec/containers": [
        {"name": "istio-proxy", "image": "proxy"},
        {"name": "agent", "image": "agent:1.0", "args": ["--v=1"], "ports": [{"containerPort": 8080}],
         "resources": {"limits": {"cpu": "0.5", "memory": "1024Mi"}}}]}), [],
        id="an injected sidecar is no drift; containers match by name; quantities by amount"),
    pytest.param(live_of(DEPLOYMENT, **{"/spec/template/spec/containers/0/name": "renamed"}),
                 ["/spec/template/spec/containers/0"], id="a chart container missing"),
    pytest.param(live_of(DEPLOYMENT, **{"/spec/template/spec/containers/0/args": ["--v=1", "--debug"]}),
                 ["/spec/template/spec/containers/0/args"], id="a list of values compares whole"),
    pytest.param(live_of(DEPLOYMENT, **{"/spec/template/spec/containers/0/resources/limits/cpu": "2"}),
                 ["/spec/template/spec/containers/0/resources/limits/cpu"], id="a quantity changed"),
])
def test_only_fields_the_chart_sets_are_compared(live: dict[str, Any], expected: list[str]) -> None:
    assert changes_of(compare_object(DEPLOYMENT, live, default_namespace="web")) == expected


def test_a_missing_object_is_deleted_and_named_with_its_namespace() -> None:
    found = compare_object(DEPLOYMENT, None, default_namespace="web")
    assert found == ObjectDrift(ObjectRef("apps/v1", "Deployment", "agent", "web"), deleted=True)
    assert str(found) == "Deployment web/agent deleted"


def _managed(manager: str, fields: dict[str, Any]) -> dict[str, Any]:
    return {"manager": manager, "operation": "Update", "apiVersion": "apps/v1", "fieldsType": "FieldsV1",
            "fieldsV1": fields}


@pytest.mark.parametrize(("manager", "expected"), [
    pytest.param("kube-controller-manager", [], id="an autoscaler's replicas are not drift"),
    pytest.param("kubectl-scale", ["/spec/replicas (1 → 9)"], id="a person's replicas are"),
])
def test_fields_a_controller_owns_in_managed_fields_are_not_compared(manager: str, expected: list[str]) -> None:
    live = live_of(DEPLOYMENT, **{"/spec/replicas": 9})
    live["metadata"]["managedFields"] = [
        _managed("helm", {"f:spec": {"f:template": {"f:spec": {"f:containers": {}}}}}),
        _managed(manager, {"f:spec": {"f:replicas": {}}})]
    assert changes_of(compare_object(DEPLOYMENT, live)) == expected


def test_a_controller_owned_list_item_field_is_matched_by_its_key() -> None:
    live = live_of(DEPLOYMENT, **{"/spec/template/spec/containers/0/image": "agent:2.0",
                                  "/spec/template/spec/containers/0/args": ["--v=2"]})
    live["metadata"]["managedFields"] = [_managed("kube-controller-manager", {"f:spec": {"f:template": {"f:spec": {
        "f:containers": {'k:{"name":"agent"}': {".": {}, "f:image": {}}}}}}})]
    assert changes_of(compare_object(DEPLOYMENT, live)) == ["/spec/template/spec/containers/0/args"]


SECRET = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"}, "type": "Opaque",
          "data": {"apiKey": base64.b64encode(b"s3cr3t-key").decode()}, "stringData": {"token": "t0ken-value"}}


def test_secret_string_data_compares_as_stored_and_values_never_show() -> None:
    stored = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
              "metadata": {"name": "creds", "namespace": "web"},
              "data": {"apiKey": SECRET["data"]["apiKey"], "token": base64.b64encode(b"t0ken-value").decode()}}
    assert compare_object(SECRET, stored) is None
    stored["data"] = {"apiKey": base64.b64encode(b"changed-by-hand").decode(), "token": "eA=="}
    found = compare_object(SECRET, stored)
    assert changes_of(found) == ["/data/apiKey", "/data/token"]
    shown = json.dumps([str(found), [vars(c) for c in found.changes]] if found else [])
    for secret in ("s3cr3t", "czNjcjN0", "t0ken", "dDBrZW4", "changed-by-hand", "Y2hhbmdlZC", "eA=="):
        assert secret not in shown


def test_empty_values_the_chart_sets_equal_absent_fields() -> None:
    desired = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "annotations": {}},
               "data": {"a": "1"}, "binaryData": None}
    assert compare_object(desired, {"metadata": {"name": "c"}, "data": {"a": "1"}}) is None


DRIFT = ReleaseDrift((
    ObjectDrift(ObjectRef("v1", "ConfigMap", "a-settings", "web"), deleted=True),
    ObjectDrift(ObjectRef("apps/v1", "Deployment", "a", "web"),
                changes=(FieldChange("/spec/replicas", "1", "9"), FieldChange("/metadata/labels/x~1y"))),
    ObjectDrift(ObjectRef("batch/v1", "Job", "migrate", "web"), deleted=True),
))


@pytest.mark.parametrize(("rules", "left"), [
    pytest.param((), ["ConfigMap web/a-settings deleted", "Deployment web/a: /spec/replicas (1 → 9), "
                      "/metadata/labels/x~1y", "Job web/migrate deleted"], id="no rules"),
    pytest.param((DriftIgnoreRule(("/spec/replicas",), kind="Deployment"),),
                 ["ConfigMap web/a-settings deleted", "Deployment web/a: /metadata/labels/x~1y",
                  "Job web/migrate deleted"], id="a pointer on a kind"),
    pytest.param((DriftIgnoreRule(("/metadata/labels",)), DriftIgnoreRule(("/spec",), name="other")),
                 ["ConfigMap web/a-settings deleted", "Deployment web/a: /spec/replicas (1 → 9)",
                  "Job web/migrate deleted"], id="a pointer covers what is below it; a target selects"),
    pytest.param((DriftIgnoreRule(("/spec/replicas", "/metadata")),),
                 ["ConfigMap web/a-settings deleted", "Job web/migrate deleted"], id="deletions stay"),
    pytest.param((DriftIgnoreRule(("",), kind="Job", namespace="web"),),
                 ["ConfigMap web/a-settings deleted", "Deployment web/a: /spec/replicas (1 → 9), "
                  "/metadata/labels/x~1y"], id="the empty pointer ignores the whole object"),
    pytest.param((DriftIgnoreRule(("/spec/rep",)),), ["ConfigMap web/a-settings deleted",
                                                      "Deployment web/a: /spec/replicas (1 → 9), /metadata/labels/x~1y",
                                                      "Job web/migrate deleted"], id="pointers match whole segments"),
])
def test_the_ignore_list(rules: tuple[DriftIgnoreRule, ...], left: list[str]) -> None:
    assert [str(o) for o in DRIFT.without(rules).objects] == left


def test_pointer_escapes_as_rfc_6901() -> None:
    assert pointer(["metadata", "annotations", "a/b~c", 0]) == "/metadata/annotations/a~1b~0c/0"


@pytest.mark.parametrize(("labels", "revision", "status", "found"), [
    pytest.param({}, 3, "deployed", False, id="no label (installed by an older extctl): unknown is not drift"),
    pytest.param({LABEL_HELM_REVISION: "3"}, 3, "deployed", False, id="the revision extctl made"),
    pytest.param({LABEL_HELM_REVISION: "2"}, 3, "deployed", True, id="a later revision is out of band"),
    pytest.param({LABEL_HELM_REVISION: "2"}, 3, "failed", False, id="a failed release is handled as failed"),
    pytest.param({LABEL_HELM_REVISION: "junk"}, 3, "deployed", False, id="a label that is not a number"),
])
def test_out_of_band_revision(labels: dict[str, str], revision: int, status: str, found: bool) -> None:
    current = observed("a", revision=revision, status=status)
    current = type(current)(**{**vars(current), "labels": {**current.labels, **labels}})
    assert (out_of_band(current) is not None) is found


def test_due_for_check_spreads_checks_and_takes_the_most_overdue_first() -> None:
    checked: dict[str, float | None] = {f"ns/r{i}": 1000.0 for i in range(200)}
    checked["ns/never"] = None
    assert due_for_check(checked, now=1500.0, interval_s=600) == ["ns/never"]
    assert sorted(due_for_check(checked, now=1000.0, interval_s=0)) == sorted(checked), "interval 0: every pass"
    due_soon = due_for_check(checked, now=1000.0 + 600 * 1.1, interval_s=600)
    assert 40 < len(due_soon) < 160, "a 0-20 % stretch spreads releases checked together over the next passes"
    assert set(due_soon) <= set(due_for_check(checked, now=1000.0 + 600 * 1.2, interval_s=600))
    assert len(due_for_check(checked, now=1000.0 + 600 * 1.2, interval_s=600)) == 201
    limited = due_for_check(checked, now=1000.0 + 600 * 1.2, interval_s=600, limit=10)
    assert limited[0] == "ns/never" and len(limited) == 10
