"""The helm error classifier against the real helm v4 binary: each reason is provoked, not imagined.

Every test makes the official helm binary fail for one cause (a broken template, a 422 from the API
server, a locked release, an unreachable cluster, a missing chart version, …) through extctl's own
``HelmRunner``/``HelmClient`` and asserts the typed error users see: class, reason, transient flag and
the part of helm's message that explains it.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from controller.apply import ChartDownloads
from controller.errors import (
    CatalogError,
    ChartDownloadFailed,
    HelmBinaryMissing,
    HelmChartUnavailable,
    HelmClusterUnreachable,
    HelmError,
    HelmNamespaceNotFound,
    HelmNotFound,
    HelmNotReady,
    HelmOperationInProgress,
    HelmOutputInvalid,
    HelmRenderError,
    HelmTimeout,
    HelmValidationFailed,
)
from controller.helm import ChartLocator, HelmClient, HelmRunner, HelmSettings, ReleaseRequest, parse_json_output
from tests.support.chart_repo import ChartRepo
from tests.support.charts import CHARTS_SRC, helm_bin
from tests.support.localnet import free_port, wait_for
from tests.support.sandbox import SandboxHandle

pytestmark = pytest.mark.integration
APPLY_FLAGS = ("--server-side=false", "--disable-openapi-validation")
T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def client(sandbox: SandboxHandle, **env: str) -> HelmClient:
    settings = HelmSettings(binary=helm_bin(), timeout_s=60, server_side=False, openapi_validation=False,
                            extra_env={**sandbox.env, **env})
    return HelmClient(HelmRunner(settings))


def failure(expected: type[HelmError], coroutine: Coroutine[Any, Any, Any]) -> HelmError:
    """Run ``coroutine``; it must raise exactly ``expected`` (not a subclass or parent)."""
    with pytest.raises(HelmError) as raised:
        run(coroutine)
    assert type(raised.value) is expected, f"{type(raised.value).__name__}: {raised.value}"
    assert raised.value.hint and "\n" not in raised.value.message
    return raised.value


def local_chart(tmp_path: Path, templates: dict[str, str] | None = None, schema: str | None = None) -> Path:
    """A copy of the demo-web chart source with extra templates or a values schema (helm reads it as is)."""
    chart = tmp_path / "chart"
    shutil.copytree(CHARTS_SRC / "demo-web", chart)
    for name, text in (templates or {}).items():
        (chart / "templates" / name).write_text(text)
    if schema is not None:
        (chart / "values.schema.json").write_text(schema)
    return chart


def archive(repo: ChartRepo, version: str = "1.0.0") -> ChartLocator:
    """The repository's own archive of demo-agent ``version`` (helm is only ever handed local archives)."""
    return ChartLocator(ref=str(repo.root / f"demo-agent-{version}.tgz"), version=version)


def request(name: str, namespace: str, chart: ChartLocator, **values: Any) -> ReleaseRequest:
    return ReleaseRequest(name=name, namespace=namespace, chart=chart, values=values)


@pytest.fixture
def namespace(sandbox: SandboxHandle, unique_name: str) -> str:
    sandbox.core_v1().create_namespace({"metadata": {"name": unique_name}})
    return unique_name


