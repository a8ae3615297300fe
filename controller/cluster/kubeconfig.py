"""Finding and loading the Kubernetes client configuration, the way kubectl does, without a network call.

Owns: where the configuration comes from (an explicit kubeconfig path, the ``KUBECONFIG`` list, else
``~/.kube/config``; or the pod's service account when ``KUBERNETES_SERVICE_HOST`` is set and nothing is
configured explicitly), checking ``--kube-context`` against the contexts the files define, and mapping
every loading failure to ``ClusterError`` with reason ``KubeConfigMissing``, ``KubeContextNotFound`` or
``KubeConfigInvalid``. Also the API server URL for messages (``LoadedConfig.server_url``).
Must not: call the API, or put credentials (tokens, passwords, keys, exec-plugin output) into messages.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException
from kubernetes.config.kube_config import KubeConfigMerger

from controller.errors import ClusterError
from controller.logs import redact_text, scrub_text

MISSING_HINT = "set KUBECONFIG, pass --kube-context, run in a pod with a service account, or use --offline"
_DICT_REPR = re.compile(r"\{.*\}", re.DOTALL)  # the kubernetes client names config nodes by their dict repr


@dataclass(frozen=True)
class LoadedConfig:
    """A ready ``ApiClient`` and where it points (``server_url`` carries no credentials)."""

    api_client: Any
    server_url: str
    origin: str  # "in-cluster service account" or the kubeconfig file(s)


def kubeconfig_paths(explicit: str | None, environ: Mapping[str, str]) -> tuple[list[str], str]:
    """The files kubectl would read, and how they were chosen (for messages)."""
    if explicit:
        return [os.path.expanduser(explicit)], explicit
    listed = environ.get("KUBECONFIG")
    if listed:
        return [os.path.expanduser(p) for p in listed.split(os.pathsep) if p], f"KUBECONFIG={listed}"
    default = os.path.expanduser("~/.kube/config")
    return [default], f"KUBECONFIG is not set and {default}"


def load_config(kubeconfig: str | None, context: str | None, environ: Mapping[str, str] = os.environ) -> LoadedConfig:
    """Load the configuration (no network call). Raises ``ClusterError`` as described in the module docstring."""
    in_cluster = "KUBERNETES_SERVICE_HOST" in environ and not (kubeconfig or environ.get("KUBECONFIG") or context)
    if in_cluster:
        return _load_in_cluster()
    paths, chosen = kubeconfig_paths(kubeconfig, environ)
    existing = [p for p in paths if os.path.exists(p)]
    if not existing:
        detail = f"{chosen} does not exist" if chosen.startswith("KUBECONFIG is not set") else \
            f"{chosen}: {'no such file' if len(paths) == 1 else 'none of these files exists'}"
        raise ClusterError(f"no Kubernetes configuration found ({detail})", reason="KubeConfigMissing",
                           hint=MISSING_HINT)
    where = os.pathsep.join(existing)
    merged = _merged(where)
    contexts = [str(name) for name in _context_names(merged)]
    if context is not None and context not in contexts:
        raise ClusterError(
            f"kube context {context!r} not found in {where} (available: {', '.join(contexts) or 'none'})",
            reason="KubeContextNotFound",
            hint="pass one of the available contexts to --kube-context, or omit it to use the current context")
    if context is None and not merged.get("current-context"):
        raise ClusterError(f"invalid Kubernetes configuration in {where}: no current-context is set",
                           reason="KubeConfigInvalid",
                           hint="select one with `kubectl config use-context NAME`, or pass --kube-context")
    try:
        api_client = config.new_client_from_config(config_file=where, context=context)  # type: ignore[no-untyped-call]
    except Exception as exc:  # ConfigException, OSError, exec plugins: all a bad config
        raise _invalid(where, exc, _credentials(merged)) from exc
    context_name = context or str(merged["current-context"])
    cluster_name = _field(_named(merged, "contexts", context_name), "context", "cluster")
    if not _field(_named(merged, "clusters", cluster_name), "cluster", "server"):
        raise ClusterError(f"invalid Kubernetes configuration in {where}: cluster {cluster_name!r} (context "
                           f"{context_name!r}) has no server", reason="KubeConfigInvalid",
                           hint="set it with `kubectl config set-cluster NAME --server=https://…`")
    return LoadedConfig(api_client, scrub_text(str(api_client.configuration.host)), where)


def _load_in_cluster() -> LoadedConfig:
    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except Exception as exc:  # ConfigException (no token file), OSError
        raise _invalid("the pod's service account", exc, (), hint=(
            "mount the service account token (automountServiceAccountToken: true), or set KUBECONFIG")) from exc
    return LoadedConfig(client.ApiClient(configuration), scrub_text(str(configuration.host)),
                        "in-cluster service account")


def _merged(where: str) -> dict[str, Any]:
    """The merged kubeconfig as a plain mapping (YAML errors located, never quoted: lines may hold tokens)."""
    try:
        node = KubeConfigMerger(where).config  # type: ignore[no-untyped-call]
    except Exception as exc:  # yaml.YAMLError, OSError, ConfigException, a non-mapping document
        raise _invalid(where, exc, ()) from exc
    value = getattr(node, "value", None)
    if not isinstance(value, dict):
        raise ClusterError(f"invalid Kubernetes configuration in {where}: not a kubeconfig document",
                           reason="KubeConfigInvalid", hint="check the file with `kubectl config view`")
    return value


def _entries(merged: Mapping[str, Any], section: str) -> Iterator[dict[str, Any]]:
    """The entries of ``contexts``/``clusters``/``users`` (the merger wraps each in a ``ConfigNode``)."""
    for entry in merged.get(section) or []:
        fields = getattr(entry, "value", entry)
        if isinstance(fields, dict) and fields.get("name"):
            yield fields


def _context_names(merged: Mapping[str, Any]) -> Iterator[Any]:
    return (entry["name"] for entry in _entries(merged, "contexts"))


def _named(merged: Mapping[str, Any], section: str, name: Any) -> dict[str, Any]:
    return next((entry for entry in _entries(merged, section) if entry["name"] == name), {})


def _field(entry: Mapping[str, Any], key: str, field: str) -> Any:
    inner = entry.get(key)
    return inner.get(field) if isinstance(inner, dict) else None


def _credentials(merged: Mapping[str, Any]) -> tuple[str, ...]:
    """Every string under ``users``: redacted from messages whatever the client library put in them."""
    found: list[str] = []

    def walk(value: Any) -> None:
        value = getattr(value, "value", value)
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str) and len(value) >= 4:
            found.append(value)

    walk(merged.get("users"))
    return tuple(found)


def _invalid(where: str, exc: BaseException, credentials: tuple[str, ...], *,
             hint: str = "check it with `kubectl config view`, or point KUBECONFIG/--kube-context elsewhere",
             ) -> ClusterError:
    mark = getattr(exc, "problem_mark", None)
    if mark is not None:  # a YAML error: say where, never quote the line
        detail = f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: {getattr(exc, 'problem', '')}"
    elif isinstance(exc, OSError):
        detail = f"{exc.strerror or type(exc).__name__}: {exc.filename or where}"
    elif isinstance(exc, ConfigException):
        detail = _DICT_REPR.sub("{…}", redact_text(scrub_text(str(exc)), credentials))
    else:
        detail = "not a kubeconfig document"
    return ClusterError(f"invalid Kubernetes configuration in {where}: {detail}", reason="KubeConfigInvalid",
                        hint=hint)
