"""A cluster's view of a revision (placement, overrides in order, unknown clusters), how a placement that
stops matching flows into the plan (an orphan: uninstalled, prune guard applies), and the located
validation errors of inventories, placements and overrides."""

from __future__ import annotations

from typing import Any

import pytest

from controller.errors import ManifestError
from controller.manifests import parse_documents
from controller.models.desired import DesiredRelease
from controller.models.fleet import cluster_view, explain_unplaced, inventory_view, merge_settings, uses_placement
from controller.models.manifests import ManifestSet
from controller.models.observed import ObservedRelease
from controller.models.placement import ClusterIdentity
from controller.models.plan import ActionKind, Policy, ReleaseState, guard_prune, plan
from controller.models.resolution import Resolution, ResolutionRule

TYPE = """\
apiVersion: extctl.dev/v1alpha1
kind: ExtensionType
metadata: {name: demo.agent}
spec:
  chart: {repository: charts, name: demo-agent}
  defaultReleaseNamespace: demo
"""
INVENTORY = """\
apiVersion: extctl.dev/v1alpha1
kind: Cluster
metadata: {name: east, labels: {env: prod, region: eu}}
---
apiVersion: extctl.dev/v1alpha1
kind: Cluster
metadata: {name: west, labels: {env: dev}}
---
apiVersion: extctl.dev/v1alpha1
kind: Cluster
metadata: {name: canary, labels: {env: prod, ring: canary}}
"""


def ext(name: str, body: str = "") -> str:
    return (f"apiVersion: extctl.dev/v1alpha1\nkind: Extension\nmetadata: {{name: {name}}}\n"
            f"spec:\n  extensionType: demo.agent\n{body}")


EVERYWHERE = ext("base", "  configurationSettings: {logLevel: info, probe: {period: 10, timeout: 1}}\n"
                         "  overrides:\n"
                         "    - clusterSelector: {matchLabels: {env: prod}}\n"
                         "      configurationSettings: {logLevel: warn, probe: {timeout: 5}}\n"
                         "    - clusters: [canary]\n"
                         "      releaseTrain: preview\n"
                         "      configurationSettings: {logLevel: debug, probe: null}\n")
PROD_ONLY = ext("agent", "  placement: {clusterSelector: {matchLabels: {env: prod}}}\n"
                         "  autoUpgradeMinorVersion: false\n  version: 1.0.0\n"
                         "  overrides:\n    - clusters: [canary]\n      autoUpgradeMinorVersion: true\n")
WEST_ONLY = ext("tools", "  placement: {clusters: [west]}\n"
                         "  overrides:\n    - clusters: [west]\n      version: 1.0.0\n")


def load(*extensions: str, inventory: str = INVENTORY) -> ManifestSet:
    files = {"catalog.yaml": TYPE, "extensions.yaml": "---\n".join(extensions)}
    if inventory:
        files["clusters.yaml"] = inventory
    return parse_documents(files)


FLEET = load(EVERYWHERE, PROD_ONLY, WEST_ONLY)


def spec_of(view_manifests: ManifestSet, name: str) -> tuple[Any, ...]:
    spec = view_manifests.extensions[name].spec
    return (dict(spec.configuration_settings), spec.release_train, spec.version, spec.auto_upgrade_minor_version)


VIEWS = [
    # (cluster, {extension: (settings, train, version, auto-upgrade)})
    ("east", {"base": ({"logLevel": "warn", "probe": {"period": 10, "timeout": 5}}, "stable", None, True),
              "agent": ({}, "stable", "1.0.0", False)}),
    ("west", {"base": ({"logLevel": "info", "probe": {"period": 10, "timeout": 1}}, "stable", None, True),
              "tools": ({}, "stable", "1.0.0", False)}),
    # Both overrides select canary: applied in order, the later wins; null removes a key; true unpins.
    ("canary", {"base": ({"logLevel": "debug"}, "preview", None, True),
                "agent": ({}, "stable", None, True)}),
]


