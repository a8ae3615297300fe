"""What a failed helm invocation means: helm v4's messages mapped to the error classes of ``controller.errors``.

Owns: the pattern table (checked against the real helm v4 binary by tests/integration/test_helm_errors.py),
``classify(stderr) -> type[HelmError]``, ``summary(stderr)`` (the one-line gist of helm's stderr),
``unready_resources(stderr)`` (what ``--wait=watcher`` found not ready, and why) and ``helm_error(...)``,
which builds the typed, scrubbed, hinted error the runner raises.
Must not: spawn processes, decide what to do about a failure, or let secrets reach a message (every
message goes through ``controller.logs.scrub_text``). Classification never raises, whatever the input.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Sequence

from controller.errors import (
    HelmChartUnavailable,
    HelmClusterUnreachable,
    HelmError,
    HelmNamespaceNotFound,
    HelmNotFound,
    HelmNotReady,
    HelmOperationInProgress,
    HelmRenderError,
    HelmTimeout,
    HelmValidationFailed,
)
from controller.logs import scrub_text


def _any(*alternatives: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{a})" for a in alternatives), re.IGNORECASE)


# Order matters: the first matching pattern decides. The verbatim helm v4.1.4 messages behind each row
# are in tests/unit/test_helm_errors.py (table) and are provoked for real in the integration test.
PATTERNS: tuple[tuple[re.Pattern[str], type[HelmError]], ...] = (
    # "UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress"
    (_any(r"another operation \(install/upgrade/rollback\) is in progress"), HelmOperationInProgress),
    # Validation could not run at all (the API server serves no OpenAPI document): not the chart's fault.
    (_any(r"failed to download openapi"), HelmError),
    # Before the cluster: a chart download fails with the same "dial tcp … connection refused".
    (_any(r"is not a valid chart repository or cannot be reached",
          r"chart \"[^\"]*\"(?: version \"[^\"]*\")? not found in \S* ?repository",
          r"failed to (?:fetch|download) (?:https?://|oci://|\")",
          r"failed to perform \"\w+\" on source",
          r"failed to do request: ",
          r"path \"[^\"]*\" not found",
          r"does not appear to be a gzipped archive"), HelmChartUnavailable),
    (_any(r"kubernetes cluster unreachable", r"cluster reachability check failed",
          r"the server could not find the requested resource \(get version\)",
          r"the server is currently unable to handle the request",
          r"connection refused", r"no such host", r"dial tcp", r"i/o timeout", r"tls handshake timeout",
          r"connection reset by peer"), HelmClusterUnreachable),
    # --wait=watcher ran out: "resource Deployment/ns/x not ready. status: InProgress, message: Available: 0/1"
    (_any(r"resource \S+ not ready\. status: "), HelmNotReady),
    (_any(r"context deadline exceeded", r"timed out waiting", r"timeout waiting",
          r"exceeded the hard deadline"), HelmTimeout),
    # Kubernetes' NotFound for the namespace itself ('namespaces "x" not found'): someone must create it.
    (_any(r"namespaces? \"[^\"]*\" not found"), HelmNamespaceNotFound),
    (_any(r"values don't meet the specifications of the schema",
          r"error validating data", r"ValidationError\(", r"unknown field \"",
          r"strict decoding error", r"admission webhook \"[^\"]*\" denied the request", r"admission denied",
          r" is invalid: ", r"field is immutable"), HelmValidationFailed),
    # v4: 'INSTALLATION FAILED: chart/templates/x.yaml:4:18 executing "chart/templates/x.yaml" at <…>: …'
    (_any(r"\S+/templates/\S+:\d+:\d+",
          r"executing \"[^\"]*\" at <",
          r"parse error at \(", r"execution error at \(",
          r"YAML parse error on ", r"error converting YAML to JSON",
          r"(?:^|: )template: ", r"function \"[^\"]*\" not defined", r"nil pointer evaluating",
          r"can't evaluate field", r"wrong type for value", r"cannot load values\.yaml"), HelmRenderError),
    # "release: not found", "Release not loaded: x: release: not found", '"x" has no deployed releases'
    (_any(r"release: not found", r"release not loaded", r"has no deployed releases",
          r"release has no \d+ version"), HelmNotFound),
)

HINTS: dict[type[HelmError], str] = {
    HelmOperationInProgress: "another helm action holds the release (see `helm history`); it is retried, and "
                             "a lock older than --lock-timeout is recovered",
    HelmChartUnavailable: "check that the chart repository or registry is reachable and still lists this "
                          "chart version",
    HelmClusterUnreachable: "check the kubeconfig/context and that the Kubernetes API server is reachable",
    HelmTimeout: "check why the release's resources do not become ready, or raise --helm-timeout",
    HelmNotReady: "see why with kubectl describe on the resources named (events, pod logs); fix the chart or its "
                  "settings, or raise spec.timeout (or --helm-timeout); spec.wait: false stops waiting",
    HelmNamespaceNotFound: "the release namespace does not exist: create it, or check the extension's scope",
    HelmValidationFailed: "change configurationSettings (or the chart) so the rendered objects pass the "
                          "values schema and the cluster's validation; see the message for the field",
    HelmRenderError: "the chart does not render with these values: fix configurationSettings or pick another "
                     "chart version; `helm template` shows the same error",
    HelmNotFound: "the release (or the revision asked for) does not exist; `helm list -A` shows what does",
    HelmError: "an unrecognised helm failure (the message is helm's own); it is retried with backoff",
}

_KLOG_LINE = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+\s")  # client-go's "W1124 16:15:03.88 …" warnings
_ERROR_LINE = re.compile(r"^Error: ", re.MULTILINE)
_WHITESPACE = re.compile(r"\s+")
MAX_SUMMARY_CHARS = 2000
_WORD = re.compile(r"[a-z][a-z-]{0,30}")
_COMMAND_GROUPS = frozenset({"get", "repo", "registry", "show", "dependency", "plugin"})


def _relevant(stderr: str) -> str:
    """The part of stderr that explains the failure: from helm's last ``Error:`` line to the end (helm
    prints warnings, ``level=WARN`` log lines and client-go chatter before it), else everything."""
    matches = list(_ERROR_LINE.finditer(stderr))
    text = stderr[matches[-1].end():] if matches else stderr
    return "\n".join(line for line in text.splitlines() if not _KLOG_LINE.match(line))


def classify(stderr: str) -> type[HelmError]:
    """The error class for helm's stderr; ``HelmError`` (reason ``HelmFailed``) when nothing matches."""
    text = _relevant(stderr)
    for pattern, error_class in PATTERNS:
        if pattern.search(text):
            return error_class
    return HelmError


