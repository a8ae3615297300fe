"""The manifest loader never crashes: whatever a file holds, a revision loads or is rejected with located issues.

Property tests (hypothesis) feed ``load_directory`` arbitrary bytes, YAML-token soup, mutated real
manifests and arbitrary YAML trees shaped like Extension/ExtensionType manifests; the only allowed
outcomes are a ``ManifestSet`` or a ``ManifestError`` whose every issue names a written file, a line and
a column. The examples at the end pin the messages for files that cannot be read or decoded.
"""

from __future__ import annotations

import errno
import io
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from controller.errors import ManifestError
from controller.manifests import ManifestSet, load_directory, parse_documents

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_FILES = sorted(p for p in (REPO_ROOT / "sample-repo").rglob("*.yaml")
                      if "charts" not in p.relative_to(REPO_ROOT / "sample-repo").parts)
# EXTCTL_FUZZ_SCALE=20 runs a 20 times deeper search (minutes); the default keeps this file at ~10 s.
_SCALE = float(os.environ.get("EXTCTL_FUZZ_SCALE", "1"))


def fuzz(examples: int) -> settings:
    return settings(deadline=None, suppress_health_check=[HealthCheck.too_slow],
                    max_examples=max(1, int(examples * _SCALE)))


def _write(root: Path, files: Mapping[str, bytes]) -> None:
    for relative, data in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def assert_loads_or_reports(files: Mapping[str, bytes]) -> ManifestSet | ManifestError:
    """Write ``files`` into a fresh directory and load it: a ManifestSet, or a ManifestError whose issues
    are located in the written files. Any other exception fails the property."""
    with tempfile.TemporaryDirectory(prefix="extctl-fuzz-") as directory:
        root = Path(directory)
        _write(root, files)
        try:
            return load_directory(root)
        except ManifestError as error:
            assert error.issues, "a ManifestError must carry at least one issue"
            for issue in error.issues:
                assert issue.location.file in files, issue
                assert issue.location.line >= 1 and issue.location.column >= 1, issue
                assert issue.message.strip(), issue
                assert str(issue).startswith(f"{issue.location.file}:{issue.location.line}:"), issue
            assert "Traceback" not in str(error)
            return error


# --------------------------------------------------------------------------------------- raw input
@fuzz(150)
@given(st.binary(max_size=600))
def test_arbitrary_bytes_load_or_are_rejected_with_located_issues(data: bytes) -> None:
    outcome = assert_loads_or_reports({"extensions/fuzz.yaml": data})
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        assert isinstance(outcome, ManifestError)
        assert any("not valid UTF-8" in issue.message for issue in outcome.issues), outcome


YAML_TOKENS = [
    "a", "b", "name", "spec", "kind", "Extension", ":", ": ", " ", "  ", "\n", "\r\n", "\t", "- ", "-", "[", "]",
    "{", "}", ",", "? ", "&x ", "*x", "&y ", "*y", "<<: ", "!!float ", "!!int ", "!!binary ", "!!set ", "!!omap ",
    "!!timestamp ", "!!str ", "!!map ", "!!seq ", "!foo ", "!<tag:x> ", "---", "...", "%YAML 1.2\n",
    "%TAG ! tag:x,2000:\n", "'", '"', "\\", "#", "|", ">", "|-", ">+", "1", "0x1F", "1e3", ".nan", "-.inf", "~",
    "null", "true", "no", "2001-01-01", "2001-12-14t21:59:43.10-05:00", "\u2028", "\x85", "\ufeff", "é", "\x00",
    "\x07", "\x7f",
]


@fuzz(150)
@given(st.lists(st.sampled_from(YAML_TOKENS), max_size=40).map("".join))
def test_yaml_token_soup_loads_or_is_rejected_with_located_issues(text: str) -> None:
    assert_loads_or_reports({"extensions/soup.yaml": text.encode("utf-8", errors="surrogatepass")})


