"""A pass records the facts of the revisions it makes (issue 14, P2): after installs and upgrades the next pass,
even in a fresh process, is one ``helm list``, and what the state store recorded for each release is what
``helm get metadata`` says (chart, version, labels; an upgrade's labels merged into the previous ones, as
helm merges them)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.test_reconcile import scenario  # noqa: F401 - the shared fixture
from tests.support.extctl import extension
from tests.support.scenario import Scenario

pytestmark = pytest.mark.integration


def _recorded_equal_helm(scenario: Scenario) -> None:  # noqa: F811 - the fixture's name
    facts: dict[str, Any] = scenario.state_store()["releases"]
    for name, row in scenario.releases().items():
        recorded = facts[f"{scenario.ns}/{name}"]
        metadata = scenario.metadata(name)
        assert recorded["revision"] == int(row["revision"]), name
        assert recorded["metadata"] == {k: metadata[k] for k in ("chart", "version", "labels")}, name


def test_installs_and_upgrades_leave_facts_equal_to_helm_metadata(scenario: Scenario) -> None:  # noqa: F811
    first = scenario.reconcile()
    assert first.summary()["installed"] == 3, first.stdout + first.stderr
    _recorded_equal_helm(scenario)
    assert scenario.reconcile().summary()["helm_calls"] == 1, "no metadata read after the installs"

    scenario.remote.commit({
        "extensions/agent.yaml": extension("agent", "demo.agent", scenario.ns, settings={"logLevel": "debug"}),
        "extensions/web.yaml": extension("web", "demo.agent", scenario.ns, depends_on=["agent"],
                                         settings={"replicas": 2}),
    })
    upgraded = scenario.reconcile()
    assert upgraded.summary()["upgraded"] == 2, upgraded.stdout + upgraded.stderr
    _recorded_equal_helm(scenario)
    steady = scenario.reconcile().summary()
    assert (steady["unchanged"], steady["helm_calls"]) == (3, 1), "no metadata read after the upgrades"
