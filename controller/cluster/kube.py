"""Kubernetes API access through the official ``kubernetes`` client.

Owns: loading the kube context the way kubectl does (``KUBECONFIG``/``~/.kube/config`` with
``--kube-context``, or in-cluster config), creating release namespaces, and reading Secret values
for protected settings. Maps API failures to ``ClusterError``/``SecretNotReady``.
Must not: log or put Secret values into messages, or decide anything.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from controller.errors import ClusterError, SecretNotReady

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
STATE_KEY = "state.json"


class KubeCluster:
    """A thin, typed facade over ``CoreV1Api`` for the calls extctl needs."""

    def __init__(self, kube_context: str | None = None, kubeconfig: str | None = None) -> None:
        self.kube_context = kube_context
        self.kubeconfig = kubeconfig
        self._core: Any = None

    def _api(self) -> Any:
        if self._core is not None:
            return self._core
        try:
            in_cluster = "KUBERNETES_SERVICE_HOST" in os.environ and not (
                self.kubeconfig or os.environ.get("KUBECONFIG") or self.kube_context
            )
            if in_cluster:
                config.load_incluster_config()  # type: ignore[no-untyped-call]
                api_client = client.ApiClient()
            else:
                api_client = config.new_client_from_config(  # type: ignore[no-untyped-call]
                    config_file=self.kubeconfig, context=self.kube_context)
        except (ConfigException, OSError) as exc:
            raise ClusterError(
                f"cannot load Kubernetes configuration: {exc}",
                reason="KubeConfigInvalid",
                hint="set KUBECONFIG or --kube-context, or run in a pod with a service account",
            ) from exc
        self._core = client.CoreV1Api(api_client)
        return self._core

    def ensure_namespace(self, name: str) -> bool:
        """Create ``name`` if it does not exist. Returns True when it was created."""
        api = self._api()
        try:
            api.read_namespace(name)
            return False
        except ApiException as exc:
            if exc.status != 404:
                raise ClusterError(f"cannot read namespace {name!r}: HTTP {exc.status} {exc.reason}") from exc
        except Exception as exc:  # urllib3 connection errors and the like
            raise ClusterError(f"Kubernetes API unreachable while reading namespace {name!r}: "
                               f"{type(exc).__name__}") from exc
        try:
            api.create_namespace({"metadata": {"name": name, "labels": {MANAGED_BY_LABEL: "extctl"}}})
        except ApiException as exc:
            if exc.status == 409:
                return False
            raise ClusterError(f"cannot create namespace {name!r}: HTTP {exc.status} {exc.reason}") from exc
        return True

    def read_secret_data(self, namespace: str, name: str) -> dict[str, str]:
        """All keys of a Secret, decoded. Raises ``SecretNotReady`` naming the Secret when it is missing."""
        try:
            secret = self._api().read_namespaced_secret(name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                raise SecretNotReady(
                    f"Secret {namespace}/{name} not found",
                    hint=f"create it: kubectl create secret generic {name} -n {namespace} --from-literal=KEY=VALUE",
                ) from exc
            raise ClusterError(f"cannot read Secret {namespace}/{name}: HTTP {exc.status} {exc.reason}") from exc
        except Exception as exc:  # connection failures
            raise ClusterError(f"Kubernetes API unreachable while reading Secret {namespace}/{name}: "
                               f"{type(exc).__name__}") from exc
        data = secret.data or {}
        return {key: base64.b64decode(value).decode("utf-8", errors="replace") for key, value in data.items()}

    def digest_key(self, namespace: str, name: str) -> bytes:
        """The HMAC key for protected-settings digests, kept in a Secret (created once, random)."""
        try:
            data = self.read_secret_data(namespace, name)
            if data.get("key"):
                return data["key"].encode()
        except SecretNotReady:
            pass
        self.ensure_namespace(namespace)
        key = secrets.token_hex(32)
        try:
            self._api().create_namespaced_secret(namespace, {
                "metadata": {"name": name, "labels": {MANAGED_BY_LABEL: "extctl"}},
                "stringData": {"key": key},
            })
        except ApiException as exc:
            if exc.status != 409:
                raise ClusterError(f"cannot create Secret {namespace}/{name}: HTTP {exc.status}") from exc
            return self.read_secret_data(namespace, name)["key"].encode()
        return key.encode()

    def read_state(self, namespace: str, name: str) -> dict[str, Any]:
        """The controller's bookkeeping (failure counts, pending timers) from ConfigMap ``namespace/name``."""
        try:
            config_map = self._api().read_namespaced_config_map(name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                return {}
            raise ClusterError(f"cannot read ConfigMap {namespace}/{name}: HTTP {exc.status} {exc.reason}") from exc
        except Exception as exc:  # connection failures
            raise ClusterError(f"Kubernetes API unreachable while reading ConfigMap {namespace}/{name}: "
                               f"{type(exc).__name__}") from exc
        raw = (config_map.data or {}).get(STATE_KEY, "{}")
        try:
            data = json.loads(raw)
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    def write_state(self, namespace: str, name: str, state: dict[str, Any]) -> None:
        body = {"metadata": {"name": name, "labels": {MANAGED_BY_LABEL: "extctl"}},
                "data": {STATE_KEY: json.dumps(state, sort_keys=True)}}
        api = self._api()
        try:
            try:
                api.replace_namespaced_config_map(name, namespace, body)
            except ApiException as exc:
                if exc.status != 404:
                    raise
                self.ensure_namespace(namespace)
                api.create_namespaced_config_map(namespace, body)
        except ApiException as exc:
            raise ClusterError(f"cannot write ConfigMap {namespace}/{name}: HTTP {exc.status} {exc.reason}") from exc
        except ClusterError:
            raise
        except Exception as exc:  # connection failures
            raise ClusterError(f"Kubernetes API unreachable while writing ConfigMap {namespace}/{name}: "
                               f"{type(exc).__name__}") from exc
