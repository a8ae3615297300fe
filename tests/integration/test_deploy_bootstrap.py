"""docs/install.md as written: its **(here)** and **(cluster)** commands run in order, the cluster ones
against the sandbox, and extctl adopts the release helm installed and then manages its own chart from Git.

The guide's blocks are read from the Markdown: ``yaml file=PATH`` writes PATH, ``sh here`` and
``sh cluster`` run in bash (``set -euo pipefail``) from a workspace that holds ``deploy/`` (this checkout's)
and ``cluster-extensions/`` (a fresh Git repository standing in for the clone). Where the guide says the
leader's next pass happens (``<!-- test: … -->``), the test runs that pass: ``extctl reconcile --once``.
Blocks marked real cluster, GitHub or Docker (plain ``bash``) are not run; nothing here fakes them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from ruamel.yaml import YAML

from tests.support.charts import helm_env
from tests.support.extctl import run_extctl
from tests.support.sandbox import SandboxHandle

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "install.md"
BLOCK = re.compile(r"^```(?P<lang>\w+)[ \t]*(?P<tag>[^\n]*)\n(?P<body>.*?)^```[ \t]*$|^<!-- test: (?P<marker>.*?) -->$",
                   re.MULTILINE | re.DOTALL)
RELEASE, NAMESPACE = "extctl", "extctl-system"
# The sandbox API server serves no OpenAPI document and the sandbox runs helm with client-side apply
# (sandbox/core.py: EXTCTL_HELM_SERVER_SIDE/OPENAPI_VALIDATION=false), so (cluster) blocks get the same
# client options, and nothing else changes. Every object the chart renders is validated against the real
# Kubernetes OpenAPI schemas instead (kubernetes-validate, here and in test_deploy_chart.py).
SANDBOX_CLIENT_OPTIONS = (
    (re.compile(r"\bhelm (install|upgrade) "), r"helm \1 --server-side=false --disable-openapi-validation "),
    (re.compile(r"\bkubectl apply "), "kubectl apply --validate=false "),
)


def guide_steps() -> list[tuple[str, str, str]]:
    """(lang, tag, body) of every block and test marker in the guide, in order (markers: lang ``marker``)."""
    return [("marker", m["marker"], "") if m["marker"] is not None else (m["lang"], m["tag"].strip(), m["body"])
            for m in BLOCK.finditer(GUIDE.read_text(encoding="utf-8"))]


@pytest.fixture
def workspace(tmp_path: Path, sandbox: SandboxHandle) -> Iterator[Path]:
    space = tmp_path / "ws"
    space.mkdir()
    (space / "deploy").symlink_to(ROOT / "deploy", target_is_directory=True)
    (space / "github-token.txt").write_text("github_pat_planted_for_the_install_guide\n")  # what the user supplies
    (space / "cluster-extensions").mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(space / "cluster-extensions")], check=True)
    yield space
    sandbox.helm("uninstall", RELEASE, "-n", NAMESPACE, "--wait=hookOnly", check=False)
    sandbox.kubectl("-n", NAMESPACE, "delete", "secret", "extctl-git", "extctl-webhook", "--ignore-not-found")


def guide_env(sandbox: SandboxHandle, tmp_path: Path) -> dict[str, str]:
    env = helm_env(tmp_path / "helm-home", base=sandbox.full_env())
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]])  # extctl, kubernetes-validate
    env.update(EXTCTL_CACHE_DIR=str(tmp_path / "cache"), GIT_AUTHOR_NAME="Guide", GIT_AUTHOR_EMAIL="guide@example.com",
               GIT_COMMITTER_NAME="Guide", GIT_COMMITTER_EMAIL="guide@example.com")
    return env


def settings_of(extension_file: Path) -> dict[str, Any]:
    return dict(YAML(typ="safe").load(extension_file.read_text())["spec"]["configurationSettings"])


def leader_pass(sandbox: SandboxHandle, space: Path, instance: str) -> None:
    """What the in-cluster leader does after the push: one pass over the repository."""
    run = run_extctl(sandbox, "reconcile", "--once", "--source", str(space / "cluster-extensions"),
                     "--instance", instance, "--log-format", "json", "--cache-dir", str(space / "extctl-cache"))
    assert run.returncode == 0, run.stdout + run.stderr
    adopted = [(a["extension"], a["action"], a["state"], a["outcome"]) for a in run.actions()]
    assert adopted == [("extctl", "upgrade", "unowned", "succeeded")], run.stdout
    history = sandbox.helm_json("history", RELEASE, "-n", NAMESPACE)
    assert [(h["revision"], h["status"]) for h in history] == [(1, "superseded"), (2, "deployed")]
    values = sandbox.helm_json("get", "values", RELEASE, "-n", NAMESPACE)
    assert values == YAML(typ="safe").load((space / "extctl-values.yaml").read_text()), "adoption keeps the values"
    labels = sandbox.helm_json("get", "metadata", RELEASE, "-n", NAMESPACE)["labels"]
    assert labels["extctl.dev/managed-by"] == "extctl"
    again = run_extctl(sandbox, "reconcile", "--once", "--source", str(space / "cluster-extensions"),
                       "--instance", instance, "--log-format", "json", "--cache-dir", str(space / "extctl-cache"))
    assert [(a["action"], a["state"]) for a in again.actions()] == [("noop", "in-sync")], again.stdout


def test_the_install_guide_runs_as_written(sandbox: SandboxHandle, workspace: Path, tmp_path: Path,
                                           unique_name: str) -> None:
    env = guide_env(sandbox, tmp_path)
    ran: list[str] = []
    for lang, tag, body in guide_steps():
        if lang == "yaml" and tag.startswith("file="):
            target = workspace / tag.removeprefix("file=")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(body)
        elif lang == "sh":
            assert tag in {"here", "cluster"}, f"unknown block tag {tag!r} in docs/install.md"
            script = body
            if tag == "cluster":
                for pattern, replacement in SANDBOX_CLIENT_OPTIONS:
                    script = pattern.sub(replacement, script)
            result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=workspace, env=env,
                                    capture_output=True, text=True, timeout=300, check=False)
            assert result.returncode == 0, f"docs/install.md ({tag}) failed:\n{body}\n{result.stdout}{result.stderr}"
            ran.append(body)
        elif lang == "marker":
            leader_pass(sandbox, workspace, unique_name)
            ran.append("leader pass")
    assert len(ran) >= 9 and "leader pass" in ran

    # The guide's last Extension (the webhook Ingress added) renders a valid chart for every supported version.
    chart_meta = YAML(typ="safe").load((ROOT / "deploy" / "chart" / "Chart.yaml").read_text())
    versions = [v.strip() for v in chart_meta["annotations"]["extctl.dev/tested-kubernetes-versions"].split(",")]
    final = settings_of(workspace / "cluster-extensions" / "extensions" / "extctl.yaml")
    assert final["ingress"]["enabled"] is True
    (tmp_path / "final.json").write_text(json.dumps(final))
    rendered = subprocess.run(["helm", "template", RELEASE, "deploy/chart", "-n", NAMESPACE, "-f",
                               str(tmp_path / "final.json")], cwd=workspace, env=env, capture_output=True, text=True,
                              check=True, timeout=120).stdout
    objects = [d for d in YAML(typ="safe").load_all(rendered) if d]
    assert "Ingress" in {d["kind"] for d in objects}
    for version in versions:
        for obj in objects:
            kubernetes_validate.validate(obj, version, strict=True)


def test_the_self_managed_extension_carries_the_bootstrap_values() -> None:
    """The first Extension in the guide repeats extctl-values.yaml exactly: adopting changes nothing."""
    files: dict[str, list[str]] = {}
    for lang, tag, body in guide_steps():
        if lang == "yaml" and tag.startswith("file="):
            files.setdefault(tag.removeprefix("file="), []).append(body)
    first = YAML(typ="safe").load(files["cluster-extensions/extensions/extctl.yaml"][0])
    assert first["spec"]["configurationSettings"] == YAML(typ="safe").load(files["extctl-values.yaml"][0])
    assert first["metadata"]["name"] == RELEASE and first["spec"]["wait"] is False
    assert first["spec"]["scope"]["cluster"]["releaseNamespace"] == NAMESPACE
