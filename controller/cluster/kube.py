"""Kubernetes API access through the official ``kubernetes`` client (plain JSON over its ``ApiClient``: ``rest.py``).

Owns: the calls extctl makes to the API (release namespaces, protected-setting Secrets, the HMAC
digest key Secret, the state ConfigMap), each through one helper (``KubeCluster._call``) that applies
the request timeout and maps every failure — an HTTP status, a broken connection, an unreadable
response — to ``ClusterError`` (``controller.cluster.failures``); a missing Secret is ``SecretNotReady``.
Loading the configuration is ``controller.cluster.kubeconfig`` (``check_config`` runs it up front).
Must not: log or put Secret values into messages, or decide anything beyond "missing means empty".
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from collections.abc import Callable
from typing import Any, TypeVar, overload

from kubernetes.client.exceptions import ApiException

from controller.cluster.failures import Operation, api_error, transport_error
from controller.cluster.kubeconfig import LoadedConfig, load_config
from controller.cluster.rest import JsonApi, path
from controller.errors import ClusterError, ExtctlError, SecretNotReady
from controller.logs import register_secret

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
STATE_KEY = "state.json"
DIGEST_KEY_FIELD = "key"
REQUEST_TIMEOUT = (10.0, 60.0)  # (connect, read) seconds per request: a hung API server is a failure, not a hang

T = TypeVar("T")


class KubeCluster:
    """A thin, typed facade over the Kubernetes API for the calls extctl needs."""

    def __init__(self, kube_context: str | None = None, kubeconfig: str | None = None) -> None:
        self.kube_context = kube_context
        self.kubeconfig = kubeconfig
        self._loaded: LoadedConfig | None = None
        self._core: Any = None
        self._lock = threading.Lock()

    def check_config(self) -> None:
        """Load the configuration now, without any network call; raises ``ClusterError`` with reason
        ``KubeConfigMissing``, ``KubeContextNotFound`` or ``KubeConfigInvalid``."""
        self._load()

    @property
    def server_url(self) -> str:
        """The API server URL, without credentials (loads the configuration: may raise ``ClusterError``)."""
        return self._load().server_url

    def _load(self) -> LoadedConfig:
        with self._lock:
            if self._loaded is None:
                self._loaded = load_config(self.kubeconfig, self.kube_context)
                self._core = JsonApi(self._loaded.api_client)
            return self._loaded

    @overload
    def _call(self, op: Operation, request: Callable[[Any], T]) -> T: ...

    @overload
    def _call(self, op: Operation, request: Callable[[Any], T], *, none_on: int) -> T | None: ...

    def _call(self, op: Operation, request: Callable[[Any], T], *, none_on: int | None = None) -> T | None:
        """Run ``request(json_api)``; returns None when the API answers HTTP ``none_on`` (404, 409),
        raises ``ClusterError`` for every other failure, including one while reading the response."""
        server = self._load().server_url
        try:
            return request(self._core)
        except ApiException as exc:
            if none_on is not None and exc.status == none_on:
                return None
            raise api_error(op, exc, server) from exc
        except ExtctlError:
            raise
        except Exception as exc:  # urllib3, http.client, OSError, ValueError: all mapped
            raise transport_error(op, exc, server) from exc

    def ensure_namespace(self, name: str) -> bool:
        """Create ``name`` if it does not exist. Returns True when it was created."""
        found = self._call(Operation("get", "namespaces", name),
                           lambda api: api.get(path("api/v1", "namespaces", name), timeout=REQUEST_TIMEOUT),
                           none_on=404)
        if found is not None:
            return False
        body = {"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": name, "labels": {MANAGED_BY_LABEL: "extctl"}}}
        created = self._call(Operation("create", "namespaces", name),
                             lambda api: api.create(path("api/v1", "namespaces"), body, timeout=REQUEST_TIMEOUT),
                             none_on=409)
        return created is not None

    def read_secret_data(self, namespace: str, name: str) -> dict[str, str]:
        """All keys of a Secret, decoded. Raises ``SecretNotReady`` naming the Secret when it is missing."""
        data = self._call(Operation("get", "secrets", name, namespace),
                          lambda api: _decoded(api.get(path("api/v1", "namespaces", namespace, "secrets", name),
                                                       timeout=REQUEST_TIMEOUT)),
                          none_on=404)
        if data is None:
            raise SecretNotReady(
                f"Secret {namespace}/{name} not found",
                hint=f"create it: kubectl create secret generic {name} -n {namespace} --from-literal=KEY=VALUE")
        return data

    def read_digest_key(self, namespace: str, name: str) -> bytes | None:
        """The HMAC key for protected-settings digests, or None when its Secret (or the Secret's ``key``)
        does not exist. Reads only: for the read-only ``plan``."""
        try:
            key = self.read_secret_data(namespace, name).get(DIGEST_KEY_FIELD)
        except SecretNotReady:
            return None
        if not key:
            return None
        register_secret(key)
        return key.encode()

    def ensure_digest_key(self, namespace: str, name: str) -> bytes:
        """The HMAC key, created (random, with its namespace) when missing. Only an applying pass calls this."""
        existing = self.read_digest_key(namespace, name)
        if existing is not None:
            return existing
        self.ensure_namespace(namespace)
        key = secrets.token_hex(32)
        register_secret(key)
        body = {"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": name, "labels": {MANAGED_BY_LABEL: "extctl"}},
                "stringData": {DIGEST_KEY_FIELD: key}}
        created = self._call(Operation("create", "secrets", name, namespace),
                             lambda api: api.create(path("api/v1", "namespaces", namespace, "secrets"), body,
                                                    timeout=REQUEST_TIMEOUT),
                             none_on=409)
        if created is not None:
            return key.encode()
        # Someone else created it since the read (another pass), or it exists without a key.
        existing = self.read_digest_key(namespace, name)
        if existing is None:
            raise ClusterError(
                f"Secret {namespace}/{name} exists but holds no digest key (no data field {DIGEST_KEY_FIELD!r})",
                reason="DigestKeyInvalid",
                hint=f"delete it (kubectl delete secret {name} -n {namespace}); extctl creates a new key, and "
                     "every extension with protected settings is upgraded once")
        return existing

    def digest_key(self, namespace: str, name: str) -> bytes:
        """Deprecated alias of ``ensure_digest_key`` (callers move to the read/ensure pair)."""
        return self.ensure_digest_key(namespace, name)

    def read_state(self, namespace: str, name: str) -> dict[str, Any]:
        """The controller's bookkeeping (failure counts, pending timers) from ConfigMap ``namespace/name``;
        empty when the ConfigMap is missing or its content is not a JSON object (it is a cache of facts)."""
        config_map = self._call(Operation("get", "configmaps", name, namespace),
                                lambda api: api.get(path("api/v1", "namespaces", namespace, "configmaps", name),
                                                    timeout=REQUEST_TIMEOUT),
                                none_on=404)
        if config_map is None:
            return {}
        raw = (config_map.get("data") or {}).get(STATE_KEY, "{}")
        try:
            data = json.loads(raw)
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    def write_state(self, namespace: str, name: str, state: dict[str, Any]) -> None:
        """Replace (or create, with its namespace) ConfigMap ``namespace/name`` holding ``state``."""
        body = {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": namespace, "labels": {MANAGED_BY_LABEL: "extctl"}},
                "data": {STATE_KEY: json.dumps(state, sort_keys=True)}}
        replaced = self._call(Operation("update", "configmaps", name, namespace),
                              lambda api: api.replace(path("api/v1", "namespaces", namespace, "configmaps", name),
                                                      body, timeout=REQUEST_TIMEOUT),
                              none_on=404)
        if replaced is not None:
            return
        self.ensure_namespace(namespace)
        self._call(Operation("create", "configmaps", name, namespace),
                   lambda api: api.create(path("api/v1", "namespaces", namespace, "configmaps"), body,
                                          timeout=REQUEST_TIMEOUT))


def _decoded(secret: dict[str, Any]) -> dict[str, str]:
    """A Secret's ``data``, base64-decoded (bad base64 raises ``ValueError``: a malformed response)."""
    data = secret.get("data") or {}
    if not isinstance(secret.get("metadata"), dict) or not isinstance(data, dict):
        raise ValueError("no metadata")
    return {key: base64.b64decode(value, validate=True).decode("utf-8", errors="replace")
            for key, value in data.items()}
