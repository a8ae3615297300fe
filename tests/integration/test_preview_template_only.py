"""A preview only ever runs ``helm template``: the chart a pull-request head brings cannot reach a cluster.

The head adds a local chart repository whose chart tries everything a template can: ``lookup`` of
Secrets and Namespaces, a DNS lookup, and hooks (a pre-install Job, a test Pod). The preview runs with
every way to find a cluster pointing at a TCP listener on 127.0.0.1 (``KUBECONFIG``, ``--kube-context``,
``HELM_KUBEAPISERVER`` and the in-cluster ``KUBERNETES_SERVICE_HOST``/``_PORT``): it succeeds, the
listener never sees a connection, lookups render empty, DNS is off and the hooks appear in the diff as
manifests (rendered, never run). While helm renders, its process is sampled from ``/proc``
(``tests.support.proctree``): its argv
is ``helm template`` without ``--dry-run=server``/``--kube-context`` and its environment has no
kubeconfig, no ``HELM_KUBE*`` and no in-cluster address. With ``--cluster`` (on the sandbox) extctl
reads releases with the kubeconfig, but the chart is still rendered blind: ``lookup`` of a Secret that
exists returns nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.charts import REPO_ROOT, helm_bin, helm_env, run_helm
from tests.support.extctl import extension, extension_type
from tests.support.git_branches import branch
from tests.support.git_remote import GitRemote
from tests.support.localnet import LOOPBACK
from tests.support.proctree import ProcessTreeSampler

pytestmark = pytest.mark.integration

CHART_YAML = "apiVersion: v2\nname: probe\nversion: 0.1.0\n"
VALUES = "spin: 0\n"
SPIN = 400000  # loop iterations: the probe renders for a few tenths of a second, long enough to sample helm
PROBE = """\
{{- $n := 0 }}{{- range until (int .Values.spin) }}{{ $n = add1 $n }}{{- end }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-probe
data:
  secret: {{ lookup "v1" "Secret" .Release.Namespace "planted" | toJson | quote }}
  namespace: {{ lookup "v1" "Namespace" "" .Release.Namespace | toJson | quote }}
  dns: {{ getHostByName "localhost" | quote }}
  spun: {{ $n | quote }}
"""
HOOKS = """\
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ .Release.Name }}-pre-install
  annotations:
    "helm.sh/hook": pre-install
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: hook, image: busybox, command: ["sh", "-c", "echo hook ran"]}]
---
apiVersion: v1
kind: Pod
metadata:
  name: {{ .Release.Name }}-test
  annotations:
    "helm.sh/hook": test
spec:
  restartPolicy: Never
  containers: [{name: test, image: busybox}]