# ------------------------------------------------------------------------------------- RenderFailed
@pytest.mark.parametrize(("template", "fragment"), [
    ("kind: ConfigMap\nmetadata:\n  name: {{ .Values.nope.deeper }}\n",
     'templates/bad.yaml:3:18 executing "demo-web/templates/bad.yaml" at <.Values.nope.deeper>: nil pointer'),
    ('{{ fail "the chart refuses these values" }}\n',
     "execution error at (demo-web/templates/bad.yaml:1:3): the chart refuses these values"),
    ("kind: ConfigMap\nmetadata:\n  name: {{ .Values.x \n", "parse error at (demo-web/templates/bad.yaml:4)"),
    ("kind: ConfigMap\nmetadata:\n  name: x\n  bad: [\n", "YAML parse error on demo-web/templates/bad.yaml"),
], ids=["nil-pointer", "fail", "parse-error", "not-yaml"])
def test_template_errors_are_render_failed(sandbox: SandboxHandle, namespace: str, tmp_path: Path,
                                           template: str, fragment: str) -> None:
    chart = ChartLocator(ref=str(local_chart(tmp_path, {"bad.yaml": template})), version="0.0.0")
    helm = client(sandbox)
    error = failure(HelmRenderError, helm.install(request("render", namespace, chart)))
    assert (error.reason, error.transient) == ("RenderFailed", False)
    assert error.message.startswith("helm install: INSTALLATION FAILED: ") and fragment in error.message, error
    # `helm template` (previews) fails the same way, without "INSTALLATION FAILED".
    rendered = failure(HelmRenderError, helm.template(request("render", namespace, chart)))
    assert fragment in rendered.message


# ------------------------------------------------------------------------------------- ValidationFailed
def test_api_server_rejection_is_validation_failed(sandbox: SandboxHandle, namespace: str,
                                                   chart_repo: ChartRepo) -> None:
    chart = archive(chart_repo)
    rejected = request("rejected", namespace, chart,
                       annotations={"sandbox.extctl.dev/reject": "denied by policy"})
    error = failure(HelmValidationFailed, client(sandbox).install(rejected))
    assert (error.reason, error.transient) == ("ValidationFailed", False)
    assert error.message == "helm install: INSTALLATION FAILED: admission denied: denied by policy"


def test_values_schema_violation_is_validation_failed(sandbox: SandboxHandle, namespace: str,
                                                      tmp_path: Path) -> None:
    schema = '{"type": "object", "properties": {"greeting": {"type": "integer"}}}'
    chart = ChartLocator(ref=str(local_chart(tmp_path, schema=schema)), version="0.0.0")
    error = failure(HelmValidationFailed, client(sandbox).install(request("schema", namespace, chart)))
    assert "values don't meet the specifications of the schema(s)" in error.message
    assert "at '/greeting': got string, want integer" in error.message


# ------------------------------------------------------------------------------------- NamespaceNotFound
def test_missing_namespace_is_namespace_not_found(sandbox: SandboxHandle, unique_name: str,
                                                  chart_repo: ChartRepo) -> None:
    chart = archive(chart_repo)
    error = failure(HelmNamespaceNotFound, client(sandbox).install(request("nons", f"{unique_name}-gone", chart)))
    assert (error.reason, error.transient) == ("NamespaceNotFound", True)


# ------------------------------------------------------------------------------------- ReleaseNotFound
def test_missing_release_is_release_not_found(sandbox: SandboxHandle, namespace: str,
                                              chart_repo: ChartRepo) -> None:
    helm = client(sandbox)
    for call, message in [
        (helm.get_metadata("ghost", namespace), "helm get metadata: release: not found"),
        (helm.history("ghost", namespace), "helm history: release: not found"),
        (helm.uninstall("ghost", namespace),
         "helm uninstall: uninstall: Release not loaded: ghost: release: not found"),
        (helm.rollback("ghost", namespace, 1), "helm rollback: release: not found"),
        (helm.upgrade(request("ghost", namespace, archive(chart_repo))),
         'helm upgrade: UPGRADE FAILED: "ghost" has no deployed releases'),
    ]:
        error = failure(HelmNotFound, call)
        assert (error.message, error.reason, error.transient) == (message, "ReleaseNotFound", False)


