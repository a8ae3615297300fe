"""``controller.cluster.KubeCluster`` maps every failure to one actionable ``ClusterError`` (or
``SecretNotReady``), exercised for real: the sandbox's API emulator (404, 409 and a 403 injected for
Secrets named ``forbidden-*``), a closed loopback port, and small loopback HTTP servers that hang up,
cut a response short or answer something that is not a Kubernetes object.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from controller.cluster import KubeCluster
from controller.errors import ClusterError, SecretNotReady
from tests.support.localnet import BackgroundHTTPServer, free_port
from tests.support.sandbox import SandboxHandle

pytestmark = pytest.mark.integration
TOKEN = "t0ken-that-must-never-be-printed"

# Each public method once, with the operation its error must name.
CALLS: dict[str, tuple[Callable[[KubeCluster], Any], str]] = {
    "ensure_namespace": (lambda c: c.ensure_namespace("apps"), "reading namespace apps"),
    "read_secret_data": (lambda c: c.read_secret_data("apps", "creds"), "reading Secret apps/creds"),
    "read_digest_key": (lambda c: c.read_digest_key("sys", "key"), "reading Secret sys/key"),
    "ensure_digest_key": (lambda c: c.ensure_digest_key("sys", "key"), "reading Secret sys/key"),
    "digest_key": (lambda c: c.digest_key("sys", "key"), "reading Secret sys/key"),
    "read_state": (lambda c: c.read_state("sys", "state"), "reading ConfigMap sys/state"),
    "write_state": (lambda c: c.write_state("sys", "state", {"a": 1}), "writing ConfigMap sys/state"),
}


def write_kubeconfig(directory: Path, server: str, *, extra: str = "", current: bool = True) -> Path:
    path = directory / "kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: c\n  cluster:\n    server: {server}\n"
        "contexts:\n- name: c\n  context:\n    cluster: c\n    user: u\n- name: other\n  context:\n"
        "    cluster: c\n    user: u\n"
        + ("current-context: c\n" if current else "")
        + f"users:\n- name: u\n  user:\n    token: {TOKEN}\n" + extra)
    return path


def cluster_at(tmp_path: Path, server: str) -> KubeCluster:
    return KubeCluster(kubeconfig=str(write_kubeconfig(tmp_path, server)))


def raised(call: Callable[[KubeCluster], Any], cluster: KubeCluster) -> ClusterError:
    with pytest.raises(ClusterError) as caught:
        call(cluster)
    assert TOKEN not in str(caught.value)
    return caught.value


# ------------------------------------------------------------------------------------------------ no server

def test_check_config_makes_no_network_call_and_knows_the_server(tmp_path: Path) -> None:
    server = f"http://127.0.0.1:{free_port()}"
    cluster = cluster_at(tmp_path, server)
    cluster.check_config()
    assert cluster.server_url == server


@pytest.mark.parametrize("method", CALLS)
def test_closed_port_names_the_operation_and_the_server(method: str, tmp_path: Path) -> None:
    server = f"http://127.0.0.1:{free_port()}"
    call, doing = CALLS[method]
    error = raised(call, cluster_at(tmp_path, server))
    assert error.reason == "ClusterUnavailable" and error.transient
    assert error.message == f"Kubernetes API at {server} unreachable while {doing}: connection refused"
    assert error.hint is not None and "kubectl cluster-info" in error.hint


# ------------------------------------------------------------------------------------------------ bad servers

class HangsUp(BaseHTTPRequestHandler):
    def handle(self) -> None:
        self.rfile.readline()  # read the request line, then close without a word


class CutsShort(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "4096")
        self.end_headers()
        self.wfile.write(b'{"metadata": {"name": ')
        self.close_connection = True

    do_GET = do_PUT = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        return


class NotKubernetes(CutsShort):
    def _answer(self) -> None:
        body = b"<html>a captive portal</html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = do_POST = _answer


@pytest.fixture
def bad_server(request: pytest.FixtureRequest) -> Iterator[str]:
    server = BackgroundHTTPServer(request.param)
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.close()


@pytest.mark.parametrize(("bad_server", "cause"), [
    (HangsUp, "unreachable while {doing}: the connection was closed before a response arrived"),
    (CutsShort, "sent an unusable response while {doing}: the response was cut off (incomplete read)"),
    (NotKubernetes, "sent an unusable response while {doing}: the response is not a Kubernetes object ("),
], indirect=["bad_server"], ids=["hangs-up", "cuts-short", "not-kubernetes"])
@pytest.mark.parametrize("method", ["read_secret_data", "read_state", "write_state"])
def test_broken_responses_are_cluster_errors(method: str, bad_server: str, cause: str, tmp_path: Path) -> None:
    call, doing = CALLS[method]
    error = raised(call, cluster_at(tmp_path, bad_server))
    assert error.reason == "ClusterUnavailable"
    assert error.message.startswith(f"Kubernetes API at {bad_server} " + cause.format(doing=doing))
    assert "captive portal" not in error.message  # a response is never quoted: it may hold Secret data


def test_tls_to_a_plain_http_server_is_a_tls_failure(tmp_path: Path) -> None:
    server = BackgroundHTTPServer(NotKubernetes)
    try:
        url = f"https://127.0.0.1:{server.port}"
        error = raised(CALLS["read_state"][0], cluster_at(tmp_path, url))
    finally:
        server.close()
    assert error.message == (f"Kubernetes API at {url} unreachable while reading ConfigMap sys/state: "
                             "TLS handshake failed")


# ------------------------------------------------------------------------------------------------ the sandbox

@pytest.fixture
def cluster(sandbox: SandboxHandle) -> KubeCluster:
    return KubeCluster(kubeconfig=sandbox.env["KUBECONFIG"])


def test_missing_secret_is_not_ready_with_a_hint(cluster: KubeCluster, unique_name: str) -> None:
    with pytest.raises(SecretNotReady) as caught:
        cluster.read_secret_data(unique_name, "creds")
    assert caught.value.message == f"Secret {unique_name}/creds not found"
    assert caught.value.hint == f"create it: kubectl create secret generic creds -n {unique_name} " \
                                "--from-literal=KEY=VALUE"


def test_digest_key_is_read_only_until_ensured(cluster: KubeCluster, sandbox: SandboxHandle,
                                               unique_name: str) -> None:
    core = sandbox.core_v1()
    assert cluster.read_digest_key(unique_name, "extctl-digest-key") is None
    assert unique_name not in [n.metadata.name for n in core.list_namespace().items]  # reading created nothing

    key = cluster.ensure_digest_key(unique_name, "extctl-digest-key")
    assert len(key) == 64
    assert cluster.ensure_digest_key(unique_name, "extctl-digest-key") == key
    assert cluster.read_digest_key(unique_name, "extctl-digest-key") == key
    assert cluster.digest_key(unique_name, "extctl-digest-key") == key
    assert cluster.ensure_namespace(unique_name) is False


def test_digest_key_secret_without_its_key(cluster: KubeCluster, sandbox: SandboxHandle, unique_name: str) -> None:
    core = sandbox.core_v1()
    core.create_namespace({"metadata": {"name": unique_name}})
    core.create_namespaced_secret(unique_name, {"metadata": {"name": "digest"}, "stringData": {"other": "x"}})
    assert cluster.read_digest_key(unique_name, "digest") is None
    error = raised(lambda c: c.ensure_digest_key(unique_name, "digest"), cluster)  # create answers 409
    assert error.reason == "DigestKeyInvalid"
    assert error.message == f"Secret {unique_name}/digest exists but holds no digest key (no data field 'key')"
    assert error.hint is not None and f"kubectl delete secret digest -n {unique_name}" in error.hint


def test_state_round_trip_creates_the_namespace(cluster: KubeCluster, unique_name: str) -> None:
    assert cluster.read_state(unique_name, "state") == {}
    cluster.write_state(unique_name, "state", {"extensions": {"a": {"failures": 1}}})
    assert cluster.read_state(unique_name, "state") == {"extensions": {"a": {"failures": 1}}}
    cluster.write_state(unique_name, "state", {})
    assert cluster.read_state(unique_name, "state") == {}
    assert cluster.ensure_namespace(unique_name) is False
    assert cluster.ensure_namespace(f"{unique_name}-new") is True


def test_forbidden_secret_names_verb_resource_and_namespace(cluster: KubeCluster, unique_name: str) -> None:
    error = raised(lambda c: c.read_secret_data(unique_name, "forbidden-creds"), cluster)
    assert error.reason == "Forbidden"
    assert error.message.startswith(
        f"Kubernetes API at {cluster.server_url} forbids reading Secret {unique_name}/forbidden-creds (HTTP 403): "
        f'secrets "forbidden-creds" is forbidden: User ')
    assert error.hint == (f"grant the kube context's identity 'get' on 'secrets' in namespace {unique_name} "
                          f"(a Role and RoleBinding); check with: kubectl auth can-i get secrets -n {unique_name}")
    assert raised(lambda c: c.ensure_digest_key(unique_name, "forbidden-key"), cluster).reason == "Forbidden"


# ------------------------------------------------------------------------------------------------ configuration

def test_no_configuration_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ClusterError) as caught:
        KubeCluster().check_config()
    assert caught.value.reason == "KubeConfigMissing"
    missing = tmp_path / "missing"
    assert caught.value.message == f"no Kubernetes configuration found (KUBECONFIG={missing}: no such file)"
    assert caught.value.hint == ("set KUBECONFIG, pass --kube-context, run in a pod with a service account, "
                                 "or use --offline")


def test_unknown_context_lists_the_available_ones(tmp_path: Path) -> None:
    path = write_kubeconfig(tmp_path, "http://127.0.0.1:1")
    with pytest.raises(ClusterError) as caught:
        KubeCluster(kube_context="nosuch", kubeconfig=str(path)).check_config()
    assert caught.value.reason == "KubeContextNotFound"
    assert caught.value.message == f"kube context 'nosuch' not found in {path} (available: c, other)"
    KubeCluster(kube_context="other", kubeconfig=str(path)).check_config()


def broken_kubeconfigs(directory: Path) -> dict[str, str]:
    valid = write_kubeconfig(directory, "http://127.0.0.1:1").read_text()
    return {
        "yaml": valid + f"- name: v\n  user: {{token: {TOKEN}\n",  # an unclosed flow mapping
        "not-a-mapping": "just a string\n",
        "no-current-context": valid.replace("current-context: c\n", ""),
        "no-server": valid.replace("server: http://127.0.0.1:1", "insecure-skip-tls-verify: true"),
        "context-without-cluster": valid.replace("context:\n    cluster: c\n", "context:\n", 1),
    }


BROKEN_DETAIL = {
    "yaml": "invalid YAML at line 23, column 1: expected ',' or '}', but got '<stream end>'",
    "not-a-mapping": "not a kubeconfig document",
    "no-current-context": "no current-context is set",
    "no-server": "cluster 'c' (context 'c') has no server",
    "context-without-cluster": "Invalid kube-config file. Expected key cluster in {path}/{…}/context",
}


@pytest.mark.parametrize("case", BROKEN_DETAIL)
def test_invalid_configuration_never_quotes_credentials(case: str, tmp_path: Path) -> None:
    path = tmp_path / "broken"
    path.write_text(broken_kubeconfigs(tmp_path)[case])
    detail = BROKEN_DETAIL[case]
    with pytest.raises(ClusterError) as caught:
        KubeCluster(kubeconfig=str(path)).check_config()
    assert caught.value.reason == "KubeConfigInvalid"
    assert caught.value.message == f"invalid Kubernetes configuration in {path}: {detail.replace('{path}', str(path))}"
    assert TOKEN not in str(caught.value)
