"""Arc-style dotted ``configurationSettings`` keys expand as helm ``--set`` / Arc ``--configuration-settings``
do (controller/models/settings_keys.py), reach the Helm values, and ``validate`` warns on collisions."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controller.errors import ManifestError
from controller.manifests import parse_documents
from controller.models.desired import expanded_settings, merge_values
from controller.models.settings_keys import Collision, DottedKeyError, expand_settings, format_path, parse_key


@pytest.mark.parametrize(("settings", "values"), [
    ({"config.retention": "99h"}, {"config": {"retention": "99h"}}),
    ({"a.b.c": 1}, {"a": {"b": {"c": 1}}}),
    ({r"a\.b": 1}, {"a.b": 1}),
    ({r"nodeSelector.kubernetes\.io/os": "linux"}, {"nodeSelector": {"kubernetes.io/os": "linux"}}),
    ({"a": {"c": 2}, "a.b": 1}, {"a": {"c": 2, "b": 1}}),
    ({"a.b": 1, "a": {"b": 2, "c": 3}}, {"a": {"b": 1, "c": 3}}),  # dotted wins, whatever the order
    ({"list[1]": "x"}, {"list": [None, "x"]}),
    ({"servers[0].port": 80, "servers[0].host": "h"}, {"servers": [{"port": 80, "host": "h"}]}),
    ({"m[0][1]": True}, {"m": [[None, True]]}),
    ({"a.b": {"nested": [1, 2]}}, {"a": {"b": {"nested": [1, 2]}}}),  # values are taken as YAML typed them
    ({r"back\\slash.x": 1}, {"back\\slash": {"x": 1}}),
    ({"plain": 1, "other": {"x": None}}, {"plain": 1, "other": {"x": None}}),
], ids=["arc", "three-levels", "escaped-dot", "label-key", "merge", "dotted-wins", "index", "index-then-key",
        "nested-lists", "mapping-value", "escaped-backslash", "no-dots"])
def test_dotted_keys_expand_like_helm_set(settings: dict[str, Any], values: dict[str, Any]) -> None:
    assert expand_settings(settings).values == values


def test_collisions_name_key_and_path_never_the_value() -> None:
    expanded = expand_settings({"a": {"b": "s3cret"}, "a.b": "other", "x.y": 1, "x.y.z": 2, "k": 1, "k[0]": 2})
    assert expanded.collisions == (Collision("a.b", "a.b"), Collision("x.y.z", "x.y.z"), Collision("k[0]", "k[0]"))
    assert expanded.values == {"a": {"b": "other"}, "x": {"y": {"z": 2}}, "k": [2]}


@pytest.mark.parametrize(("key", "message"), [
    ("a..b", "key 'a..b' has an empty level; write \\. for a literal dot"),
    (".a", "key '.a' has an empty level; write \\. for a literal dot"),
    ("a.", "key 'a.' has an empty level; write \\. for a literal dot"),
    ("a[", "key 'a[' has '[' without ']'; write \\[ for a literal one"),
    ("a[x]", "key 'a[x]' has index [x]; expected a whole number from 0 to 65536"),
    ("a[-1]", "key 'a[-1]' has index [-1]; expected a whole number from 0 to 65536"),
    ("a[65537]", "key 'a[65537]' has index [65537]; at most 65536 (as helm --set)"),
    ("a[0]b", "key 'a[0]b' has text after ']'; expected '.', '[' or the end"),
    ("a\\", "key 'a\\\\' ends with a backslash; write \\\\ for a literal one"),
    (".".join("k" * 32), f"key {'.'.join('k' * 32)!r} has 32 levels; at most 31 (as helm --set)"),
])
def test_malformed_keys_are_refused_with_the_fix(key: str, message: str) -> None:
    with pytest.raises(DottedKeyError) as raised:
        parse_key(key)
    assert str(raised.value) == message


def test_protected_target_paths_use_the_same_syntax() -> None:
    assert merge_values({"a": {"keep": 1}}, {r"a.tls\.crt": "***", "b[0]": "***"}) == {
        "a": {"keep": 1, "tls.crt": "***"}, "b": ["***"]}
    assert expanded_settings({"a..b": 1}) == {"a..b": 1}  # malformed: validate refuses it, the build keeps it


NAMES = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=6)
PATHS = st.lists(st.one_of(NAMES, st.integers(0, 3)), min_size=1, max_size=5).filter(
    lambda p: isinstance(p[0], str))


@given(PATHS, st.integers())
def test_any_path_round_trips_through_its_key(path: list[str | int], value: int) -> None:
    key = format_path(tuple(path))
    assert parse_key(key) == tuple(path)
    expanded = expand_settings({key: value}).values
    cursor: Any = expanded
    for segment in path:
        cursor = cursor[segment]
    assert cursor == value


@given(st.dictionaries(st.text("abc", min_size=1, max_size=3), st.integers(), max_size=5))
def test_settings_without_special_characters_are_unchanged(settings: dict[str, int]) -> None:
    assert expand_settings(settings) == expand_settings(settings)
    assert expand_settings(settings).values == settings
    assert expand_settings(settings).collisions == ()


TYPE = """\
apiVersion: extctl.dev/v1alpha1
kind: ExtensionType
metadata:
  name: contoso.demo
spec:
  chart:
    repository: https://charts.example
    name: demo
  defaultReleaseNamespace: demo
"""
EXTENSION = """\
apiVersion: extctl.dev/v1alpha1
kind: Extension
metadata:
  name: demo
spec:
  extensionType: contoso.demo
  configurationSettings:
    config:
      retention: 72h
    "config.retention": 99h
    "logging.level": debug
"""


def test_validate_warns_on_a_collision_at_the_key_and_errs_on_a_malformed_key() -> None:
    manifests = parse_documents({"types.yaml": TYPE, "ext.yaml": EXTENSION})
    assert [str(w) for w in manifests.warnings] == [
        "ext.yaml:10:5: warning: spec.configurationSettings[\"config.retention\"]: dotted key 'config.retention' "
        "and another key both set config.retention; the dotted key wins (as helm --set over a values file): keep "
        "one of them"]
    assert "72h" not in str(manifests.warnings) and "99h" not in str(manifests.warnings)
    with pytest.raises(ManifestError) as raised:
        parse_documents({"types.yaml": TYPE, "ext.yaml": EXTENSION + "    \"a[x]\": 1\n"})
    assert [str(i) for i in raised.value.issues] == [
        "ext.yaml:12:5: error: spec.configurationSettings[\"a[x]\"]: key 'a[x]' has index [x]; expected a whole "
        "number from 0 to 65536"]
