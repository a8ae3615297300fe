"""Turning a failed Kubernetes API request into one ``ClusterError`` a user can act on.

Owns: ``Operation`` (what extctl was doing: verb, resource, namespace, name) and the mapping of every way
a request fails to a ``ClusterError``: an HTTP answer by status (403 → ``Forbidden`` with an RBAC hint
naming the verb, resource and namespace; 401 → ``Unauthorized``; anything else → ``ClusterUnavailable``)
and everything below HTTP (refused or reset connections, timeouts, TLS, DNS, truncated or malformed
responses) → ``ClusterUnavailable`` naming the operation and the API server URL.
Must not: call the API, decide what a status means for a caller (404/409 handling lives in ``kube.py``),
or quote Secret request bodies or credentials (every message goes through ``controller.logs.scrub_text``).
"""

from __future__ import annotations

import errno
import json
from collections.abc import Iterator
from dataclasses import dataclass

from kubernetes.client.exceptions import ApiException

from controller.errors import ClusterError
from controller.logs import scrub_text

_KINDS = {"namespaces": "namespace", "secrets": "Secret", "configmaps": "ConfigMap", "extensions": "Extension",
          "events": "Event", "customresourcedefinitions": "CustomResourceDefinition", "leases": "Lease"}
_DOING = {"get": "reading", "create": "creating", "update": "writing", "patch": "applying", "list": "listing",
          "delete": "deleting"}
_MAX_DETAIL = 300
UNREACHABLE_HINT = "check that the cluster is running and that the kube context points to it: kubectl cluster-info"


@dataclass(frozen=True)
class Operation:
    """One API request, in RBAC terms: ``verb`` (get, create, update) on ``resource`` (plural)."""

    verb: str
    resource: str
    name: str
    namespace: str | None = None

    @property
    def target(self) -> str:
        kind = _KINDS.get(self.resource, self.resource)
        return f"{kind} {self.namespace}/{self.name}" if self.namespace else f"{kind} {self.name}"

    @property
    def doing(self) -> str:
        return f"{_DOING.get(self.verb, self.verb)} {self.target}"


def api_error(op: Operation, exc: ApiException, server: str) -> ClusterError:
    """An HTTP answer the caller does not expect (status 0: the client's own TLS failure)."""
    status = int(exc.status or 0)
    if status == 0:
        return transport_error(op, exc, server)
    detail = _server_message(op, exc)
    if status == 403:
        scope = f"in namespace {op.namespace}" if op.namespace else "(cluster-scoped)"
        binding = "a Role and RoleBinding" if op.namespace else "a ClusterRole and ClusterRoleBinding"
        check = f"kubectl auth can-i {op.verb} {op.resource}" + (f" -n {op.namespace}" if op.namespace else "")
        return ClusterError(
            f"Kubernetes API at {server} forbids {op.doing} (HTTP 403){detail}", reason="Forbidden",
            hint=f"grant the kube context's identity '{op.verb}' on '{op.resource}' {scope} ({binding}); "
                 f"check with: {check}")
    if status == 401:
        return ClusterError(
            f"Kubernetes API at {server} rejected the credentials while {op.doing} (HTTP 401 Unauthorized)",
            reason="Unauthorized",
            hint="the kube context's credentials are missing, invalid or expired: log in again, or choose "
                 "another context with --kube-context")
    return ClusterError(f"Kubernetes API at {server} answered HTTP {status} {exc.reason or ''}".rstrip()
                        + f" while {op.doing}{detail}", reason="ClusterUnavailable")


def transport_error(op: Operation, exc: BaseException, server: str) -> ClusterError:
    """Anything but an HTTP answer: the connection, TLS, or a response extctl cannot read."""
    cause, reachable = _cause(exc)
    if reachable:
        message = f"Kubernetes API at {server} sent an unusable response while {op.doing}: {cause}"
    else:
        message = f"Kubernetes API at {server} unreachable while {op.doing}: {cause}"
    return ClusterError(message, reason="ClusterUnavailable", hint=UNREACHABLE_HINT)


def _server_message(op: Operation, exc: ApiException) -> str:
    """The API server's own explanation (a ``Status`` message). Never for Secret writes: an
    admission or validation message may echo the submitted data."""
    if op.resource == "secrets" and op.verb != "get":
        return ""
    try:
        body = json.loads(exc.body or "")
    except (TypeError, ValueError):
        return ""
    message = body.get("message") if isinstance(body, dict) else None
    return f": {_short(str(message))}" if message else ""


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, the urllib3 ``reason`` it wraps, and their causes and contexts (each once)."""
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending.extend(e for e in (getattr(current, "reason", None), current.__cause__, current.__context__)
                       if isinstance(e, BaseException))


def _cause(exc: BaseException) -> tuple[str, bool]:
    """A short cause for the message, and whether the server answered at all."""
    chain = list(_chain(exc))
    names = [type(e).__name__ for e in chain]
    text = " ".join(str(e) for e in chain)  # only searched, never shown
    if any(isinstance(e, ConnectionRefusedError) or getattr(e, "errno", None) == errno.ECONNREFUSED for e in chain):
        return "connection refused", False
    if any(n in {"gaierror", "NameResolutionError"} for n in names):
        return "cannot resolve the server's host name", False
    if any("SSL" in n or "Certificate" in n for n in names) or "SSLError" in text:
        verify = "certificate verify failed" in text
        return ("TLS certificate verification failed" if verify else "TLS handshake failed"), False
    if any("Timeout" in n or isinstance(e, TimeoutError) for n, e in zip(names, chain, strict=True)):
        return "timed out", False
    if any(n in {"IncompleteRead", "InvalidChunkLength"} for n in names) or "IncompleteRead" in text:
        return "the response was cut off (incomplete read)", True
    if any(n in {"RemoteDisconnected", "ProtocolError", "ConnectionResetError", "BrokenPipeError",
                 "ConnectionAbortedError"} for n in names):
        return "the connection was closed before a response arrived", False
    if isinstance(exc, ValueError):  # JSON or model validation: its text may quote the response, so it is not shown
        return f"the response is not a Kubernetes object ({type(exc).__name__})", True
    if isinstance(exc, OSError):
        return _short(f"{type(exc).__name__}: {exc.strerror or exc.errno}"), False
    return f"unexpected {type(exc).__name__} in the Kubernetes client", False


def _short(text: str) -> str:
    line = " ".join(scrub_text(text).split())
    return line if len(line) <= _MAX_DETAIL else line[:_MAX_DETAIL - 1] + "…"