# ------------------------------------------------------------------------------------- OperationInProgress
def test_locked_release_is_operation_in_progress(sandbox: SandboxHandle, namespace: str,
                                                 chart_repo: ChartRepo) -> None:
    chart = archive(chart_repo)
    # A helm install that the emulator holds for a minute, killed once its release record exists: the
    # release stays pending-install, exactly as after a crashed controller.
    slow = subprocess.Popen(
        [helm_bin(), "install", "locked", *chart.args(), "-n", namespace, *APPLY_FLAGS,
         "--set-string", r"annotations.sandbox\.extctl\.dev/delay-seconds=60"],
        env=sandbox.full_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: "locked" in sandbox.helm("list", "-n", namespace, "--pending", "-q").stdout,
                 timeout=60, what="the install to record a pending release")
    finally:
        slow.kill()
        slow.wait()
    error = failure(HelmOperationInProgress, client(sandbox).upgrade(request("locked", namespace, chart)))
    assert (error.reason, error.transient) == ("OperationInProgress", True)
    assert error.message == "helm upgrade: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress"


# ------------------------------------------------------------------------------------- Timeout
def test_helm_wait_timeout_is_not_ready_naming_the_resource(sandbox: SandboxHandle, namespace: str,
                                                            chart_repo: ChartRepo) -> None:
    # The sandbox's workload simulator never makes a :crashloop image ready, so --wait=watcher runs into --timeout.
    runner = client(sandbox).runner
    chart = archive(chart_repo)
    error = failure(HelmNotReady, runner.run(["install", "waits", *chart.args(), "-n", namespace, *APPLY_FLAGS,
                                              "--set", "image.tag=crashloop", "--wait=watcher", "--timeout", "2s"]))
    assert (error.reason, error.transient) == ("NotReady", True)
    assert error.message == (f"helm install: not ready before the timeout: Deployment {namespace}/waits "
                             "(InProgress; Available: 0/1)"), error
    assert isinstance(error, HelmNotReady) and error.resources == (
        f"Deployment {namespace}/waits (InProgress; Available: 0/1)",)


def test_a_healthy_release_waits_until_ready(sandbox: SandboxHandle, namespace: str, chart_repo: ChartRepo) -> None:
    runner = client(sandbox).runner
    chart = archive(chart_repo)
    run(runner.run(["install", "ready", *chart.args(), "-n", namespace, *APPLY_FLAGS, "--wait=watcher",
                    "--timeout", "20s"]))
    status = sandbox.kubectl("get", "deployment", "ready", "-n", namespace, "-o", "jsonpath={.status.readyReplicas}")
    assert status.stdout == "1", "helm returned only once the simulator reported the Deployment ready"


def test_hard_deadline_is_timeout(sandbox: SandboxHandle, namespace: str, chart_repo: ChartRepo) -> None:
    runner = client(sandbox).runner
    chart = archive(chart_repo)
    error = failure(HelmTimeout, runner.run(
        ["install", "stuck", *chart.args(), "-n", namespace, *APPLY_FLAGS,
         "--set-string", r"annotations.sandbox\.extctl\.dev/delay-seconds=60"], deadline_s=2))
    assert error.message == "helm install exceeded the hard deadline of 2s and was stopped"


