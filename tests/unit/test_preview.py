"""Pure parts of ``extctl preview``: rendered-manifest diffs, Secret redaction, settings paths, reports."""

from __future__ import annotations

import base64
import json

import pytest

from controller.errors import Location, ValidationIssue
from controller.logs import scrub_text
from controller.preview.model import ExtensionChange, OtherAction, PreviewResult
from controller.preview.render import ResourceDiff, changed_setting_paths, diff_rendered, parse_rendered
from controller.preview.report import MARKER, render_json, render_markdown, render_text, short_reason, version_span

CM = """---
# Source: demo/templates/cm.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
  namespace: ns
data:
  level: {level}
"""
SECRET_T = """---
# Source: demo/templates/secret.yaml
apiVersion: v1
kind: Secret
metadata:
  name: creds
  namespace: ns
data:
  apiKey: {b64}
  stable: {stable}
stringData:
  token: {token}
"""


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def secret(key: str, token: str = "tok-value-1", stable: str = "same-value") -> str:
    return SECRET_T.format(b64=b64(key), token=token, stable=b64(stable))


def test_parse_rendered_keys_documents_and_skips_empty_ones() -> None:
    text = CM.format(level="info") + "---\n# Source: demo/templates/empty.yaml\n" + secret("k1")
    resources = parse_rendered(text)
    assert sorted(resources) == [("v1", "ConfigMap", "ns", "cfg"), ("v1", "Secret", "ns", "creds")]
    assert resources[("v1", "ConfigMap", "ns", "cfg")].source == "demo/templates/cm.yaml"


@pytest.mark.parametrize(("before", "after", "expected"), [
    (CM.format(level="info"), CM.format(level="info"), []),
    (CM.format(level="info"), CM.format(level="debug"), [("ConfigMap", "changed")]),
    (None, CM.format(level="info"), [("ConfigMap", "added")]),
    (CM.format(level="info"), None, [("ConfigMap", "removed")]),
    (CM.format(level="info"), secret("k"), [("ConfigMap", "removed"), ("Secret", "added")]),
])
def test_diff_rendered_changes(before: str | None, after: str | None, expected: list[tuple[str, str]]) -> None:
    diffs, _unchanged = diff_rendered(before, after)
    assert [(d.kind, d.change) for d in diffs] == expected


def test_changed_resource_is_a_unified_diff_and_added_is_shown_whole() -> None:
    (changed,), _ = diff_rendered(CM.format(level="info"), CM.format(level="debug"))
    assert changed.diff.splitlines()[:2] == ["--- base/ConfigMap/ns/cfg", "+++ head/ConfigMap/ns/cfg"]
    assert "-  level: info" in changed.diff and "+  level: debug" in changed.diff
    (added,), _ = diff_rendered(None, CM.format(level="info"))
    assert all(line.startswith("+") for line in added.diff.splitlines())
    assert "+kind: ConfigMap" in added.diff


@pytest.mark.parametrize(("before", "after", "base_marks", "head_marks"), [
    # apiKey changed, stable unchanged, token (stringData) unchanged
    (secret("old-key"), secret("new-key"),
     {"apiKey": "***(previous)", "stable": "***(unchanged)"}, {"apiKey": "***(changed)", "stable": "***(unchanged)"}),
    # only stringData changed
    (secret("k", token="t1-value"), secret("k", token="t2-value"),
     {"token": "***(previous)"}, {"token": "***(changed)"}),
    # whole Secret added / removed
    (None, secret("k"), {}, {"apiKey": "***(changed)", "token": "***(changed)"}),
    (secret("k"), None, {"apiKey": "***(removed)", "token": "***(removed)"}, {}),
])
def test_secret_values_become_markers(before: str | None, after: str | None, base_marks: dict[str, str],
                                      head_marks: dict[str, str]) -> None:
    diffs, _ = diff_rendered(before, after)
    text = "\n".join(d.diff for d in diffs)
    for raw in ("old-key", "new-key", "t1-value", "t2-value", "tok-value-1", "same-value", "k"):
        assert b64(raw) not in text
    for raw in ("old-key", "new-key", "t1-value", "t2-value", "tok-value-1", "same-value"):
        assert raw not in text
    for key, mark in base_marks.items():
        assert f"-  {key}: '{mark}'" in text or f"   {key}: '{mark}'" in text, text
    for key, mark in head_marks.items():
        assert f"+  {key}: '{mark}'" in text or f"   {key}: '{mark}'" in text, text


