"""Plain-JSON Kubernetes REST calls through the official client's ``ApiClient``.

Owns: ``JsonApi``: one request (method, path, query, JSON body, content type) sent with the
``ApiClient`` that ``kubeconfig.load_config`` built, so authentication, TLS, proxies and timeouts are
the client library's; the response is the decoded JSON object, and any status outside 2xx raises the
library's ``ApiException`` (mapped to ``ClusterError`` by ``failures.py``, as before).

Why not the generated ``CoreV1Api``: since kubernetes 35 its module imports several hundred pydantic
models, 0.5-0.7 s of every fresh process's start-up (bench/README.md), for the handful of objects
extctl reads and writes, which it handles as plain JSON anyway.

Must not: retry, log, or know which objects extctl keeps (``kube.py`` does).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from kubernetes.client.api_client import ApiClient
from kubernetes.client.exceptions import ApiException

JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"  # server-side apply; a JSON body is valid YAML


def path(*segments: str) -> str:
    """``/api/v1`` + quoted segments: ``path("api/v1", "namespaces", ns, "secrets", name)``."""
    head, *rest = segments
    return "/" + head.strip("/") + "".join("/" + quote(s, safe="") for s in rest)


class JsonApi:
    """``get``/``create``/``replace``/``patch``/``delete`` of any API path, JSON in and out."""

    def __init__(self, api_client: ApiClient) -> None:
        self.api_client = api_client

    def request(self, method: str, resource: str, *, body: Any = None, query: Mapping[str, str] | None = None,
                content_type: str = JSON, timeout: float | None = None, listing: bool = False) -> dict[str, Any]:
        """``listing``: the answer is a discovery document (``APIResourceList``), which has no metadata."""
        headers = {"Accept": JSON}
        if body is not None:
            headers["Content-Type"] = content_type
        method, url, header_params, serialized, post = self.api_client.param_serialize(
            method, resource, query_params=list((query or {}).items()) or None, header_params=headers,
            body=body, auth_settings=["BearerToken"])
        response = self.api_client.call_api(method, url, header_params, serialized, post, _request_timeout=timeout)
        raw = response.read() or b""  # type: ignore[no-untyped-call]  # the client leaves read() unannotated
        text = raw.decode("utf-8", errors="replace")
        if not 200 <= response.status <= 299:
            raise ApiException.from_response(http_resp=response, body=text, data=None)
        decoded = json.loads(text) if text.strip() else {}
        if not isinstance(decoded, dict) or not (listing or isinstance(decoded.get("metadata"), dict)):
            raise ValueError("no metadata")  # every Kubernetes object, and every Status, has one
        return decoded

    def get(self, resource: str, *, timeout: float | None = None) -> dict[str, Any]:
        return self.request("GET", resource, timeout=timeout)

    def discover(self, group_version: str, *, timeout: float | None = None) -> dict[str, Any]:
        """The ``APIResourceList`` of ``/api/v1`` or ``/apis/GROUP/VERSION``."""
        return self.request("GET", group_version, timeout=timeout, listing=True)

    def create(self, collection: str, body: Mapping[str, Any], *, timeout: float | None = None) -> dict[str, Any]:
        return self.request("POST", collection, body=dict(body), timeout=timeout)

    def replace(self, resource: str, body: Mapping[str, Any], *, timeout: float | None = None) -> dict[str, Any]:
        return self.request("PUT", resource, body=dict(body), timeout=timeout)

    def patch(self, resource: str, body: Mapping[str, Any], *, content_type: str = MERGE_PATCH,
              query: Mapping[str, str] | None = None, timeout: float | None = None) -> dict[str, Any]:
        return self.request("PATCH", resource, body=dict(body), content_type=content_type, query=query,
                            timeout=timeout)

    def delete(self, resource: str, *, timeout: float | None = None) -> dict[str, Any]:
        return self.request("DELETE", resource, timeout=timeout)
