"""A Kubernetes API emulator for tests and the demo, built on kmock's ``KubernetesEmulator``.

Owns: an in-memory API server on 127.0.0.1 that is real enough for the official helm binary
(client-side apply, ``HELM_DRIVER=sql``), the ``kubernetes`` Python client (CRUD, labelSelector,
watch) and ``kubectl get``. kmock provides storage, routing, discovery and watch buses; this
subclass fills the gaps a real client trips on:

- ``/version`` says 1.35, the pinned clients' minor (kmock says 1.26); core discovery answers
  ``groupVersion: "v1"`` (kmock answers ``"/v1"``);
- objects get ``uid``, ``resourceVersion``, ``creationTimestamp`` and ``generation``;
- list responses carry ``kind``/``apiVersion`` and honour ``labelSelector``/``fieldSelector``;
- PATCH understands JSON merge, strategic merge (directives stripped) and JSON patch bodies
  (``sandbox.patches``), and server-side apply with ``managedFields`` (``sandbox.apply``);
- creating an object in a namespace that does not exist is a 404 ``namespaces "x" not found``;
- PUT replaces an object (kmock only merges), and a write naming a stale ``resourceVersion`` is a 409
  Conflict (``sandbox.preconditions``: leader election's Leases rely on it);
- watches honour selectors and ``timeoutSeconds`` (``sandbox.selectors``) and lose no change made while
  they replay the existing objects (``sandbox.watches``);
- creating or changing a CustomResourceDefinition makes its resource discoverable and servable, with
  its status subresource and its printer columns for ``kubectl get`` (``sandbox.crds``).

Fault injection for tests (``_injected_delay``): the annotations ``sandbox.extctl.dev/delay-seconds`` and
``sandbox.extctl.dev/reject`` on a written object, and RBAC denial by name: every request for a Secret
named ``forbidden-*`` (read, create, update, delete) answers 403 Forbidden like the API server does.

Must not: be imported by ``controller/`` (production talks to real clusters).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import datetime
import itertools
import os
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp.web
import attrs
import jsonpatch
from kmock import KubernetesEmulator, KubernetesError, ResourceInfo, action, resource
from kmock._internal import parsing, rendering

from sandbox import apply as ssa
from sandbox import crds, watches
from sandbox.patches import diff_as_merge_patch, merge, strip_directives
from sandbox.preconditions import CONFLICT, check_resource_version
from sandbox.selectors import match_fields, match_labels

NAMESPACES = resource("", "v1", "namespaces")

# Resources served from the start: what helm, extctl and the test charts use.
CORE_RESOURCES: dict[str, ResourceInfo] = {
    "v1/namespaces": ResourceInfo(kind="Namespace", singular="namespace", namespaced=False, shortnames={"ns"}),
    "v1/configmaps": ResourceInfo(kind="ConfigMap", singular="configmap", namespaced=True, shortnames={"cm"}),
    "v1/secrets": ResourceInfo(kind="Secret", singular="secret", namespaced=True),
    "v1/serviceaccounts": ResourceInfo(kind="ServiceAccount", singular="serviceaccount", namespaced=True,
                                       shortnames={"sa"}),
    "v1/services": ResourceInfo(kind="Service", singular="service", namespaced=True, shortnames={"svc"}),
    "v1/events": ResourceInfo(kind="Event", singular="event", namespaced=True, shortnames={"ev"}),
    "v1/pods": ResourceInfo(kind="Pod", singular="pod", namespaced=True, shortnames={"po"}),
    "apps/v1/deployments": ResourceInfo(kind="Deployment", singular="deployment", namespaced=True,
                                        shortnames={"deploy"}),
    "apps/v1/statefulsets": ResourceInfo(kind="StatefulSet", singular="statefulset", namespaced=True,
                                         shortnames={"sts"}),
    "apps/v1/daemonsets": ResourceInfo(kind="DaemonSet", singular="daemonset", namespaced=True,
                                       shortnames={"ds"}),
    "apps/v1/replicasets": ResourceInfo(kind="ReplicaSet", singular="replicaset", namespaced=True, shortnames={"rs"}),
    "batch/v1/jobs": ResourceInfo(kind="Job", singular="job", namespaced=True),
    "events.k8s.io/v1/events": ResourceInfo(kind="Event", singular="event", namespaced=True),
    "coordination.k8s.io/v1/leases": ResourceInfo(kind="Lease", singular="lease", namespaced=True),
    "rbac.authorization.k8s.io/v1/roles": ResourceInfo(kind="Role", singular="role", namespaced=True),
    "rbac.authorization.k8s.io/v1/rolebindings": ResourceInfo(kind="RoleBinding", singular="rolebinding",
                                                              namespaced=True),
    "rbac.authorization.k8s.io/v1/clusterroles": ResourceInfo(kind="ClusterRole", singular="clusterrole",
                                                              namespaced=False),
    "rbac.authorization.k8s.io/v1/clusterrolebindings": ResourceInfo(
        kind="ClusterRoleBinding", singular="clusterrolebinding", namespaced=False),
    "apiextensions.k8s.io/v1/customresourcedefinitions": ResourceInfo(
        kind="CustomResourceDefinition", singular="customresourcedefinition", namespaced=False,
        shortnames={"crd", "crds"}),
}
SERVED_MINOR = "35"  # what /version reports: Kubernetes 1.35, as the pinned kubectl v1.35.2 and helm v4.1.4
VERBS = {"create", "delete", "get", "list", "patch", "update", "watch"}
ACCESS_LOG = os.environ.get("SANDBOX_ACCESS_LOG", "1") == "1"
DELAY_ANNOTATION = "sandbox.extctl.dev/delay-seconds"
REJECT_ANNOTATION = "sandbox.extctl.dev/reject"
FORBIDDEN_NAME_PREFIX = "forbidden-"
_RBAC_VERBS = {"GET": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
def _now() -> str:
    return datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_kmock_parse_path = parsing.parse_path
NAMESPACE_SUBRESOURCES = {"status", "finalize"}


def _parse_path(path: str) -> parsing.ParsedPath:
    """kmock reads ``/api/v1/namespaces[/NAME]`` as a namespaced URL and crashes; parse it as the
    cluster-scoped ``namespaces`` resource (kmock has no hook for this, so the parser is wrapped)."""
    parts = path.strip("/").split("/")
    if parts[:3] == ["api", "v1", "namespaces"] and (
        len(parts) <= 4 or (len(parts) == 5 and parts[4] in NAMESPACE_SUBRESOURCES)
    ):
        name = parts[3] if len(parts) >= 4 else None
        subresource = parts[4] if len(parts) == 5 else None
        return parsing.ParsedPath("", "v1", "namespaces", None, name, subresource)
    return _kmock_parse_path(path)


parsing.parse_path = _parse_path


def _fold_string_data(res: resource, obj: dict[str, Any]) -> None:
    """Like the API server: a Secret's ``stringData`` is written into ``data`` base64-encoded."""
    if res.group == "" and res.plural == "secrets" and isinstance(obj.get("stringData"), dict):
        data = obj.setdefault("data", {}) or {}
        for key, value in obj.pop("stringData").items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        obj["data"] = data