@pytest.mark.parametrize(("cluster", "expected"), VIEWS)
def test_each_cluster_gets_its_placements_with_its_overrides_in_order(cluster: str,
                                                                     expected: dict[str, Any]) -> None:
    view = inventory_view(FLEET, cluster)
    assert view is not None and view.known
    assert {name: spec_of(view.manifests, name) for name in view.manifests.extensions} == expected
    assert set(view.not_placed) == set(FLEET.extensions) - set(expected)
    assert view.manifests.types == FLEET.types and view.manifests.clusters == FLEET.clusters


def test_the_overrides_applied_are_named_for_previews() -> None:
    view = inventory_view(FLEET, "canary")
    assert view is not None
    assert view.overrides["base"] == (
        "overrides[0] (clusterSelector env=prod: configurationSettings)",
        "overrides[1] (clusters canary: configurationSettings, releaseTrain)")
    assert view.overrides["agent"] == ("overrides[0] (clusters canary: autoUpgradeMinorVersion)",)


IDENTITIES = [
    # (identity, known, placed extensions, effective labels)
    (None, False, {"base"}, None),
    (ClusterIdentity("nowhere", {"env": "prod"}), False, {"base"}, {"env": "prod"}),  # not in the inventory
    (ClusterIdentity("west", {"zone": "b"}), True, {"base", "tools"}, {"env": "dev", "zone": "b"}),
    (ClusterIdentity("west", {"env": "prod"}), True, {"base", "tools"}, {"env": "dev"}),  # the inventory wins
]


@pytest.mark.parametrize(("identity", "known", "placed", "labels"), IDENTITIES)
def test_identity_and_inventory(identity: ClusterIdentity | None, known: bool, placed: set[str],
                                labels: dict[str, str] | None) -> None:
    view = cluster_view(FLEET, identity)
    assert view.known is known
    assert set(view.manifests.extensions) == placed
    if not known:  # an unknown cluster gets the base spec: no override applies
        assert spec_of(view.manifests, "base") == spec_of(FLEET, "base")
    assert (dict(view.identity.labels) if view.identity else None) == labels
    warnings = view.warnings(FLEET)
    if not known:
        assert "only extensions without spec.placement apply here; not applied: agent, tools" in warnings[0]
    if identity is not None and identity.labels.get("env") == "prod" and known:
        assert view.label_conflicts == ("env",) and "disagree with the inventory on env" in warnings[-1]


def test_a_repository_without_placement_is_the_same_for_every_cluster() -> None:
    plain = load(ext("base"), inventory="")
    assert not uses_placement(plain) and uses_placement(FLEET)
    assert cluster_view(plain, None).manifests is plain
    assert cluster_view(plain, ClusterIdentity("anything")).manifests is plain


MERGES = [
    ({"a": 1}, {"b": 2}, {"a": 1, "b": 2}),
    ({"a": {"x": 1, "y": 2}}, {"a": {"y": 3}}, {"a": {"x": 1, "y": 3}}),
    ({"a": {"x": 1}}, {"a": None}, {}),
    ({"a": {"x": 1}}, {"a": {"x": None}}, {"a": {}}),
    ({"a": [1, 2]}, {"a": [3]}, {"a": [3]}),  # lists are replaced, as Helm does
    ({"a": 1}, {"a": {"x": 1}}, {"a": {"x": 1}}),
    ({"a": {"x": 1}}, {"a": "flat"}, {"a": "flat"}),
]


@pytest.mark.parametrize(("base", "patch", "merged"), MERGES)
def test_merge_settings_like_helm_values(base: dict[str, Any], patch: dict[str, Any], merged: dict[str, Any]) -> None:
    before = repr(base)
    assert merge_settings(base, patch) == merged
    assert repr(base) == before, "the base settings are never modified"


POLICY = Policy(instance="fleet")


def _desired(name: str) -> DesiredRelease:
    resolution = Resolution(version="1.0.0", rule=ResolutionRule.LATEST_IN_TRAIN, explanation="newest", train="stable")
    return DesiredRelease(extension=name, namespace="demo", chart=FLEET.types["demo.agent"].chart, version="1.0.0",
                          resolution=resolution, values={}, values_digest="d" * 32)


