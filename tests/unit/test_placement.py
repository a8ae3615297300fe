"""The fleet vocabulary as tables: label selectors (Kubernetes semantics), placement, label lists, identities."""

from __future__ import annotations

import pytest

from controller.models.placement import (
    ClusterEntry,
    ClusterIdentity,
    LabelSelector,
    Operator,
    Override,
    Placement,
    Requirement,
    format_labels,
    label_key_problem,
    label_value_problem,
    merge_identity,
    parse_labels,
    selected_clusters,
)

PROD_EU = {"env": "prod", "region": "eu"}
DEV = {"env": "dev"}
NONE: dict[str, str] = {}
In, NotIn, Exists, Missing = Operator.IN, Operator.NOT_IN, Operator.EXISTS, Operator.DOES_NOT_EXIST

SELECTORS = [
    # (selector, labels, selected)
    (LabelSelector(), PROD_EU, True),  # {} selects every cluster
    (LabelSelector(), NONE, True),
    (LabelSelector({"env": "prod"}), PROD_EU, True),
    (LabelSelector({"env": "prod"}), DEV, False),
    (LabelSelector({"env": "prod"}), NONE, False),
    (LabelSelector({"env": "prod", "region": "us"}), PROD_EU, False),  # every pair must hold
    (LabelSelector(match_expressions=(Requirement("env", In, ("prod", "staging")),)), PROD_EU, True),
    (LabelSelector(match_expressions=(Requirement("env", In, ("prod",)),)), NONE, False),
    (LabelSelector(match_expressions=(Requirement("env", NotIn, ("prod",)),)), DEV, True),
    (LabelSelector(match_expressions=(Requirement("env", NotIn, ("prod",)),)), PROD_EU, False),
    (LabelSelector(match_expressions=(Requirement("env", NotIn, ("prod",)),)), NONE, True),  # absent key: NotIn holds
    (LabelSelector(match_expressions=(Requirement("region", Exists),)), PROD_EU, True),
    (LabelSelector(match_expressions=(Requirement("region", Exists),)), DEV, False),
    (LabelSelector(match_expressions=(Requirement("region", Missing),)), DEV, True),
    (LabelSelector(match_expressions=(Requirement("region", Missing),)), PROD_EU, False),
    (LabelSelector({"env": "prod"}, (Requirement("region", In, ("us",)),)), PROD_EU, False),  # ANDed
    (LabelSelector({"env": "prod"}, (Requirement("region", In, ("eu",)),)), PROD_EU, True),
]


@pytest.mark.parametrize(("selector", "labels", "selected"), SELECTORS)
def test_label_selector(selector: LabelSelector, labels: dict[str, str], selected: bool) -> None:
    assert selector.matches(labels) is selected


PLACEMENTS = [
    # (placement, cluster name, labels, selected)
    (Placement(clusters=("east",)), "east", NONE, True),
    (Placement(clusters=("east",)), "west", PROD_EU, False),
    (Placement(clusters=("east",)), None, PROD_EU, False),
    (Placement(LabelSelector({"env": "prod"})), "west", PROD_EU, True),
    (Placement(LabelSelector({"env": "prod"}), ("west",)), "west", DEV, True),  # name OR selector
    (Placement(LabelSelector({"env": "prod"}), ("west",)), "east", DEV, False),
    (Placement(), "east", PROD_EU, False),  # nothing listed, no selector: no cluster
]


@pytest.mark.parametrize(("placement", "name", "labels", "selected"), PLACEMENTS)
def test_placement_selects_by_name_or_labels(placement: Placement, name: str | None, labels: dict[str, str],
                                             selected: bool) -> None:
    assert placement.selects(name, labels) is selected


def test_descriptions_read_like_kubectl_selectors() -> None:
    selector = LabelSelector({"env": "prod"}, (Requirement("tier", In, ("a", "b")), Requirement("gpu", Exists),
                                               Requirement("legacy", Missing), Requirement("x", NotIn, ("y",))))
    assert selector.describe() == "env=prod,tier in (a,b),gpu,!legacy,x notin (y)"
    assert LabelSelector().describe() == "(every cluster)"
    assert Placement(selector, ("east",)).describe().startswith("clusterSelector env=prod,") \
        and Placement(selector, ("east",)).describe().endswith(" or clusters east")
    override = Override(Placement(clusters=("east",)), release_train="preview", index=2)
    assert override.describe() == "overrides[2] (clusters east: releaseTrain)"


