"""Which settings keys changed: the per-key digests a release is recorded with, the keys a later pass
names (``settings changed: logLevel, storage.accessKey (protected)``), and never a value."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from controller.manifests.loader import load_directory
from controller.models.desired import (
    MAX_RECORDED_SETTINGS,
    PROTECTED_PREFIX,
    build_desired_release,
    changed_setting_keys,
    recordable_settings,
    setting_digests,
    settings_reason,
)
from controller.models.manifests import ManifestSet
from controller.models.plan import ActionKind, ReleaseState, plan
from controller.models.resolution import Resolution, ResolutionRule
from controller.observe.releases import ReleaseFacts
from tests.unit.test_plan import desired, observed

PLANTED = "planted-hunter2-value"
SAMPLE_REPO = Path(__file__).resolve().parents[2] / "sample-repo"


@pytest.fixture(scope="module")
def sample_manifests() -> ManifestSet:
    return load_directory(SAMPLE_REPO)


@pytest.mark.parametrize(
    ("before", "after", "protected_before", "protected_after", "keys"),
    [
        pytest.param({"logLevel": "info"}, {"logLevel": "info"}, {}, {}, (), id="unchanged"),
        pytest.param({"logLevel": "info"}, {"logLevel": "debug"}, {}, {}, ("logLevel",), id="changed"),
        pytest.param({}, {"replicaCount": 2}, {}, {}, ("replicaCount",), id="added"),
        pytest.param({"replicaCount": 2}, {}, {}, {}, ("replicaCount",), id="removed"),
        pytest.param({"a": {"b": 1, "c": 2}}, {"a": {"b": 1, "c": 3}}, {}, {}, ("a.c",), id="nested leaf"),
        pytest.param({"a": [1, 2]}, {"a": [2, 1]}, {}, {}, ("a",), id="a list is one leaf"),
        pytest.param({"a": 1}, {"a": "1"}, {}, {}, ("a",), id="type change"),
        pytest.param({"z": 1, "a": 1}, {"z": 2, "a": 2}, {}, {}, ("a", "z"), id="sorted"),
        pytest.param({}, {}, {"creds.key": "h1"}, {"creds.key": "h2"}, ("creds.key (protected)",),
                     id="protected rotated"),
        pytest.param({}, {}, {"creds.key": "h1"}, {"creds.key": "h1"}, (), id="protected unchanged"),
        pytest.param({"creds": {"key": "x"}}, {}, {}, {"creds.key": "h1"}, ("creds.key (protected)",),
                     id="plain key moved to a Secret"),
        pytest.param({}, {}, {"old.key": "h1"}, {}, ("old.key (protected)",), id="protected removed"),
    ],
)
def test_changed_setting_keys(before: dict[str, Any], after: dict[str, Any], protected_before: dict[str, str],
                              protected_after: dict[str, str], keys: tuple[str, ...]) -> None:
    assert changed_setting_keys(setting_digests(before, protected_before),
                                setting_digests(after, protected_after)) == keys


@pytest.mark.parametrize(
    ("before", "after", "reason"),
    [
        pytest.param({"logLevel": "0123456789ab"}, {"logLevel": "ba9876543210"}, "settings changed: logLevel",
                     id="recorded: keys named"),
        pytest.param(None, {"logLevel": "ba9876543210"}, "values digest changed d1 → d2",
                     id="not recorded (older extctl, or applied by hand): digests"),
        pytest.param({"logLevel": "0123456789ab"}, {"logLevel": "0123456789ab"}, "values digest changed d1 → d2",
                     id="same keys, other digest: digests"),
    ],
)
def test_settings_reason(before: dict[str, str] | None, after: dict[str, str], reason: str) -> None:
    assert settings_reason(before, after, "d1", "d2") == reason


def _with(release: Any, settings: dict[str, Any], protected: dict[str, str] | None = None) -> Any:
    return dataclasses.replace(release, setting_digests=setting_digests(settings, protected))


@pytest.mark.parametrize(
    ("recorded", "reason"),
    [
        pytest.param(True, "settings changed: logLevel, replicaCount, storage.accessKey (protected)",
                     id="recorded when applied"),
        pytest.param(False, "values digest changed d1 → d2", id="not recorded"),
    ],
)
def test_plan_names_the_changed_keys(*, recorded: bool, reason: str) -> None:
    wanted = _with(desired("a", digest="d2"), {"logLevel": "debug", "replicaCount": 2},
                   {"storage.accessKey": "hmac-new"})
    current = observed("a", digest="d1")
    if recorded:
        current = dataclasses.replace(current, setting_digests=setting_digests(
            {"logLevel": "info"}, {"storage.accessKey": "hmac-old"}))
    (action,) = plan([wanted], [current]).actions
    assert (action.kind, action.state, action.reasons) == (ActionKind.UPGRADE, ReleaseState.OUT_OF_SYNC, (reason,))


def test_a_planted_secret_never_reaches_reasons_or_recorded_digests(sample_manifests: ManifestSet) -> None:
    """The protected value enters only as the keyed digest the edge computed; the plain digests are of
    values that are in Git anyway."""
    extension = sample_manifests.extensions["team-a-backup"]
    resolution = Resolution(version="1.0.0", rule=ResolutionRule.LATEST_IN_TRAIN, explanation="-", train="preview")
    before = build_desired_release(extension, sample_manifests, resolution,
                                   protected_values={"storage.accessKey": "old"}, protected_hmac="h0",
                                   protected_digests={"storage.accessKey": "0f" * 32})
    after = build_desired_release(extension, sample_manifests, resolution,
                                  protected_values={"storage.accessKey": PLANTED}, protected_hmac="h1",
                                  protected_digests={"storage.accessKey": "1e" * 32})
    assert after.values["storage"]["accessKey"] == PLANTED, "helm gets the value"
    assert after.setting_digests["storage.accessKey"] == PROTECTED_PREFIX + "1e" * 4
    recorded = json.dumps(ReleaseFacts(1, {}, settings=after.setting_digests).to_json())
    current = dataclasses.replace(observed(after.extension, ns=after.namespace, digest=before.values_digest,
                                           chart=after.chart.name, version=after.version, depends_on="certs"),
                                  setting_digests=before.setting_digests)
    (action,) = plan([after], [current]).actions
    assert action.reasons == ("settings changed: storage.accessKey (protected)",)
    for text in (recorded, *action.reasons, repr(after), repr(action)):
        assert PLANTED not in text


@pytest.mark.parametrize(
    ("stored", "settings"),
    [
        pytest.param({"revision": 1, "metadata": {}, "settings": {"a": "0123456789ab"}}, {"a": "0123456789ab"},
                     id="recorded"),
        pytest.param({"revision": 1, "metadata": {}}, None, id="older store: unknown"),
        pytest.param({"revision": 1, "metadata": {}, "settings": {"a": 1}}, None, id="hand-edited: unknown"),
        pytest.param({"revision": 1, "metadata": {}, "settings": ["a"]}, None, id="not a mapping: unknown"),
    ],
)
def test_release_facts_keep_the_recorded_settings(stored: dict[str, Any], settings: dict[str, str] | None) -> None:
    facts = ReleaseFacts.from_json(stored)
    assert facts is not None and facts.settings == settings
    assert ReleaseFacts.from_json(facts.to_json()) == facts


@pytest.mark.parametrize(("keys", "recorded"), [(0, True), (3, True), (MAX_RECORDED_SETTINGS, True),
                                                 (MAX_RECORDED_SETTINGS + 1, False)])
def test_a_release_records_its_setting_digests_unless_there_are_too_many(keys: int, recorded: bool) -> None:
    """The state ConfigMap (1 MiB for every release of the instance) stays small: a release with very many
    settings records none, and its changes are reported by values digest."""
    digests = setting_digests({f"k{i}": i for i in range(keys)})
    assert all(len(d) == 8 for d in digests.values())
    assert (recordable_settings(digests) is not None) is recorded