@fuzz(150)
@given(st.text(max_size=300))
def test_arbitrary_text_from_git_loads_or_is_rejected(text: str) -> None:
    """The Git source hands decoded text to ``parse_documents`` directly."""
    try:
        manifests = parse_documents({"extensions/text.yaml": text})
    except ManifestError as error:
        assert all(issue.location.file == "extensions/text.yaml" for issue in error.issues)
    else:
        assert isinstance(manifests, ManifestSet)


@fuzz(60)
@given(st.data())
def test_mutated_sample_manifests_load_or_are_rejected(data: st.DataObject) -> None:
    """A real manifest with a few bytes inserted, replaced or cut (a bad merge, an editor accident)."""
    source = data.draw(st.sampled_from(SAMPLE_FILES), label="file")
    original = source.read_bytes()
    content = bytearray(original)
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        position = data.draw(st.integers(0, len(content)), label="position")
        cut = data.draw(st.integers(0, 8), label="cut")
        inserted = data.draw(st.binary(max_size=6) | st.sampled_from(YAML_TOKENS).map(str.encode), label="insert")
        content[position:position + cut] = inserted
    relative = source.relative_to(REPO_ROOT / "sample-repo").as_posix()
    files = {p.relative_to(REPO_ROOT / "sample-repo").as_posix(): p.read_bytes() for p in SAMPLE_FILES}
    files[relative] = bytes(content)
    outcome = assert_loads_or_reports(files)
    if bytes(content) == original:
        assert isinstance(outcome, ManifestSet)


# --------------------------------------------------------------------------------------- YAML trees
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=12), st.dates(),
    st.sampled_from(["stable", "Preview", "lts", "1.0.0", "1.2.3-rc.1", "v1", ">=1.0.0 <2.0.0", "cluster",
                     "namespace", "extctl.dev/v1alpha1", "Extension", "ExtensionType", "", "monitoring",
                     "contoso.monitoring", "charts", "team-a", "a.b", "x" * 60]),
)
KEYS = st.one_of(st.text(max_size=10), st.integers(), st.booleans(), st.none(),
                 st.sampled_from(["name", "spec", "kind", "metadata", "scope", "cluster", "namespace", "chart",
                                  "releaseTrains", "dependsOn", "secretName", "key", "targetPath", "<<"]))
TREES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=16,
)