def _deployed(name: str, instance: str = "fleet") -> ObservedRelease:
    return ObservedRelease(name=name, namespace="demo", revision=1, status="deployed", chart_name="demo-agent",
                           chart_version="1.0.0", labels=_desired(name).labels("main@sha1:abc", instance),
                           last_deployed_revision=1)


def test_a_placement_that_stops_matching_is_an_uninstall_there_and_the_prune_guard_applies() -> None:
    # west had base, tools and agent (agent placed there by an earlier revision); agent is not placed on west.
    view = inventory_view(FLEET, "west")
    assert view is not None
    observed = [_deployed("base"), _deployed("tools"), _deployed("agent")]
    desired = [_desired(name) for name in view.manifests.extensions]
    the_plan = explain_unplaced(plan(desired, observed, policy=POLICY), view)
    removal = next(a for a in the_plan.actions if a.extension == "agent")
    assert (removal.kind, removal.state, removal.removal) == (ActionKind.UNINSTALL, ReleaseState.ORPHANED, True)
    assert removal.reasons == ("placement of extension agent does not select cluster west (env=dev)",)
    guarded = guard_prune(the_plan, managed_count=3, extensions_in_git=len(view.manifests.extensions),
                          max_fraction=0.5, allowed=False)
    assert not guarded.refused, "1 of 3 managed releases: allowed"
    # A cluster renamed out of the inventory keeps only unplaced extensions: its other releases are orphans,
    # and removing 2 of 3 trips the guard.
    lost = cluster_view(FLEET, ClusterIdentity("renamed"))
    lost_plan = explain_unplaced(plan([_desired("base")], observed, policy=POLICY), lost)
    assert {a.extension for a in lost_plan.actions if a.removal} == {"tools", "agent"}
    assert all("is not in the inventory" in a.reasons[0] for a in lost_plan.actions if a.removal)
    refused = guard_prune(lost_plan, managed_count=3, extensions_in_git=1, max_fraction=0.5, allowed=False)
    assert {a.extension for a in refused.refused} == {"tools", "agent"}


def test_only_owned_releases_are_uninstalled_when_placement_stops_matching() -> None:
    view = inventory_view(FLEET, "west")
    assert view is not None
    foreign = _deployed("agent", instance="someone-else")
    the_plan = explain_unplaced(plan([_desired("base")], [foreign], policy=POLICY), view)
    assert not [a for a in the_plan.actions if a.removal]