def test_selected_clusters_in_inventory_order() -> None:
    inventory = [ClusterEntry("east", PROD_EU), ClusterEntry("west", DEV), ClusterEntry("north", {"env": "prod"})]
    assert selected_clusters(Placement(LabelSelector({"env": "prod"})), inventory) == ["east", "north"]


LABEL_LISTS = [
    ("env=prod,region=eu", {"env": "prod", "region": "eu"}),
    (" env = prod , , tier=", {"env": "prod", "tier": ""}),
    ("example.com/ring=canary", {"example.com/ring": "canary"}),
    ("", {}),
]


@pytest.mark.parametrize(("text", "labels"), LABEL_LISTS)
def test_parse_labels(text: str, labels: dict[str, str]) -> None:
    assert parse_labels(text) == labels
    assert parse_labels(format_labels(labels)) == labels


@pytest.mark.parametrize(("text", "problem"), [
    ("env", "'env' is not key=value"),
    ("env=prod,env=dev", "label 'env' is given twice"),
    ("bad key=x", "label key 'bad key' is invalid"),
    ("env=-prod", "label value '-prod' is invalid"),
    ("Example.com/x=y", "invalid prefix"),
    (f"env={'x' * 64}", "is invalid"),
])
def test_parse_labels_says_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem.replace("(", r"\(")):
        parse_labels(text)


def test_label_syntax() -> None:
    assert label_key_problem("app.kubernetes.io/name") is None
    assert label_key_problem("/name") is not None
    assert label_key_problem("x" * 64) is not None
    assert label_value_problem("") is None
    assert label_value_problem("a_b.c-d") is None
    assert label_value_problem("a b") is not None


IDENTITIES = [
    # (given by flags/env, stored in the ConfigMap, merged)
    (None, None, None),
    (None, ClusterIdentity("east", PROD_EU, "configmap"), ClusterIdentity("east", PROD_EU, "configmap")),
    (ClusterIdentity("west", {}, "--cluster-name"), ClusterIdentity("east", PROD_EU, "configmap"),
     ClusterIdentity("west", PROD_EU, "--cluster-name")),  # per field: the flag's name, the ConfigMap's labels
    (ClusterIdentity(None, DEV, "env"), ClusterIdentity("east", PROD_EU, "configmap"),
     ClusterIdentity("east", DEV, "configmap")),
    (ClusterIdentity("west", DEV), None, ClusterIdentity("west", DEV)),
    (ClusterIdentity(None, {}), None, None),
]


@pytest.mark.parametrize(("given", "stored", "merged"), IDENTITIES)
def test_merge_identity_per_field(given: ClusterIdentity | None, stored: ClusterIdentity | None,
                                  merged: ClusterIdentity | None) -> None:
    result = merge_identity(given, stored)
    if merged is None:
        assert result is None
    else:
        assert result is not None
        assert (result.name, dict(result.labels), result.source) == (merged.name, dict(merged.labels), merged.source)


def test_flags_win_over_env_per_field(monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    from controller.commands._cluster import add_cluster_options, given_identity

    parser = argparse.ArgumentParser()
    add_cluster_options(parser)
    monkeypatch.setenv("EXTCTL_CLUSTER_NAME", "from-env")
    monkeypatch.setenv("EXTCTL_CLUSTER_LABELS", "env=dev")
    env_only = given_identity(parser.parse_args([]))
    assert env_only is not None
    assert (env_only.name, dict(env_only.labels), env_only.source) == ("from-env", {"env": "dev"},
                                                                       "env EXTCTL_CLUSTER_NAME")
    flags = given_identity(parser.parse_args(["--cluster-name", "east"]))
    assert flags is not None and (flags.name, dict(flags.labels)) == ("east", {"env": "dev"})
    monkeypatch.delenv("EXTCTL_CLUSTER_NAME")
    monkeypatch.delenv("EXTCTL_CLUSTER_LABELS")
    assert given_identity(parser.parse_args([])) is None
    with pytest.raises(SystemExit):  # a usage error: one line and exit 1 in the CLI
        parser.parse_args(["--cluster-labels", "not a label"])