"""


@dataclass
class Listener:
    """A TCP listener standing in for a Kubernetes API server: it only counts connections."""

    connections: list[tuple[str, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind((LOOPBACK, 0))
        self._sock.listen(16)
        self.port = int(self._sock.getsockname()[1])
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, peer = self._sock.accept()
            except OSError:
                return
            self.connections.append(peer)
            conn.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self._sock.close()
        self._thread.join(timeout=5)


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


def probe_repo(tmp: Path) -> dict[str, str | bytes | None]:
    """The probe chart packaged by helm into a local chart repository, as files under ``charts/``."""
    src, out = tmp / "probe", tmp / "repo"
    (src / "templates").mkdir(parents=True)
    (src / "Chart.yaml").write_text(CHART_YAML)
    (src / "values.yaml").write_text(VALUES)
    (src / "templates" / "probe.yaml").write_text(PROBE)
    (src / "templates" / "hooks.yaml").write_text(HOOKS)
    env = helm_env(tmp / "helm-home")
    run_helm(["package", str(src), "--destination", str(out)], env=env)
    run_helm(["repo", "index", str(out)], env=env)
    return {f"charts/{p.name}": p.read_bytes() for p in sorted(out.iterdir())}


def kubeconfig(path: Path, port: int) -> Path:
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters: [{{name: trap, cluster: {{server: 'https://{LOOPBACK}:{port}',"
        " insecure-skip-tls-verify: true}}]\n"
        "users: [{name: trap, user: {token: trap-token}}]\n"
        "contexts: [{name: trap, context: {cluster: trap, user: trap, namespace: trap}}]\n"
        "current-context: trap\n")
    return path


@dataclass
class HelmSample:
    argv: list[str]
    environ: dict[str, str]


def head_with_probe(remote: GitRemote, tmp: Path, namespace: str) -> None:
    remote.commit({"catalog/probe.yaml": extension_type("demo.probe", "charts", chart="probe", namespace=namespace)})
    branch(remote, "feature", {
        **probe_repo(tmp),
        "extensions/probe.yaml": extension("probe", "demo.probe", namespace, settings={"spin": SPIN}),
    })


def run_preview(remote: GitRemote, tmp: Path, env: dict[str, str], *args: str
                ) -> tuple[dict[str, Any], list[HelmSample]]:
    """``extctl preview --output json`` with every helm process it starts sampled; exit code 2 expected."""
    binary = str(Path(helm_bin()).resolve())
    proc = subprocess.Popen(
        [sys.executable, "-m", "controller", "preview", "--source", remote.file_url, "--base", "main",
         "--head", "feature", "--cache-dir", str(tmp / "git"), "--output", "json", "--log-format", "json", *args],
        env={**env, "HELM_BIN": binary}, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with ProcessTreeSampler(proc) as sampler:
        stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 2, stderr.decode(errors="replace")
    samples = [HelmSample(list(s.argv), dict(e.decode(errors="replace").split("=", 1) for e in s.environ if b"=" in e))
               for s in sampler.samples if s.argv and s.argv[0] == binary]
    assert [s for s in samples if s.argv[1:2] == ["template"]], "no helm template process was sampled"
    return json.loads(stdout), samples


def assert_probe_rendered_blind(data: dict[str, Any]) -> None:
    """One install of the probe, rendered: lookups empty, DNS off, hooks shown as manifests."""
    assert data["stats"]["helm_template_calls"] == 1
    [change] = data["changes"]
    assert (change["extension"], change["action"], change["errors"]) == ("probe", "install", [])
    resources = {(r["kind"], r["name"]): r for r in change["resources"]}
    probe = resources[("ConfigMap", "probe-probe")]["diff"]
    assert '+  secret: "{}"' in probe and '+  namespace: "{}"' in probe, probe  # lookup: empty
    assert '+  dns: ""' in probe and f'+  spun: "{SPIN}"' in probe, probe  # getHostByName: off
    # Hooks are rendered as manifests for the reviewer and never run (nothing is applied anywhere).
    assert '"helm.sh/hook": pre-install' in resources[("Job", "probe-pre-install")]["diff"].replace("'", '"')
    assert ("Pod", "probe-test") in resources


def assert_template_without_cluster(samples: list[HelmSample]) -> None:
    templates = [s for s in samples if s.argv[1:2] == ["template"]]
    assert templates
    for sample in templates:
        assert not any(a.startswith(("--dry-run", "--kube", "--validate", "--enable-dns")) for a in sample.argv)
        assert sample.environ.get("KUBECONFIG") == os.devnull
        leaked = sorted(k for k in sample.environ if k.startswith(("HELM_KUBE", "KUBERNETES_SERVICE")))
        assert leaked == [], leaked


def test_preview_renders_the_head_chart_without_any_cluster_access(git_remote: GitRemote, tmp_path: Path,
                                                                  listener: Listener) -> None:
    head_with_probe(git_remote, tmp_path, "demo")
    trap = f"https://{LOOPBACK}:{listener.port}"
    env = helm_env(tmp_path / "helm-home")
    env.update({
        "KUBECONFIG": str(kubeconfig(tmp_path / "kubeconfig", listener.port)),
        "HELM_KUBEAPISERVER": trap, "HELM_KUBETOKEN": "trap-token", "HELM_KUBECONTEXT": "trap",
        "KUBERNETES_SERVICE_HOST": LOOPBACK, "KUBERNETES_SERVICE_PORT": str(listener.port),
    })
    data, samples = run_preview(git_remote, tmp_path, env, "--kube-context", "trap")
    assert listener.connections == [], "something contacted the 'cluster'"
    assert_probe_rendered_blind(data)
    assert {s.argv[1] for s in samples} == {"template"}  # the only helm command a preview runs
    assert_template_without_cluster(samples)


def test_with_cluster_only_extctl_reads_releases_and_lookup_stays_empty(sandbox: Any, git_remote: GitRemote,
                                                                       unique_name: str, tmp_path: Path) -> None:
    """--cluster: extctl lists releases (helm list/get metadata with the kubeconfig); the head's chart is still
    rendered by a helm without one, so ``lookup`` cannot read the Secret that really is there."""
    core = sandbox.core_v1()
    core.create_namespace({"metadata": {"name": unique_name}})
    core.create_namespaced_secret(unique_name, {"metadata": {"name": "planted"}, "stringData": {"k": "v"}})
    head_with_probe(git_remote, tmp_path, unique_name)
    env = helm_env(tmp_path / "helm-home", sandbox.full_env())
    data, samples = run_preview(git_remote, tmp_path, env, "--cluster", "--instance", unique_name)
    assert data["compare"] == "cluster"
    assert_probe_rendered_blind(data)
    assert_template_without_cluster(samples)
    # Only read-only helm commands: list, get metadata, and history for a failed or locked release (the
    # sandbox is shared, so other tests' failed releases may be observed too).
    assert {s.argv[1] for s in samples} <= {"template", "list", "get", "history"}