def summary(stderr: str) -> str:
    """helm's failure as one scrubbed line (``Error: `` and log chatter removed); empty if helm said nothing."""
    text = _WHITESPACE.sub(" ", _relevant(stderr)).strip()
    if len(text) > MAX_SUMMARY_CHARS:
        text = text[:MAX_SUMMARY_CHARS] + " …"
    return scrub_text(text)


def exit_description(returncode: int) -> str:
    """``helm exited with 2``, or ``helm was killed by SIGKILL`` (OOM killer, a human, a dying node)."""
    if returncode < 0:
        try:
            return f"helm was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"helm was killed by signal {-returncode}"
    return f"helm exited with {returncode}"


_NOT_READY = re.compile(r"resource (?P<kind>[^/\s]+)/(?:(?P<ns>[^/\s]*)/)?(?P<name>\S+) not ready\. "
                        r"status: (?P<status>[^,\n]*), message: (?P<message>[^\n]*)")


def unready_resources(stderr: str) -> tuple[str, ...]:
    """``Deployment web/agent (InProgress: Available: 0/1)`` per resource helm's watcher reported not ready."""
    found = []
    for match in _NOT_READY.finditer(_relevant(stderr)):
        where = f"{match['ns']}/{match['name']}" if match["ns"] else match["name"]
        why = "; ".join(p for p in (match["status"].strip(), match["message"].strip()) if p) or "no status"
        found.append(scrub_text(f"{match['kind']} {where} ({why})"))
    return tuple(dict.fromkeys(found))


def helm_error(args: Sequence[str], stderr: str, returncode: int) -> HelmError:
    """The typed error for a helm invocation that exited with ``returncode``: ``helm <command>: <gist>``
    with a hint. ``args`` only contributes the subcommand (never flags or values, which may be secrets)."""
    error_class = classify(stderr)
    said = summary(stderr)
    if error_class is HelmNotReady and returncode > 0:
        resources = unready_resources(stderr)
        error = HelmNotReady(f"{command_name(args)}: not ready before the timeout: {', '.join(resources)}",
                             hint=HINTS[HelmNotReady])
        error.resources = resources
        return error
    if returncode < 0:  # killed: whatever helm printed so far is context, not the cause
        gist = f"{exit_description(returncode)} ({said})" if said else exit_description(returncode)
    else:
        gist = said or exit_description(returncode)
    return error_class(f"{command_name(args)}: {gist}", hint=HINTS.get(error_class, HINTS[HelmError]))


def command_name(args: Sequence[str]) -> str:
    """``helm install``, ``helm get metadata``: the subcommand words of ``args`` only (no names, flags or values)."""
    if not args or not _WORD.fullmatch(args[0]):
        return "helm"
    if args[0] in _COMMAND_GROUPS and len(args) > 1 and _WORD.fullmatch(args[1]):
        return f"helm {args[0]} {args[1]}"
    return f"helm {args[0]}"