def test_unchanged_secret_is_not_shown_and_unparseable_secret_is_hidden() -> None:
    diffs, unchanged = diff_rendered(secret("k"), secret("k"))
    assert diffs == [] and unchanged == 1
    broken = "---\napiVersion: v1\nkind: Secret\nmetadata: {name: x\ndata:\n  k: c2VjcmV0LXZhbHVl\n"
    (only,), _ = diff_rendered(None, broken)
    assert "c2VjcmV0LXZhbHVl" not in only.diff and "contents hidden" in only.diff


@pytest.mark.parametrize(("before", "after", "expected"), [
    ({}, {}, []),
    ({"a": 1}, {"a": 1}, []),
    ({"a": 1}, {"a": 2}, ["a"]),
    ({"a": {"b": 1, "c": 2}}, {"a": {"b": 1, "c": 3, "d": 4}}, ["a.c", "a.d"]),
    ({"list": [1, 2]}, {"list": [1, 3]}, ["list"]),
    ({"gone": True}, None, ["gone"]),
    (None, {"new": {"deep": "x"}}, ["new.deep"]),
])
def test_changed_setting_paths(before: dict[str, object] | None, after: dict[str, object] | None,
                               expected: list[str]) -> None:
    assert changed_setting_paths(before, after) == expected


def test_scrub_text_removes_userinfo_and_extra_secrets() -> None:
    text = "fetch http://bob:hunter2-pw@repo.example/x failed; token abcd-secret-1234"
    assert scrub_text(text, ["abcd-secret-1234"]) == "fetch http://repo.example/x failed; token ***"


@pytest.mark.parametrize(("frm", "to", "expected"), [
    (None, "1.0.0", "none → 1.0.0"), ("1.0.0", None, "1.0.0 → none"), ("1.0.0", "1.0.0", "1.0.0"),
    ("1.0.0", "1.1.0", "1.0.0 → 1.1.0"),
])
def test_version_span(frm: str | None, to: str | None, expected: str) -> None:
    assert version_span(frm, to) == expected


def test_short_reason_hides_digests() -> None:
    assert short_reason(["values digest changed aaaa → bbbb", "x"]) == "values changed; x"
    assert short_reason(["settings changed: a, b.c (protected)", "x"]) == "settings changed; x", \
        "the keys have the table's settings column"


def _change(name: str, lines: int = 5, action: str = "upgrade") -> ExtensionChange:
    diff = "\n".join(f"+line {i} of {name}" for i in range(lines))
    return ExtensionChange(name, "ns", name, action, "1.0.0", "1.1.0", ("because",), chart="demo@1.1.0 from repo",
                           settings_changed=("a.b",), resources=(ResourceDiff("v1", "ConfigMap", "ns", name, "added",
                                                                              diff),), rendered=True)


