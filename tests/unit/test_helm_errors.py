"""helm's failures become typed errors with a reason, a transient flag, one readable line and a hint.

A table of helm v4.1.4's real messages (observed with the official binary against the sandbox; see
tests/integration/test_helm_errors.py, which provokes them) pins the classification; property tests feed
arbitrary text to the classifier and arbitrary stdout to the JSON reader: a typed error, never a crash.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller import errors
from controller.errors import ExtctlError, HelmError, HelmOutputInvalid
from controller.helm import HelmResult, classify, parse_json_output
from controller.helm.errors import helm_error

# (stderr as helm v4.1.4 prints it, reason, transient). Shortened only where the tail does not matter.
REAL_MESSAGES: list[tuple[str, str, bool]] = [
    # Template errors: v4 prints the template position first, not v3's "template: ".
    ('Error: INSTALLATION FAILED: broken/templates/bad.yaml:4:18\n'
     '  executing "broken/templates/bad.yaml" at <.Values.nope.deeper>:\n'
     '    nil pointer evaluating interface {}.deeper\n', "RenderFailed", False),
    ('Error: demo-agent/templates/deployment.yaml:26:28\n'
     '  executing "demo-agent/templates/deployment.yaml" at <.Values.image.repository>:\n'
     "    can't evaluate field repository in type interface {}\n", "RenderFailed", False),
    ("Error: INSTALLATION FAILED: parse error at (broken/templates/bad.yaml:5): unclosed action started at "
     "broken/templates/bad.yaml:4\n", "RenderFailed", False),
    ("Error: INSTALLATION FAILED: execution error at (broken/templates/bad.yaml:1:3): boom here\n",
     "RenderFailed", False),
    ("Error: INSTALLATION FAILED: execution error at (broken/templates/bad.yaml:1:3): set .Values.foo\n",
     "RenderFailed", False),
    ('Error: INSTALLATION FAILED: parse error at (broken/templates/bad.yaml:1): function "nosuchfunc" not defined\n',
     "RenderFailed", False),
    ("Error: INSTALLATION FAILED: YAML parse error on broken/templates/bad.yaml: error converting YAML to JSON: "
     "yaml: line 5: did not find expected node content\n", "RenderFailed", False),
    ("Error: YAML parse error on broken/templates/bad.yaml: error converting YAML to JSON: yaml: line 5: did not "
     "find expected node content\n\nUse --debug flag to render out invalid YAML\n", "RenderFailed", False),
    # Rejected after rendering: values schema, the API server (422 Invalid, admission), OpenAPI.
    ("Error: INSTALLATION FAILED: values don't meet the specifications of the schema(s) in the following "
     "chart(s):\nbroken:\n- at '/logLevel': got string, want integer\n\n", "ValidationFailed", False),
    ("Error: INSTALLATION FAILED: admission denied: no way\n", "ValidationFailed", False),
    ('level=WARN msg="upgrade failed" name=r4 error="cannot patch \\"r4-settings\\" with kind ConfigMap: '
     'admission denied: no way again"\nError: UPGRADE FAILED: cannot patch "r4-settings" with kind ConfigMap: '
     "admission denied: no way again\n", "ValidationFailed", False),
    ('Error: INSTALLATION FAILED: admission webhook "validate.kyverno.svc" denied the request: policy '
     "require-labels failed\n", "ValidationFailed", False),
    ('Error: UPGRADE FAILED: cannot patch "web" with kind Deployment: Deployment.apps "web" is invalid: '
     "spec.selector: Invalid value: ...: field is immutable\n", "ValidationFailed", False),
    ('Error: INSTALLATION FAILED: unable to build kubernetes objects from release manifest: error validating "": '
     'error validating data: ValidationError(ConfigMap): unknown field "bad" in io.k8s.api.core.v1.ConfigMap\n',
     "ValidationFailed", False),
    # Namespace missing, as a real API server answers (the sandbox emulator accepts any namespace).
    ('Error: INSTALLATION FAILED: namespaces "team-a" not found\n', "NamespaceNotFound", True),
    ('Error: INSTALLATION FAILED: create: failed to create: namespaces "team-a" not found\n',
     "NamespaceNotFound", True),
    # The release does not exist (or not in a state the command needs).
    ("Error: release: not found\n", "ReleaseNotFound", False),
    ("Error: uninstall: Release not loaded: nope: release: not found\n", "ReleaseNotFound", False),
    ('Error: UPGRADE FAILED: "nope" has no deployed releases\n', "ReleaseNotFound", False),
    ("Error: release has no 7 version\n", "ReleaseNotFound", False),
    # Lock, timeouts, cluster, charts.
    ("Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress\n",
     "OperationInProgress", True),
    ("W1124 16:15:03.883991   30832 object_status_reporter.go:765] ListAndWatch error (retry expected): "
     "/ConfigMap/namespaces/exp2: no stream serializers registered for application/octet-stream\n"
     "Error: INSTALLATION FAILED: resource Deployment/exp2/t1 not ready. status: Unknown, message: \n"
     "context deadline exceeded\n", "NotReady", True),
    # --wait=watcher on the sandbox with its workload simulator: a crash-looping Deployment never gets available.
    ("Error: INSTALLATION FAILED: resource Deployment/w1/a2 not ready. status: InProgress, message: Available: 0/1\n"
     "context deadline exceeded\n", "NotReady", True),
    ("Error: UPGRADE FAILED: context deadline exceeded\n", "Timeout", True),
    ('Error: kubernetes cluster unreachable: Get "http://127.0.0.1:1/version": dial tcp 127.0.0.1:1: connect: '
     "connection refused\n", "ClusterUnreachable", True),
    ('level=ERROR msg="cluster reachability check failed: kubernetes cluster unreachable: Get '
     '\\"http://127.0.0.1:1/version\\": dial tcp 127.0.0.1:1: connect: connection refused"\n'
     'Error: INSTALLATION FAILED: cluster reachability check failed: kubernetes cluster unreachable: Get '
     '"http://127.0.0.1:1/version": dial tcp 127.0.0.1:1: connect: connection refused\n',
     "ClusterUnreachable", True),
    ('Error: INSTALLATION FAILED: chart "demo-agent" version "9.9.9" not found in http://127.0.0.1:38471 '
     "repository\n", "ChartUnavailable", True),
    ('Error: INSTALLATION FAILED: looks like "http://127.0.0.1:1" is not a valid chart repository or cannot be '
     'reached: Get "http://127.0.0.1:1/index.yaml": dial tcp 127.0.0.1:1: connect: connection refused\n',
     "ChartUnavailable", True),
    ("Error: failed to fetch http://127.0.0.1:38471/demo-agent-1.0.0.tgz : 404 File not found\n",
     "ChartUnavailable", True),
    ('Error: failed to perform "FetchReference" on source: Get "http://127.0.0.1:1/v2/charts/demo-agent/'
     'manifests/1.0.0": dial tcp 127.0.0.1:1: connect: connection refused\n', "ChartUnavailable", True),
    ('Error: INSTALLATION FAILED: path "/tmp/nope-1.0.0.tgz" not found\n', "ChartUnavailable", True),
    # Unknown or unclassifiable: retried with backoff.
    ('level=ERROR msg="release name check failed" error="cannot reuse a name that is still in use"\n'
     "Error: INSTALLATION FAILED: release name check failed: cannot reuse a name that is still in use\n",
     "HelmFailed", True),
    ('Error: INSTALLATION FAILED: unable to build kubernetes objects from release manifest: resource mapping not '
     'found for name: "w" namespace: "" from "": no matches for kind "Widget" in version "example.com/v1"\n'
     "ensure CRDs are installed first\n", "HelmFailed", True),
    ('Error: INSTALLATION FAILED: unable to build kubernetes objects from release manifest: error validating "": '
     "error validating data: failed to download openapi: the server could not find the requested resource\n",
     "HelmFailed", True),
    ("", "HelmFailed", True),
]


@pytest.mark.parametrize(("stderr", "reason", "transient"), REAL_MESSAGES,
                         ids=[f"{i:02d}-{r}" for i, (_, r, _t) in enumerate(REAL_MESSAGES)])
def test_real_helm_v4_messages_map_to_reasons(stderr: str, reason: str, transient: bool) -> None:
    error = helm_error(["install", "demo"], stderr, 1)
    assert (error.reason, error.transient) == (reason, transient)
    assert classify(stderr) is type(error)
    assert error.hint, "every helm error says what to do"
    assert "\n" not in str(error) and not str(error).startswith("helm install: Error:")


def test_message_is_the_error_part_on_one_line_without_log_chatter() -> None:
    stderr = ('W1124 16:15:03.88 30832 reporter.go:765] ListAndWatch error (retry expected)\n'
              'level=WARN msg="upgrade failed" name=r4\n'
              'Error: UPGRADE FAILED: cannot patch "r4-settings" with kind ConfigMap:\n  admission denied: no\n')
    error = helm_error(["upgrade", "r4", "chart", "--password", "hunter2"], stderr, 1)
    assert error.message == 'helm upgrade: UPGRADE FAILED: cannot patch "r4-settings" with kind ConfigMap: ' \
                            "admission denied: no"
    assert "hunter2" not in str(error)


def test_a_readiness_timeout_names_every_unready_resource_and_why() -> None:
    stderr = ("W1124 20:38:26.14 28875 reporter.go:765] ListAndWatch error (retry expected)\n"
              "Error: UPGRADE FAILED: resource Deployment/web/agent not ready. status: InProgress, message: "
              "Available: 0/1\nresource StatefulSet/web/db not ready. status: InProgress, message: Ready: 1/3\n"
              "resource ClusterRole//reader not ready. status: Unknown, message: \ncontext deadline exceeded\n")
    error = helm_error(["upgrade", "agent"], stderr, 1)
    assert isinstance(error, errors.HelmNotReady) and error.transient
    assert error.resources == ("Deployment web/agent (InProgress; Available: 0/1)",
                               "StatefulSet web/db (InProgress; Ready: 1/3)", "ClusterRole reader (Unknown)")
    assert error.message == ("helm upgrade: not ready before the timeout: Deployment web/agent (InProgress; "
                             "Available: 0/1), StatefulSet web/db (InProgress; Ready: 1/3), ClusterRole reader "
                             "(Unknown)")
    assert "spec.timeout" in str(error)


def test_message_names_the_subcommand_and_scrubs_url_credentials() -> None:
    error = helm_error(["get", "metadata", "x"], 'Error: looks like "https://bob:s3cret@charts.example" is not a '
                       "valid chart repository or cannot be reached\n", 1)
    assert error.message.startswith("helm get metadata: looks like")
    assert "s3cret" not in str(error) and "bob:" not in str(error)


@pytest.mark.parametrize(("returncode", "gist"), [(-9, "helm was killed by SIGKILL"), (2, "helm exited with 2"),
                                                  (-200, "helm was killed by signal 200")])
def test_a_silent_failure_says_how_helm_ended(returncode: int, gist: str) -> None:
    error = helm_error(["upgrade"], "", returncode)
    assert (error.message, error.reason, error.transient) == (f"helm upgrade: {gist}", "HelmFailed", True)


def test_a_killed_helm_says_so_first() -> None:
    error = helm_error(["upgrade"], "W1124 16:15:03.1 1 x.go:1] watch error\nlevel=INFO msg=waiting\n", -9)
    assert error.message == "helm upgrade: helm was killed by SIGKILL (level=INFO msg=waiting)"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400) | st.lists(st.sampled_from([
    "Error: ", "INSTALLATION FAILED: ", "\n", "not found", "release: ", "namespaces ", '"x" ', "timed out",
    "dial tcp ", "templates/a.yaml:1:2", "executing ", "admission denied", "W1124 16:15:03.1 ", "level=WARN ",
    "https://u:p@h/", " ", "é", "\x00"]), max_size=30).map("".join),
       st.lists(st.text(max_size=10), max_size=3), st.integers(-300, 300))
def test_any_helm_output_becomes_a_typed_error(stderr: str, args: list[str], returncode: int) -> None:
    error_class = classify(stderr)
    assert issubclass(error_class, HelmError)
    error = helm_error(args, stderr, returncode)
    assert isinstance(error, error_class)
    assert error.reason and isinstance(error.transient, bool)
    assert error.message.startswith("helm") and "\n" not in error.message
    assert str(error)


# ---------------------------------------------------------------------------------- JSON output
def result(stdout: str) -> HelmResult:
    return HelmResult(stdout=stdout, stderr="", returncode=0)


@pytest.mark.parametrize(("stdout", "shape", "empty", "expected"), [
    ('[{"name": "a"}]', list, [], [{"name": "a"}]),
    ("[]\n", list, [], []),
    ("", list, [], []),
    ("null", list, [], []),
    ('{"name": "a", "version": "1.0.0"}', dict, None, {"name": "a", "version": "1.0.0"}),
])
def test_json_output_of_the_expected_shape_is_returned(stdout: str, shape: type[Any], empty: Any,
                                                       expected: Any) -> None:
    assert parse_json_output(result(stdout), "list", shape, empty=empty) == expected


@pytest.mark.parametrize(("stdout", "shape", "problem"), [
    ("NAME\tNAMESPACE\tREVISION\nagent\tdefault\t1\n", list,
     "text that is not JSON: Expecting value (line 1, column 1)"),
    ('[{"name": "a"', list, "text that is not JSON: Expecting ',' delimiter (line 1, column 14)"),
    ('{"name": "a"}', list, "JSON an object"),
    ('["a"]', list, "a JSON list whose item 0 is a string"),
    ("[]", dict, "JSON a list"),
    ("", dict, "text that is not JSON: Expecting value (line 1, column 1)"),
    ("null", dict, "JSON null"),
    ("[" * 100000 + "]" * 100000, list, "JSON nested too deeply to read"),
])
def test_output_that_is_not_the_json_asked_for_is_helm_output_invalid(stdout: str, shape: type[Any],
                                                                      problem: str) -> None:
    with pytest.raises(HelmOutputInvalid) as raised:
        parse_json_output(result(stdout), "get metadata", shape)
    expected = "a JSON object" if shape is dict else "a JSON list of objects"
    assert raised.value.message == (f"helm get metadata printed {problem} instead of {expected} "
                                    f"({len(stdout)} characters on stdout)")
    assert (raised.value.reason, raised.value.transient) == ("HelmOutputInvalid", True)
    assert raised.value.hint


def test_invalid_output_is_never_quoted() -> None:
    with pytest.raises(HelmOutputInvalid) as raised:
        parse_json_output(result('password: "hunter2"\n'), "get metadata", dict)
    assert "hunter2" not in str(raised.value)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200) | st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=10).map(lambda tree: __import__("json").dumps(tree)),
    st.sampled_from([list, dict]))
def test_any_stdout_is_the_asked_shape_or_helm_output_invalid(stdout: str, shape: type[Any]) -> None:
    try:
        data = parse_json_output(result(stdout), "history", shape, empty=[] if shape is list else None)
    except HelmOutputInvalid as error:
        assert error.message.startswith("helm history printed ")
    else:
        assert isinstance(data, shape)
        if isinstance(data, list):
            assert all(isinstance(item, dict) for item in data)


# ---------------------------------------------------------------------------------- transient flags
TRANSIENT = {
    "HelmError": True, "HelmNotFound": False, "HelmOperationInProgress": True, "HelmRenderError": False,
    "HelmValidationFailed": False, "HelmNamespaceNotFound": True, "HelmClusterUnreachable": True,
    "HelmChartUnavailable": True, "HelmTimeout": True, "HelmOutputInvalid": True, "HelmBinaryMissing": False,
    "InternalError": True, "SecretNotReady": True, "ClusterError": True, "ManifestError": False,
    "ResolutionError": False, "ConflictError": False, "CatalogError": True, "CatalogAuthError": False,
    "CatalogIndexInvalid": False, "CatalogRepositoryNotFound": False, "ChartNotFound": False,
    "LocalRepositoryMissing": False, "SourceError": True, "SourceAuthError": False, "SourceBranchNotFound": True,
    "SourcePathNotFound": False, "SourceInvalid": False, "PreviewPostError": True,
    "CredentialsInvalid": False, "ChartDownloadFailed": True, "ChartDigestMismatch": True, "HelmNotReady": True,
}


def test_every_error_class_states_whether_it_is_retried() -> None:
    classes = {name: cls for name, cls in vars(errors).items()
               if isinstance(cls, type) and issubclass(cls, ExtctlError)
               and cls not in (ExtctlError, errors.TransientError, errors.PermanentError)}
    assert {name: cls.transient for name, cls in classes.items()} == TRANSIENT
    assert errors.InternalError("boom").reason == "InternalError"