def _deny_forbidden_secret(request: rendering.Request) -> None:
    res = request.resource
    body = request.data if isinstance(request.data, dict) else {}
    name = request.name or (body.get("metadata") or {}).get("name") or ""
    if res is None or res.group != "" or res.plural != "secrets" or not name.startswith(FORBIDDEN_NAME_PREFIX):
        return
    verb = _RBAC_VERBS.get(request.method.value, request.method.value.lower())
    raise KubernetesError(status=403, reason="Forbidden", message=(
        f'secrets "{name}" is forbidden: User "system:serviceaccount:extctl-system:extctl" cannot {verb} '
        f'resource "secrets" in API group "" in the namespace "{request.namespace}"'))


@attrs.define(kw_only=True)
class SandboxEmulator(KubernetesEmulator):
    """kmock's emulator with the fixes listed in the module docstring."""

    _rv_counter: Any = attrs.field(factory=lambda: itertools.count(1), init=False)
    _crds: crds.CrdRegistry = attrs.field(factory=crds.CrdRegistry, init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        for key, info in CORE_RESOURCES.items():
            info.verbs.update(VERBS)
            self.resources[key] = info

    async def _render_error(self, exc: Exception) -> Any:
        """Answer like the API server: reason ``NotFound``/``AlreadyExists``, no server traceback."""
        if isinstance(exc, KubernetesError):
            reasons = {404: "NotFound", 409: "AlreadyExists", 422: "Invalid"}
            reason = exc.reason if exc.reason == CONFLICT else reasons.get(exc.status, exc.reason or "InternalError")
            return aiohttp.web.json_response({
                "apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
                "code": exc.status, "reason": reason, "message": exc.message or reason,
            }, status=exc.status)
        return await super()._render_error(exc)

    # ---- discovery -------------------------------------------------------------------------
    async def _serve_server_version(self, request: rendering.Request) -> rendering.Payload:
        """``/version``: the minor of the pinned kubectl and helm clients (kmock says 1.26, which charts with
        a ``kubeVersion`` constraint such as deploy/chart refuse)."""
        payload = await super()._serve_server_version(request)
        if isinstance(payload, dict):
            payload.update(major="1", minor=SERVED_MINOR, gitVersion=f"v1.{SERVED_MINOR}.0")
        return payload

    async def _serve_version(self, request: rendering.Request) -> rendering.Payload:
        payload = await super()._serve_version(request)
        if isinstance(payload, dict) and request.resource is not None and request.resource.group == "":
            payload["groupVersion"] = request.resource.version
        return payload

    # ---- writes ----------------------------------------------------------------------------
    def _next_rv(self) -> str:
        return str(next(self._rv_counter))

    def _stored(self, request: rendering.Request) -> Any:
        assert request.resource is not None
        key = (request.resource, request.namespace, request.name)
        if key in self.objects and not self.objects[key].deleted:
            return self.objects[key]
        return None

    def _namespace_exists(self, name: str) -> bool:
        key = (NAMESPACES, None, name)
        return key in self.objects and not self.objects[key].deleted

    def _kind_of(self, res: resource) -> tuple[str, str]:
        info = self.resources.get(res, None)
        kind = info.kind if info is not None and info.kind else str(res.plural).capitalize()
        api_version = res.version if res.group == "" else f"{res.group}/{res.version}"
        return str(kind), str(api_version)

    async def _handle(self, request: rendering.Request) -> Any:
        await self._injected_delay(request)
        if request.resource is not None and request.subresource in (None, "status"):  # status: sandbox/workloads
            prepared = self._prepare_write(request)
            if prepared is not request:
                # kmock matches requests to reactions by identity in its request log: swap it there.
                for index in range(len(self._requests) - 1, -1, -1):
                    if self._requests[index] is request:
                        self._requests[index] = prepared
                        break
                request = prepared
        try:
            response = await super()._handle(request)
        except Exception as exc:
            if ACCESS_LOG:
                print(f"{request.method.value} {request.url.path_qs} -> {type(exc).__name__}", flush=True)
            raise
        finally:
            self._forget_request(request)
        if ACCESS_LOG:
            print(f"{request.method.value} {request.url.path_qs} -> {response.status}", flush=True)
        if request.resource is not None and request.action in {action.CREATE, action.UPDATE} \
                and response.status < 300:
            self._register_crd(request)
        return response

    def _forget_request(self, request: rendering.Request) -> None:
        """kmock logs every request for assertions and matches reactions by scanning that log, which
        makes a long-lived server quadratically slower (138 ms per GET after 300 requests). The sandbox
        asserts nothing through the log, so a finished request is dropped from it (in-flight ones,
        including open watches, stay: kmock matches them by identity while they run)."""
        for log in (self._requests, *(payload._requests for payload in self._payloads)):
            for index in range(len(log) - 1, -1, -1):
                if log[index] is request:
                    del log[index]
                    break

    @staticmethod
    async def _injected_delay(request: rendering.Request) -> None:
        """Fault injection for tests, driven by annotations on a written object:
        ``sandbox.extctl.dev/delay-seconds: N`` answers N seconds late (a helm action stays in flight long
        enough to be interrupted); ``sandbox.extctl.dev/reject: "<message>"`` answers 422 Invalid, like an
        admission webhook or a validation failure (a helm action fails after the release was recorded);
        a Secret named ``forbidden-*`` answers 403 Forbidden, as RBAC would."""
        _deny_forbidden_secret(request)
        if request.method.value not in {"POST", "PUT", "PATCH"} or not isinstance(request.data, dict):
            return
        annotations = (request.data.get("metadata") or {}).get("annotations") or {}
        delay = annotations.get(DELAY_ANNOTATION)
        if delay:
            await asyncio.sleep(float(delay))
        rejection = annotations.get(REJECT_ANNOTATION)
        if rejection:
            raise KubernetesError(status=422, reason="Invalid", message=f"admission denied: {rejection}")

    def _prepare_write(self, request: rendering.Request) -> rendering.Request:
        res = request.resource
        assert res is not None
        if request.name is not None and request.method.value in {"PUT", "PATCH"}:
            stored_before = self._stored(request)
            check_resource_version(stored_before.raw if stored_before is not None else None, request.data,
                                   plural=str(res.plural), group=str(res.group), name=request.name)
        if request.name is not None and ssa.is_apply(request.headers):
            request = self._as_apply(request)
        if request.action == action.CREATE and request.namespace and not self._namespace_exists(request.namespace):
            # What kube-apiserver answers (NamespaceLifecycle admission); helm prints it as the cause.
            raise KubernetesError(status=404, reason="NotFound", message=f'namespaces "{request.namespace}" not found')
        if request.action == action.CREATE and isinstance(request.data, dict):
            data = crds.split_status(self._crd(res), None, copy.deepcopy(request.data), None)
            meta = data.setdefault("metadata", {})
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = f"{meta['generateName']}{uuid.uuid4().hex[:5]}"
            info = self.resources.get(res, None)
            if request.namespace and (info is None or info.namespaced is not False):
                meta["namespace"] = request.namespace
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", _now())
            meta["resourceVersion"] = self._next_rv()
            meta.setdefault("generation", 1)
            _fold_string_data(res, data)
            kind, api_version = self._kind_of(res)
            data.setdefault("kind", kind)
            data.setdefault("apiVersion", api_version)
            return attrs.evolve(request, data=data)
        if request.name is None:
            return request
        is_put = request.method.value == "PUT"
        if not (is_put or request.action == action.UPDATE):
            return request
        stored = self._stored(request)
        if stored is None:
            return attrs.evolve(request, action=action.UPDATE)  # kmock answers 404
        old = copy.deepcopy(dict(stored.raw))
        content_type = request.headers.get("Content-Type", "")
        if is_put:
            new = copy.deepcopy(request.data)
        elif "json-patch" in content_type and isinstance(request.data, list):
            new = jsonpatch.apply_patch(old, request.data)
        else:
            new = merge(copy.deepcopy(old), strip_directives(request.data))  # unshared: metadata changes below
        new = crds.split_status(self._crd(res), old, new, request.subresource)
        _fold_string_data(res, new)
        meta = new.setdefault("metadata", {})
        for preserved in ("uid", "creationTimestamp", "namespace", "name"):
            if preserved in old.get("metadata", {}):
                meta[preserved] = old["metadata"][preserved]
        if new.get("spec") != old.get("spec") or new.get("data") != old.get("data"):
            meta["generation"] = int(old.get("metadata", {}).get("generation", 1)) + 1
        meta["resourceVersion"] = self._next_rv()
        return attrs.evolve(request, action=action.UPDATE, data=diff_as_merge_patch(old, new))

    def _crd(self, res: resource) -> crds.CrdVersion | None:
        return self._crds.get(str(res.group), str(res.version), str(res.plural))

    def _as_apply(self, request: rendering.Request) -> rendering.Request:
        """Server-side apply (``sandbox.apply``): a create, or a PUT of the object the apply results in."""
        res = request.resource
        assert res is not None
        stored = self._stored(request)
        info = self._crd(res)
        new = ssa.server_side_apply(
            dict(stored.raw) if stored is not None else None, ssa.applied_config(request.data, request.text),
            manager=request.params.get("fieldManager", "unknown"), subresource=request.subresource,
            split_status=info is not None and info.status_subresource, api_version=self._kind_of(res)[1])
        if stored is None:
            if request.subresource is not None:
                return attrs.evolve(request, action=action.UPDATE)  # kmock answers 404
            return attrs.evolve(request, action=action.CREATE, method="POST", data=new)
        return attrs.evolve(request, action=action.UPDATE, method="PUT", data=new)

    def _register_crd(self, request: rendering.Request) -> None:
        """A created or changed CRD makes its resource discoverable and servable (``sandbox.crds``)."""
        res = request.resource
        assert res is not None
        if res.group != "apiextensions.k8s.io" or request.subresource is not None:
            return
        name = request.name or ((request.data or {}).get("metadata") or {}).get("name")
        key = (res, None, name)
        if not name or key not in self.objects or self.objects[key].deleted:
            return
        stored = self.objects[key]
        conditions = (stored.raw.get("status") or {}).get("conditions") or []
        if not any(c.get("type") == "Established" for c in conditions):  # as the API server's CRD controller does
            stored.patch({"status": {"conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts"},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted"}]}})
        for key, fields in self._crds.register(stored.raw):
            info = ResourceInfo(**fields, verbs=set(VERBS))
            crd = self._crds.get(*key.split("/"))
            if crd is not None and crd.status_subresource:
                info.subresources.add("status")
            self.resources[key] = info

    # ---- reads -----------------------------------------------------------------------------
    def _selected(self, request: rendering.Request, obj: Mapping[str, Any]) -> bool:
        labels = obj.get("metadata", {}).get("labels") or {}
        return match_labels(labels, request.params.get("labelSelector", "")) and match_fields(
            obj, request.params.get("fieldSelector", "")
        )

    async def _serve_list(self, request: rendering.Request) -> rendering.Payload:
        payload = await super()._serve_list(request)
        assert request.resource is not None and isinstance(payload, dict)
        kind, api_version = self._kind_of(request.resource)
        items = [item for item in payload["items"] if self._selected(request, item)]
        items.sort(key=lambda o: (o.get("metadata", {}).get("namespace") or "", o["metadata"].get("name", "")))
        info = self._crd(request.resource)
        if info is not None and crds.wants_table(request.headers):  # kubectl get: printer columns
            return crds.table(items, info, str(next(self._rv_counter)))
        return {
            "kind": f"{kind}List",
            "apiVersion": api_version,
            "metadata": {"resourceVersion": str(next(self._rv_counter))},
            "items": items,
        }

    async def _serve_fetch(self, request: rendering.Request) -> rendering.Payload:
        payload = await super()._serve_fetch(request)
        info = self._crd(request.resource) if request.resource is not None and request.subresource is None else None
        if info is not None and isinstance(payload, dict) and crds.wants_table(request.headers):
            return crds.table([payload], info, str(next(self._rv_counter)))
        return payload

    def _serve_watch(self, request: rendering.Request) -> rendering.Response:  # type: ignore[override]
        # A watch stream is JSON (client-go's informers, used by helm's --wait=watcher, refuse octet-stream).
        # Streaming lists are refused as by an API server without the WatchList gate: client-go then lists.
        if request.params.get("sendInitialEvents") == "true":
            raise KubernetesError(status=422, reason="Invalid", message="sendInitialEvents is forbidden for watch "
                                  "unless the WatchList feature gate is enabled")
        return rendering.Response(headers={"Content-Type": "application/json"}, payload=self._watch(request))

    async def _watch(self, request: rendering.Request) -> AsyncIterator[rendering.Payload]:
        stream = watches.snapshot_then_events(self, request, self._KubernetesEmulator__get_objs,  # type: ignore[attr-defined]
                                              self._KubernetesEmulator__check)  # type: ignore[attr-defined]
        async for event in watches.until_timeout(stream, float(request.params.get("timeoutSeconds", "0") or 0)):
            if isinstance(event, dict) and "object" in event and not self._selected(request, event["object"]):
                continue
            yield event


async def serve(port: int, ready: asyncio.Event | None = None, stop: asyncio.Event | None = None) -> None:
    """Serve the emulator on 127.0.0.1:port until ``stop`` is set (forever when None)."""
    from kmock import Server

    stop = stop or asyncio.Event()
    async with SandboxEmulator(strict=False) as emulator, Server(emulator, host="127.0.0.1", port=port):
        if ready is not None:
            ready.set()
        await stop.wait()
