"""deploy/: the CRD shipped for admins is the one extctl applies, and the generated manifest runs extctl with
leader election, probes, its HTTP endpoints behind a Service, and the status RBAC.

deploy/extctl.yaml is rendered from deploy/chart (tests/integration/test_deploy_chart.py checks it is current
and valid for every supported Kubernetes version); this reads the committed files only.
"""

from __future__ import annotations

from pathlib import Path

from ruamel.yaml import YAML

from controller.cluster.crd import EXTENSION_CRD

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_the_shipped_crds_are_the_one_extctl_applies() -> None:
    assert YAML(typ="safe").load((DEPLOY / "crd-extensions.yaml").read_text()) == EXTENSION_CRD
    assert YAML(typ="safe").load((DEPLOY / "chart" / "crds" / "extensions.extctl.dev.yaml").read_text()) \
        == EXTENSION_CRD


def test_the_deployment_serves_http_with_probes_and_a_service() -> None:
    documents = list(YAML(typ="safe").load_all((DEPLOY / "extctl.yaml").read_text()))
    kinds = {(d["kind"], d["metadata"]["name"]) for d in documents}
    assert {("Service", "extctl"), ("ClusterRole", "extctl-status"), ("Role", "extctl"),
            ("CustomResourceDefinition", "extensions.extctl.dev")} <= kinds
    deployment = next(d for d in documents if d["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert "--http-addr=0.0.0.0:8080" in container["args"]
    assert "--leader-elect" in container["args"] and deployment["spec"]["replicas"] == 2
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    rules = next(d for d in documents if d["kind"] == "ClusterRole" and d["metadata"]["name"] == "extctl-status")
    granted = {(g, r) for rule in rules["rules"] for g in rule["apiGroups"] for r in rule["resources"]}
    assert {("extctl.dev", "extensions"), ("extctl.dev", "extensions/status"), ("", "events"),
            ("apiextensions.k8s.io", "customresourcedefinitions")} <= granted
    system = next(d for d in documents if d["kind"] == "Role")
    assert ("coordination.k8s.io", "leases") in {(g, r) for rule in system["rules"] for g in rule["apiGroups"]
                                                 for r in rule["resources"]}