MISTAKES = [
    # (extensions, inventory, expected "file:line:col: error: field: message" fragments)
    (ext("a", "  placement: {clusters: [east]}\n"), "",
     "extensions.yaml:6:3: error: spec.placement: placement and overrides select clusters of the inventory, and "
     "this repository has none"),
    (ext("a", "  placement: {clusters: [easst]}\n"), INVENTORY,
     "extensions.yaml:6:26: error: spec.placement.clusters[0]: unknown cluster 'easst' (did you mean 'east'?); "
     "clusters of the inventory: canary, east, west"),
    (ext("a", "  placement: {}\n"), INVENTORY,
     "extensions.yaml:6:3: error: spec.placement: set clusterSelector, clusters or both"),
    (ext("a", "  placement:\n    clusterSelector:\n      matchExpressions: [{key: env, operator: In}]\n"), INVENTORY,
     "extensions.yaml:8:26: error: spec.placement.clusterSelector.matchExpressions[0]: operator In needs a "
     "non-empty values list"),
    (ext("a", "  placement:\n    clusterSelector:\n      matchExpressions:\n"
                   "        - {key: env, operator: Exists, values: [x]}\n"), INVENTORY,
     "spec.placement.clusterSelector.matchExpressions[0].values: operator Exists takes no values"),
    (ext("a", "  placement:\n    clusterSelector:\n      matchExpressions: [{key: env, operator: Near}]\n"), INVENTORY,
     "spec.placement.clusterSelector.matchExpressions[0].operator: expected one of: In, NotIn, Exists, DoesNotExist"),
    (ext("a", "  placement: {clusterSelector: {matchLabels: {'a b': x}}}\n"), INVENTORY,
     "spec.placement.clusterSelector.matchLabels.a b: label key 'a b' is invalid"),
    (ext("a", "  overrides: [{releaseTrain: preview}]\n"), INVENTORY,
     "extensions.yaml:6:15: error: spec.overrides[0]: an override needs clusterSelector or clusters"),
    (ext("a", "  overrides: [{clusters: [east]}]\n"), INVENTORY,
     "spec.overrides[0]: an override must change something"),
    (ext("a", "  overrides: [{clusters: [east], releaseTrain: nightly}]\n"), INVENTORY,
     "spec.overrides[0].releaseTrain: extension type 'demo.agent' has no release train 'nightly'; available trains: "
     "stable, preview"),
    (ext("a", "  overrides: [{clusters: [east], version: 1.0.0, autoUpgradeMinorVersion: true}]\n"), INVENTORY,
     "spec.overrides[0].version: an override cannot pin a version and set autoUpgradeMinorVersion: true"),
    (ext("a", "  overrides: [{clusters: [east], autoUpgradeMinorVersion: false}]\n"), INVENTORY,
     "spec.overrides[0].autoUpgradeMinorVersion: autoUpgradeMinorVersion: false in an override requires version"),
    (ext("a", "  overrides: [{clusters: [east], replicas: 2}]\n"), INVENTORY,
     "spec.overrides[0].replicas: unknown field 'replicas'"),
    (ext("a", "  dependsOn: [b]\n") + "---\n" + ext("b", "  placement: {clusters: [west]}\n"), INVENTORY,
     "extensions.yaml:6:15: error: spec.dependsOn[0]: 'b' is not placed on cluster(s) canary, east, where 'a' is; "
     "place 'b' there too, or narrow the placement of 'a'"),
    (ext("a"), "apiVersion: extctl.dev/v1alpha1\nkind: Cluster\nmetadata: {name: East_1}\n",
     "clusters.yaml:3:18: error: metadata.name: must be a cluster name (DNS-1123 label)"),
    (ext("a"), INVENTORY + "---\napiVersion: extctl.dev/v1alpha1\nkind: Cluster\nmetadata: {name: east}\n",
     "clusters.yaml:15:18: error: metadata.name: duplicate Cluster 'east'; it is already defined at "
     "clusters.yaml:3:18"),
    (ext("a"), "apiVersion: extctl.dev/v1alpha1\nkind: Cluster\nmetadata: {name: a, labels: {ring: 1}}\n",
     "clusters.yaml:3:36: error: metadata.labels.ring: expected a string, got integer 1 (quote it to make it a "
     "string)"),
    (ext("a"), "apiVersion: extctl.dev/v1alpha1\nkind: Cluster\nmetadata: {name: a, labels: {ring: -x}}\n",
     "clusters.yaml:3:36: error: metadata.labels.ring: label value '-x' is invalid"),
]


@pytest.mark.parametrize(("extensions", "inventory", "expected"), MISTAKES)
def test_fleet_mistakes_yield_located_messages(extensions: str, inventory: str, expected: str) -> None:
    with pytest.raises(ManifestError) as caught:
        load(extensions, inventory=inventory)
    messages = [str(issue) for issue in caught.value.issues]
    assert any(expected in message for message in messages), messages


def test_a_broken_cluster_document_does_not_cascade_into_unknown_cluster_errors() -> None:
    broken = "apiVersion: extctl.dev/v1alpha1\nkind: Cluster\nmetadata: {name: east, labels: {ring: 1}}\n"
    with pytest.raises(ManifestError) as caught:
        load(ext("a", "  placement: {clusters: [east]}\n"), inventory=broken)
    assert [issue.field for issue in caught.value.issues] == ["metadata.labels.ring"]
