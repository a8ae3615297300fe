"""Arc-style dotted ``configurationSettings`` keys reach the chart as nested values (docs/arc-settings.md):
a real install on the sandbox, the demo-agent chart writing the values it received into a ConfigMap."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.extctl import extension, extension_type
from tests.support.git_remote import GitRemote
from tests.support.sandbox import SandboxHandle
from tests.support.scenario import Scenario

pytestmark = pytest.mark.integration


def test_a_dotted_key_installs_as_a_nested_value(sandbox: SandboxHandle, git_remote: GitRemote,
                                                  chart_repo_factory: Any, unique_name: str, tmp_path: Path) -> None:
    charts = chart_repo_factory(versions=("1.0.0",))
    settings = {"logLevel": "info", "config": {"scrapeInterval": "15s"}, "config.retention": "99h",
                r"labels.app\.kubernetes\.io/part-of": "monitoring"}
    git_remote.commit({"catalog/agent.yaml": extension_type("demo.agent", charts.url, namespace=unique_name),
                       "extensions/agent.yaml": extension("agent", "demo.agent", unique_name, settings=settings)})
    s = Scenario(sandbox, git_remote, charts, unique_name, tmp_path / "cache")
    run = s.reconcile()
    assert run.returncode == 0, run.stdout + run.stderr
    values = json.loads(s.settings_configmap("agent")["values.json"])
    assert values["config"] == {"scrapeInterval": "15s", "retention": "99h"}
    assert values["labels"] == {"app.kubernetes.io/part-of": "monitoring"}
    assert "config.retention" not in values