def mostly(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Usually a well-formed value, sometimes an arbitrary tree in its place."""
    return st.one_of(good, good, good, TREES)


NAMES = st.sampled_from(["monitoring", "backup", "certs", "policy", "Bad_Name", "m" * 54, ""])
TYPE_NAMES = st.sampled_from(["contoso.monitoring", "contoso.backup", "contoso.unknown"])
NAMESPACES = st.sampled_from(["monitoring", "team-a", "kube-system", "Not Valid"])
VERSIONS = st.sampled_from(["1.0.0", "1.1.0", "2.0.0-rc.1", "1", "latest"])
TRAINS = st.sampled_from(["stable", "Stable", "preview", "nightly", "lts"])

PROTECTED = st.fixed_dictionaries(
    {"secretName": mostly(st.sampled_from(["creds", "api-key"])), "key": mostly(st.sampled_from(["k", "token"]))},
    optional={"targetPath": mostly(st.sampled_from(["credentials.apiKey", "a..b", ""])),
              "namespace": mostly(NAMESPACES)},
)
SCOPE = st.one_of(
    st.fixed_dictionaries({"cluster": mostly(st.none() | st.fixed_dictionaries({"releaseNamespace": NAMESPACES}))}),
    st.fixed_dictionaries({"namespace": mostly(st.fixed_dictionaries({"targetNamespace": NAMESPACES}))}),
)
EXTENSION_SPEC = st.fixed_dictionaries(
    {"extensionType": mostly(TYPE_NAMES)},
    optional={
        "scope": mostly(SCOPE), "releaseTrain": mostly(TRAINS), "autoUpgradeMinorVersion": mostly(st.booleans()),
        "version": mostly(VERSIONS), "majorVersion": mostly(st.integers(-1, 3)),
        "configurationSettings": mostly(st.dictionaries(st.text(max_size=8), TREES, max_size=4)),
        "configurationProtectedSettings": mostly(st.lists(PROTECTED, max_size=2)),
        "dependsOn": mostly(st.lists(NAMES, max_size=3)), "suspend": mostly(st.booleans()),
        "remediation": mostly(st.fixed_dictionaries({}, optional={
            "retries": mostly(st.integers(-1, 5)),
            "install": st.fixed_dictionaries({"strategy": mostly(st.sampled_from(["uninstall", "none"]))}),
            "upgrade": st.fixed_dictionaries({"strategy": mostly(st.sampled_from(["rollback", "none"]))}),
        })),
    },
)
TRAIN = st.fixed_dictionaries(
    {"name": mostly(TRAINS)},
    optional={"prereleaseIdentifiers": mostly(st.lists(st.sampled_from(["rc", "preview", "beta"]), max_size=2)),
              "constraint": mostly(st.sampled_from([">=1.0.0 <2.0.0", "~1", "garbage", "<1.0.0"]))},
)
EXTENSION_TYPE_SPEC = st.fixed_dictionaries(
    {"chart": mostly(st.fixed_dictionaries({
        "repository": mostly(st.sampled_from(["charts", "https://charts.example", "oci://registry.example/c",
                                              "http://user:pw@charts.example", "../outside"])),
        "name": mostly(st.sampled_from(["contoso-monitoring", "demo"]))}))},
    optional={"supportedScopes": mostly(st.lists(st.sampled_from(["cluster", "namespace", "galaxy"]), max_size=3)),
              "defaultReleaseNamespace": mostly(NAMESPACES), "releaseTrains": mostly(st.lists(TRAIN, max_size=3))},
)


def manifest(kind: str, names: st.SearchStrategy[Any], spec: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.fixed_dictionaries({
        "apiVersion": mostly(st.just("extctl.dev/v1alpha1")),
        "kind": mostly(st.just(kind)),
        "metadata": mostly(st.fixed_dictionaries({"name": mostly(names)},
                                                 optional={"labels": st.dictionaries(st.text(max_size=5), TREES,
                                                                                     max_size=2)})),
        "spec": mostly(spec),
    })


DOCUMENTS = st.one_of(manifest("Extension", NAMES, EXTENSION_SPEC),
                      manifest("ExtensionType", TYPE_NAMES, EXTENSION_TYPE_SPEC), TREES)


def dump(documents: list[Any], as_json: bool) -> bytes:
    if as_json:
        return "\n---\n".join(json.dumps(d, default=str) for d in documents).encode()
    stream = io.StringIO()
    yaml = YAML(typ="safe", pure=True)
    yaml.dump_all(documents, stream)
    return stream.getvalue().encode("utf-8", errors="surrogatepass")


@fuzz(80)
@given(st.lists(st.lists(DOCUMENTS, min_size=1, max_size=3), min_size=1, max_size=3), st.booleans())
def test_manifest_shaped_trees_load_or_are_rejected_with_located_issues(
    files: list[list[Any]], as_json: bool
) -> None:
    assert_loads_or_reports({f"manifests/f{index}.yaml": dump(documents, as_json)
                             for index, documents in enumerate(files)})


SETTINGS_TREES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.one_of(st.text(max_size=10), st.integers(), st.booleans(), st.none(), st.dates()),
                      children, max_size=4),
    max_leaves=24,
)
TYPE_DOCUMENT = {"apiVersion": "extctl.dev/v1alpha1", "kind": "ExtensionType", "metadata": {"name": "contoso.demo"},
                 "spec": {"chart": {"repository": "https://charts.example", "name": "demo"},
                          "defaultReleaseNamespace": "demo"}}


def _ruamel_reads_back(text: bytes) -> bool:
    try:
        list(YAML(typ="safe", pure=True).load_all(text.decode("utf-8", errors="surrogatepass")))
    except YAMLError:
        return False
    return True


@fuzz(100)
# Top-level keys without the dotted-key syntax (".", "[", "\\"): tests/unit/test_settings_keys.py covers it.
@given(st.dictionaries(st.text(st.characters(exclude_characters=".[\\"), max_size=10), SETTINGS_TREES, max_size=5))
def test_any_configuration_settings_load_as_json_values(settings_tree: dict[str, Any]) -> None:
    """Whatever YAML holds under configurationSettings (dates, integer keys, nulls, deep lists), the
    extension loads and its settings are plain JSON, which is what helm receives as values."""
    extension = {"apiVersion": "extctl.dev/v1alpha1", "kind": "Extension", "metadata": {"name": "demo"},
                 "spec": {"extensionType": "contoso.demo", "configurationSettings": settings_tree}}
    text = dump([extension], False)
    assume(_ruamel_reads_back(text))  # ruamel's dumper writes some odd keys unquoted ({:0: null})
    outcome = assert_loads_or_reports({"types.yaml": dump([TYPE_DOCUMENT], False), "demo.yaml": text})
    assert isinstance(outcome, ManifestSet), outcome
    values = outcome.extensions["demo"].spec.configuration_settings
    assert json.loads(json.dumps(values)) == values  # no dates, bytes, sets or non-string keys left


# --------------------------------------------------------------------------------------- examples
VALID_EXTENSION = (REPO_ROOT / "sample-repo" / "extensions" / "certs.yaml").read_bytes()


def _issues(root: Path) -> list[str]:
    with pytest.raises(ManifestError) as raised:
        load_directory(root)
    return [str(issue) for issue in raised.value.issues]


def test_non_utf8_byte_is_located_with_a_fix(tmp_path: Path) -> None:
    _write(tmp_path, {"extensions/certs.yaml": b"# G\xe9r\xe9\n" + VALID_EXTENSION})
    assert _issues(tmp_path) == [
        "extensions/certs.yaml:1:4: error: <document>: file is not valid UTF-8 at byte 3 (line 1, column 4): "
        "expected UTF-8 text, found byte 0xE9; save the file as UTF-8"
    ]


def test_nul_and_control_characters_are_located(tmp_path: Path) -> None:
    _write(tmp_path, {"a.yaml": VALID_EXTENSION.replace(b"name: certs", b"name: ce\x00rts"),
                      "b.yaml": b"a: 1\nb: x\x1b[0m\n"})
    issues = _issues(tmp_path)
    assert issues[0].startswith("a.yaml:6:11: error: <document>: character U+0000 (NUL) is not allowed in YAML "
                                "(line 6, column 11): expected printable text; remove it"), issues
    assert issues[1].startswith("b.yaml:2:5: error: <document>: character U+001B (ESCAPE) is not allowed"), issues


def test_anchored_values_keep_their_type() -> None:
    """``&x true`` is a boolean, not the integer 1 (ruamel's anchored booleans are int subclasses)."""
    files = {
        "types.yaml": "apiVersion: extctl.dev/v1alpha1\nkind: ExtensionType\nmetadata: {name: contoso.certs}\n"
                      "spec:\n  chart: {repository: https://charts.example, name: certs}\n"
                      "  defaultReleaseNamespace: certs\n",
        "certs.yaml": "apiVersion: extctl.dev/v1alpha1\nkind: Extension\nmetadata: {name: certs}\nspec:\n"
                      "  extensionType: contoso.certs\n  suspend: &off true\n"
                      "  configurationSettings: {a: *off, b: &n 3, c: *n, 1: one, 2001-01-01: ~}\n",
    }
    extension = parse_documents(files).extensions["certs"]
    assert extension.spec.suspend is True
    assert extension.spec.configuration_settings == {"a": True, "b": 3, "c": 3, "1": "one", "2001-01-01": None}


@pytest.mark.filterwarnings("error")
def test_a_reused_anchor_name_is_valid_yaml_and_prints_no_warning() -> None:
    manifests = parse_documents({"t.yaml": "apiVersion: extctl.dev/v1alpha1\nkind: ExtensionType\n"
                                           "metadata: {name: &n demo}\nspec:\n  chart: {repository: &n charts, "
                                           "name: *n}\n  defaultReleaseNamespace: demo\n"})
    assert manifests.types["demo"].chart.name == "charts"


def test_utf8_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    _write(tmp_path, {"certs.yaml": b"\xef\xbb\xbf" + VALID_EXTENSION})
    with pytest.raises(ManifestError) as raised:  # only the missing ExtensionType is reported
        load_directory(tmp_path)
    assert [i.field for i in raised.value.issues] == ["spec.extensionType"]


def test_unreadable_paths_are_located_issues_and_the_rest_is_still_checked(tmp_path: Path) -> None:
    _write(tmp_path, {"extensions/certs.yaml": VALID_EXTENSION.replace(b"name: certs", b"name: Certs")})
    (tmp_path / "dangling.yaml").symlink_to(tmp_path / "missing-target.yaml")
    (tmp_path / "linked-dir.yml").symlink_to(tmp_path / "extensions", target_is_directory=True)
    os.mkfifo(tmp_path / "pipe.yaml")
    issues = _issues(tmp_path)
    assert issues[:3] == [
        "dangling.yaml:1:1: error: <document>: cannot read the file: it is a symbolic link to a missing file; "
        "fix or remove the link",
        "extensions/certs.yaml:6:9: error: metadata.name: must be a DNS-1123 label: lowercase letters, digits and "
        "'-', starting and ending with a letter or digit",
        "linked-dir.yml:1:1: error: <document>: expected a file, found a directory (through a symbolic link); "
        "rename it or remove the link",
    ], issues
    assert issues[3].startswith("pipe.yaml:1:1: error: <document>: expected a regular file, found a special file")
    assert len(issues) == 4


def test_permission_denied_is_named_with_its_fix() -> None:
    # The suite runs as root, who reads any file, so the OS error itself is what is handed in here.
    from controller.manifests.files import _os_problem

    denied = PermissionError(errno.EACCES, "Permission denied")
    assert _os_problem(denied, dangling=False) == (
        "cannot read the file: permission denied; make it readable by the user extctl runs as")


@pytest.mark.parametrize(("text", "expected"), [
    ("a: !!float x\n", "a.yaml:1:1: error: <document>: invalid YAML: this document cannot be read (ValueError: "
                       "could not convert string to float: '…'); check its tags (!!…) and the values they apply to"),
    ("&x [a, *x]\n", "a.yaml:1:1: error: <document>: invalid YAML: the document refers to itself through an alias "
                     "(*name inside &name); a manifest must be a tree: write the value out"),
    ("a: " + "[" * 120 + "]" * 120 + "\n", "a.yaml:1:103: error: <document>: invalid YAML: nested more than 100 "
                                           "levels deep; flatten the structure"),
    ("a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
     "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
     "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n",
     "a.yaml:1:1: error: <document>: invalid YAML: the document expands to more than 200000 values through "
     "aliases (*name); write the values out, or use fewer aliases"),
], ids=["constructor-value-error", "cyclic-alias", "too-deep", "billion-laughs"])
def test_yaml_the_parser_chokes_on_is_a_located_issue(text: str, expected: str) -> None:
    with pytest.raises(ManifestError) as raised:
        parse_documents({"a.yaml": text})
    assert [str(issue) for issue in raised.value.issues] == [expected]
