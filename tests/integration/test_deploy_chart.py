"""deploy/chart: helm lint, helm template with the default and the ci/ values, every rendered object valid
for each Kubernetes minor the chart claims (kubernetes-validate, strict, offline schemas), values.schema.json
refusing bad values, and deploy/extctl.yaml plus the chart's CRD generated from their sources.

Uses the pinned helm; nothing is installed (tests/integration/test_deploy_bootstrap.py installs it).
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import kubernetes_validate
import pytest
from ruamel.yaml import YAML

from controller import __version__
from controller.cluster.crd import EXTENSION_CRD
from tests.support.charts import helm_env, run_helm

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "chart"
NAMESPACE = "extctl-system"
VALUES = {"default": None, **{p.stem: p for p in sorted((CHART / "ci").glob("*.yaml"))}}
CHART_META = YAML(typ="safe").load((CHART / "Chart.yaml").read_text())
KUBE_VERSIONS = [v.strip() for v in CHART_META["annotations"]["extctl.dev/tested-kubernetes-versions"].split(",")]
# prometheus-operator's kind: not a Kubernetes API, so not in kubernetes-validate; checked against the Service.
NOT_KUBERNETES = {("monitoring.coreos.com/v1", "ServiceMonitor")}


def load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return helm_env(tmp_path_factory.mktemp("helm-home"))


def template(env: dict[str, str], values: Path | None, *args: str, namespace: str = NAMESPACE) -> str:
    files = ["--values", str(values)] if values else []
    return run_helm(["template", "extctl", str(CHART), "--namespace", namespace, "--include-crds", *files, *args],
                    env=env)


def objects(text: str) -> list[dict[str, Any]]:
    return [doc for doc in YAML(typ="safe").load_all(text) if doc]


@pytest.fixture(scope="module")
def rendered(env: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    return {name: objects(template(env, path)) for name, path in VALUES.items()}


def one(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"{kind} {name or ''}: {len(found)} rendered"
    return found[0]


def container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]


@pytest.mark.parametrize("values", VALUES.values(), ids=list(VALUES))
def test_helm_lint_strict(env: dict[str, str], values: Path | None) -> None:
    out = run_helm(["lint", "--strict", str(CHART), "--namespace", NAMESPACE,
                    *(["--values", str(values)] if values else [])], env=env)
    assert "1 chart(s) linted, 0 chart(s) failed" in out


@pytest.mark.parametrize("version", KUBE_VERSIONS)
@pytest.mark.parametrize("values", list(VALUES))
def test_every_object_is_valid_for_the_supported_kubernetes_versions(
        rendered: dict[str, list[dict[str, Any]]], values: str, version: str) -> None:
    checked = 0
    for doc in rendered[values]:
        if (doc["apiVersion"], doc["kind"]) in NOT_KUBERNETES:
            continue
        try:
            assert kubernetes_validate.validate(doc, version, strict=True) == version
        except kubernetes_validate.ValidationError as e:
            path = ".".join(str(p) for p in e.path)
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']} ({values} values) is invalid for Kubernetes "
                        f"{version}: {path}: {e.message}")
        checked += 1
    assert checked >= 3  # CRD, Service, Deployment at least


def test_the_versions_claimed_are_the_newest_the_schemas_know_and_match_kube_version() -> None:
    shipped = sorted({".".join(v.split(".")[:2]) for v in kubernetes_validate.utils.all_versions()},
                     key=lambda v: tuple(map(int, v.split("."))))
    assert shipped[-len(KUBE_VERSIONS):] == KUBE_VERSIONS
    assert CHART_META["kubeVersion"] == f">={KUBE_VERSIONS[0]}.0-0"


def test_chart_and_app_versions_are_extctls() -> None:
    assert CHART_META["version"] == CHART_META["appVersion"] == __version__


def test_the_default_install_is_two_leader_elected_hardened_replicas(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["default"]
    deployment = one(docs, "Deployment", "extctl")
    pod = deployment["spec"]["template"]["spec"]
    main = container(docs)
    assert deployment["spec"]["replicas"] == 2
    assert "--leader-elect" in main["args"] and "--http-addr=0.0.0.0:8080" in main["args"]
    assert main["image"] == f"ghcr.io/example/extctl:{__version__}"
    assert main["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert main["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert main["securityContext"] == {"runAsNonRoot": True, "allowPrivilegeEscalation": False,
                                       "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]},
                                       "seccompProfile": {"type": "RuntimeDefault"}}
    assert pod["terminationGracePeriodSeconds"] == 360 and "--shutdown-grace=330s" in main["args"]
    empty_dirs = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
    assert {m["mountPath"]: m["name"] for m in main["volumeMounts"]} == {"/var/cache/extctl": "cache", "/tmp": "tmp"}
    assert empty_dirs == {"cache", "tmp"}
    # Followers are not ready, so a rolling update could never replace the leader: Recreate.
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert "--leader-election-namespace=extctl-system" in main["args"]
    service = one(docs, "Service", "extctl")
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert {"extctl-system", None} >= {d["metadata"].get("namespace") for d in docs}
    assert one(docs, "CustomResourceDefinition") == EXTENSION_CRD


def test_the_image_writes_only_where_the_chart_mounts_empty_dirs(rendered: dict[str, list[dict[str, Any]]]) -> None:
    text = (ROOT / "Dockerfile").read_text()
    runtime = text[text.rindex("\nFROM "):]
    env_block = runtime[runtime.index("\nENV "):].split("\nUSER")[0]
    written = {name: path for name, path in re.findall(r"(HOME|TMPDIR|EXTCTL_CACHE_DIR|HELM_\w+_HOME)=(\S+)",
                                                      env_block)}
    assert len(written) == 6, written
    mounts = [m["mountPath"] for m in container(rendered["default"])["volumeMounts"]]
    for name, path in written.items():
        assert any(path == m or path.startswith(m + "/") for m in mounts), f"{name}={path} is not on a volume"


def test_credentials_are_referenced_never_rendered(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["full-values"]
    assert not [d for d in docs if d["kind"] == "Secret"], "the chart creates no Secret: values hold no secret"
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    main = container(docs)
    secrets = {v["secret"]["secretName"]: v["name"] for v in pod["volumes"] if "secret" in v}
    assert set(secrets) == {"extctl-git-ssh", "extctl-webhook", "contoso-charts", "ghcr-token"}
    mounts = {m["name"]: m["mountPath"] for m in main["volumeMounts"]}
    assert all(m.get("readOnly") for m in main["volumeMounts"] if m["name"] in secrets.values())
    env = {e["name"]: e.get("value") for e in main["env"]}
    assert next(e for e in main["env"] if e["name"] == "POD_NAME")["valueFrom"]["fieldRef"] == {
        "fieldPath": "metadata.name"}
    assert env["EXTCTL_GIT_SSH_KEY_FILE"] == f"{mounts['git']}/id_ed25519"
    assert f"--webhook-secret-file={mounts['webhook']}/github" in main["args"]
    assert f"--ssh-known-hosts={mounts['known-hosts']}/known_hosts" in main["args"]
    assert f"--repo-credentials={mounts['repositories']}/repositories.yaml" in main["args"]
    assert mounts["repository-secret-0"] == "/var/run/secrets/contoso-charts"
    basic = {e["name"]: e.get("value") for e in container(rendered["basic-auth-values"])["env"]}
    assert basic == {"POD_NAME": None, "EXTCTL_GIT_USERNAME": "extctl-bot",
                     "EXTCTL_GIT_PASSWORD_FILE": "/var/run/secrets/extctl/git/password"}


def test_every_flag_the_chart_passes_is_one_extctl_run_accepts(rendered: dict[str, list[dict[str, Any]]]) -> None:
    result = subprocess.run([sys.executable, "-m", "controller", "run", "--help"], capture_output=True, text=True,
                            check=True, timeout=60)
    accepted = set(re.findall(r"(--[a-z][-a-z]*)", result.stdout))
    for name, docs in rendered.items():
        flags = {arg.split("=")[0] for arg in container(docs)["args"] if arg.startswith("--")}
        assert flags - accepted == set(), f"{name} values: extctl run does not accept {sorted(flags - accepted)}"


def rules_of(docs: list[dict[str, Any]], kind: str, name: str) -> set[tuple[str, str, str]]:
    return {(g, r, v) for rule in one(docs, kind, name)["rules"] for g in rule["apiGroups"]
            for r in rule["resources"] for v in rule["verbs"]}


def test_rbac_cluster_admin_by_default_and_least_privilege_on_request(
        rendered: dict[str, list[dict[str, Any]]]) -> None:
    default, narrow = rendered["default"], rendered["full-values"]
    assert one(default, "ClusterRoleBinding", "extctl-cluster-admin")["roleRef"]["name"] == "cluster-admin"
    assert not [d for d in narrow if d.get("roleRef", {}).get("name") == "cluster-admin"]
    controller = rules_of(narrow, "ClusterRole", "extctl-controller")
    assert {("", "namespaces", "create"), ("", "secrets", "list"), ("apps", "deployments", "patch")} <= controller
    assert one(narrow, "Role", "extctl-charts")["metadata"]["namespace"] == "monitoring"
    for docs in (default, narrow):
        status = rules_of(docs, "ClusterRole", "extctl-status")
        assert {("extctl.dev", "extensions", "patch"), ("extctl.dev", "extensions/status", "patch"),
                ("", "events", "create"), ("apiextensions.k8s.io", "customresourcedefinitions", "patch")} <= status
        system = rules_of(docs, "Role", "extctl")
        assert {("coordination.k8s.io", "leases", "update"), ("", "configmaps", "update")} <= system
        subjects = {(s["name"], s["namespace"]) for d in docs if d["kind"].endswith("Binding") for s in d["subjects"]}
        sa = one(docs, "ServiceAccount")["metadata"]["name"]
        assert subjects == {(sa, NAMESPACE)}
    single = rendered["single-replica-values"]
    assert not [d for d in single if d["kind"] == "ServiceAccount" or "Role" in d["kind"]]
    assert one(single, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "platform-extctl"
    assert "--leader-elect" not in container(single)["args"]


def test_service_monitor_network_policy_and_ingress_point_at_the_service(
        rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["full-values"]
    service = one(docs, "Service")
    monitor = one(docs, "ServiceMonitor")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"] == [{"port": "http", "path": "/metrics", "interval": "15s"}]
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    policy = one(docs, "NetworkPolicy")["spec"]
    assert policy["podSelector"]["matchLabels"] == service["spec"]["selector"]
    assert policy["ingress"][0]["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert len(policy["ingress"][0]["from"]) == 2
    paths = one(docs, "Ingress")["spec"]["rules"][0]["http"]["paths"]
    assert [(p["path"], p["backend"]["service"]["name"]) for p in paths] == [("/hooks/", service["metadata"]["name"])]
    assert not [d for d in rendered["default"] if d["kind"] in {"ServiceMonitor", "NetworkPolicy", "Ingress"}]


@pytest.mark.parametrize(("args", "message"), [
    (["--set", "replicas=2"], "additional properties 'replicas' not allowed"),
    (["--set", "replicaCount=2", "--set", "leaderElection.enabled=false"], "/leaderElection/enabled"),
    (["--set", "git.auth=token"], "/git/existingSecret"),
    (["--set", "git.auth=ssh", "--set", "git.existingSecret=s"], "/git/knownHosts/configMap"),
    (["--set", "git.auth=basic", "--set", "git.existingSecret=s"], "/git/username"),
    (["--set", "git.auth=password"], "/git/auth"),
    (["--set", "ingress.enabled=true"], "/webhook/existingSecret"),
    (["--set", "image.digest=sha256:abc"], "/image/digest"),
    (["--set", "source.interval=1 minute"], "/source/interval"),
    (["--set", "source.url="], "/source/url"),
    (["--set", "rbac.mode=admin"], "/rbac/mode"),
    (["--set", "instance=Prod_EU"], "/instance"),
    (["--set-json", 'controller.extraEnv=[{"name":"EXTCTL_GIT_TOKEN","value":"x"}]'], "/controller/extraEnv/0/name"),
])
def test_values_schema_refuses(env: dict[str, str], args: list[str], message: str) -> None:
    with pytest.raises(RuntimeError, match=re.escape(message)):
        template(env, None, *args)


def test_another_namespace_is_refused_with_the_fix(env: dict[str, str]) -> None:
    with pytest.raises(RuntimeError, match=r"into the namespace extctl-system .*--namespace extctl-system"):
        template(env, None, namespace="default")


def test_the_chart_crd_is_generated_from_the_one_extctl_applies() -> None:
    render = load_script("render_deploy")
    assert render.CRD_FILE.read_text() == render.render_crd(), "run python scripts/render_deploy.py"
    assert YAML(typ="safe").load(render.CRD_FILE.read_text()) == EXTENSION_CRD


def test_deploy_manifest_is_the_chart_rendered_with_its_defaults() -> None:
    render = load_script("render_deploy")
    assert render.MANIFEST.read_text() == render.render_manifest(), "stale: run python scripts/render_deploy.py"
    docs = objects(render.MANIFEST.read_text())
    assert [d["kind"] for d in docs[:2]] == ["CustomResourceDefinition", "Namespace"]
    assert one(docs, "Namespace")["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert one(docs, "CustomResourceDefinition") == EXTENSION_CRD
    assert one(docs, "Deployment")["spec"]["replicas"] == 2