def _result(*changes: ExtensionChange, **fields: object) -> PreviewResult:
    return PreviewResult(source="file:///repo.git", path=None, base_ref="main", head_ref="feature",
                         base_revision="main@sha1:" + "a" * 40, head_revision="feature@sha1:" + "b" * 40,
                         changes=changes, stats={"helm_template_calls": 2}, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(("result", "code"), [
    (_result(), 0),
    (_result(_change("x")), 2),
    (_result(others=(OtherAction("y", "ns", "fail", None, ("resolution failed",)),)), 1),
    (_result(_change("x"), errors=("boom",)), 1),
    (_result(validation_errors=(ValidationIssue(Location("a.yaml", 3, 5), "spec.x", "bad"),)), 1),
])
def test_exit_codes(result: PreviewResult, code: int) -> None:
    assert result.exit_code == code
    assert render_json(result)["exit_code"] == code


def test_markdown_layout() -> None:
    text = render_markdown(_result(_change("web"), others=(OtherAction("db", "ns", "noop", "1.0.0", ("ok",)),)))
    assert text.startswith(MARKER + "\n### extctl preview: 1 extension changes\n")
    assert "head `feature@bbbbbbbbbbbb` compared with base `main@aaaaaaaaaaaa`" in text
    assert "| web | upgrade | 1.0.0 → 1.1.0 | because | `a.b` |" in text
    assert "1 extension(s) unchanged (not rendered)." in text
    assert "<details>\n<summary><b>web</b> · upgrade · 1.0.0 → 1.1.0 · namespace ns</summary>" in text
    assert "```diff\n+line 0 of web" in text


def test_markdown_fences_survive_backticks_in_diffs() -> None:
    change = _change("x")
    fenced = ExtensionChange(**{**change.__dict__, "resources": (
        ResourceDiff("v1", "ConfigMap", "ns", "x", "added", "+doc: ```not a fence```"),)})
    text = render_markdown(_result(fenced))
    assert "````diff\n+doc: ```not a fence```\n````" in text


def test_markdown_validation_errors_are_located() -> None:
    issue = ValidationIssue(Location("extensions/a.yaml", 7, 3), "spec.version", "must be SemVer")
    text = render_markdown(_result(validation_errors=(issue,)))
    assert "extensions/a.yaml:7:3: error: spec.version: must be SemVer" in text
    assert "invalid manifests (1 error)" in text


def test_a_field_name_from_the_head_cannot_close_the_manifest_errors_fence() -> None:
    """YAML keys are the head's text: a key holding a newline and ``` must stay inside the code block."""
    issue = ValidationIssue(Location("extensions/a.yaml", 7, 3), "spec.zz\n```\n### all clear\n```", "unknown field")
    text = render_markdown(_result(validation_errors=(issue,)))
    assert "````text\nextensions/a.yaml:7:3: error: spec.zz\n```\n### all clear\n```: unknown field\n````\n" in text


def test_truncation_is_per_extension_and_fair() -> None:
    result = _result(_change("small", lines=3), _change("huge", lines=3000), _change("medium", lines=40))
    full = render_markdown(result, max_bytes=0)
    limited = render_markdown(result, max_bytes=8000)
    assert len(full.encode()) > 8000 >= len(limited.encode())
    assert "Output truncated" in limited and "--max-bytes 0" in limited
    assert "+line 2 of small" in limited and "+line 39 of medium" in limited  # small sections stay whole
    assert "+line 2999 of huge" not in limited and "+line 0 of huge" in limited
    assert limited.count("<details>") == limited.count("</details>") == 3
    assert limited.count("```") % 2 == 0
    assert render_markdown(result, max_bytes=len(full.encode())) == full


def test_text_and_json_formats() -> None:
    result = _result(_change("web"))
    text = render_text(result)
    assert "web            upgrade  1.0.0 → 1.1.0  a.b" in text or "web" in text.splitlines()[5]
    assert "--- ConfigMap ns/web (v1): added" in text and text.endswith("1 change(s); exit code 2\n")
    data = json.loads(json.dumps(render_json(result)))
    assert data["schema"] == "extctl.dev/preview/v1"
    assert set(data) == {"schema", "exit_code", "source", "path", "compare", "base", "head", "changes", "others",
                         "validation_errors", "errors", "notices", "stats"}
    assert data["changes"][0]["resources"][0] == {"api_version": "v1", "kind": "ConfigMap", "namespace": "ns",
                                                  "name": "web", "change": "added",
                                                  "diff": "\n".join(f"+line {i} of web" for i in range(5))}