# ------------------------------------------------------------------------------------- ClusterUnreachable
def test_unreachable_cluster_is_cluster_unreachable(sandbox: SandboxHandle, tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    text = Path(sandbox.env["KUBECONFIG"]).read_text()
    kubeconfig.write_text(re.sub(r"(server:\s*https?://)[^\s/]+", rf"\g<1>127.0.0.1:{free_port()}", text))
    error = failure(HelmClusterUnreachable, client(sandbox, KUBECONFIG=str(kubeconfig)).list_releases())
    assert (error.reason, error.transient) == ("ClusterUnreachable", True)
    assert error.message.startswith("helm list: kubernetes cluster unreachable: ")
    assert "connection refused" in error.message


# ------------------------------------------------------------------------------------- ChartUnavailable
def test_chart_download_failures_are_chart_unavailable(sandbox: SandboxHandle, namespace: str,
                                                       chart_repo: ChartRepo, tmp_path: Path) -> None:
    # helm itself never downloads for extctl: a remote chart goes through extctl's download first.
    helm = HelmClient(client(sandbox).runner, charts=ChartDownloads(None, tmp_path / "charts"))
    missing_version = ChartLocator(ref="demo-agent", version="9.9.9", repository=chart_repo.url)
    with pytest.raises(ChartDownloadFailed) as missing:
        run(helm.install(request("c1", namespace, missing_version)))
    assert missing.value.message == f"chart demo-agent 9.9.9 is not listed in the index of {chart_repo.url}"
    down = ChartLocator(ref="demo-agent", version="1.0.0", repository=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(CatalogError, match="is unreachable"):
        run(helm.install(request("c2", namespace, down)))
    # Listed in the index, but the archive is gone (a withdrawn or half-published version).
    chart_repo.publish("1.3.0").unlink()
    withdrawn = ChartLocator(ref="demo-agent", version="1.3.0", repository=chart_repo.url)
    with pytest.raises(ChartDownloadFailed) as gone:
        run(helm.install(request("c3", namespace, withdrawn)))
    assert gone.value.message == (f"downloading chart demo-agent 1.3.0 at {chart_repo.url}/demo-agent-1.3.0.tgz "
                                  "failed: HTTP 404 File not found")
    assert (gone.value.reason, gone.value.transient) == ("ChartUnavailable", True)
    assert helm.runner.calls == 0  # helm never ran for a chart that could not be downloaded
    # helm's own fetch failures (a user running helm by hand) still classify as ChartUnavailable.
    error = failure(HelmChartUnavailable, helm.runner.run(["pull", "demo-agent", "--version", "1.3.0", "--repo",
                                                           chart_repo.url, "-d", str(tmp_path)]))
    assert error.message == f"helm pull: failed to fetch {chart_repo.url}/demo-agent-1.3.0.tgz : 404 File not found"
    assert (error.reason, error.transient) == ("ChartUnavailable", True)


# ------------------------------------------------------------------------------------- HelmOutputInvalid
def test_output_that_is_not_the_json_asked_for_is_helm_output_invalid(sandbox: SandboxHandle, namespace: str,
                                                                      chart_repo: ChartRepo) -> None:
    helm = client(sandbox)
    table = run(helm.runner.run(["list", "-n", namespace]))  # helm's table, not -o json
    with pytest.raises(HelmOutputInvalid) as raised:
        parse_json_output(table, "list", list)
    assert raised.value.message.startswith("helm list printed text that is not JSON: Expecting value (line 1, "
                                           "column 1) instead of a JSON list of objects")
    run(helm.install(request("shape", namespace, archive(chart_repo))))
    metadata = run(helm.runner.run(["get", "metadata", "shape", "-n", namespace, "-o", "json"]))
    with pytest.raises(HelmOutputInvalid) as raised:
        parse_json_output(metadata, "get metadata", list)
    assert "printed JSON an object instead of a JSON list of objects" in raised.value.message
    assert raised.value.transient


# ------------------------------------------------------------------------------------- HelmFailed, binary
def test_unrecognised_failure_is_helm_failed_and_retried(sandbox: SandboxHandle, namespace: str,
                                                         chart_repo: ChartRepo) -> None:
    helm = client(sandbox)
    twice = request("twice", namespace, archive(chart_repo))
    run(helm.install(twice))
    error = failure(HelmError, helm.install(twice))
    assert (error.reason, error.transient) == ("HelmFailed", True)
    assert error.message == ("helm install: INSTALLATION FAILED: release name check failed: cannot reuse a name "
                             "that is still in use")


@pytest.mark.parametrize("where", ["missing", "directory"])
def test_unusable_helm_binary_is_permanent(tmp_path: Path, where: str) -> None:
    binary = tmp_path / "helm"
    if where == "directory":
        binary.mkdir()
    runner = HelmRunner(HelmSettings(binary=str(binary)))
    error = failure(HelmBinaryMissing, runner.run(["version"]))
    assert (error.reason, error.transient) == ("HelmBinaryMissing", False)
    assert str(binary) in error.message
