"""Run the ``extctl`` CLI as a user would: a subprocess with the sandbox env, JSON log lines parsed.

Owns: building a scenario repository (an ExtensionType over a chart repository plus Extensions) and
running ``python -m controller …`` against the sandbox. Must not: import controller internals to
drive behaviour (tests observe through the CLI, helm and the Kubernetes API).
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.output_schemas import assert_output_schema
from tests.support.sandbox import SandboxHandle

API = "extctl.dev/v1alpha1"


@dataclass
class ExtctlRun:
    returncode: int
    stdout: str
    stderr: str

    @property
    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in (raw.strip() for raw in self.stdout.splitlines())
                if line.startswith("{")]

    def actions(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("event") == "extension.action"]

    def changes(self) -> list[tuple[str, str, str]]:
        """(extension, action, outcome) for every action that is not a no-op."""
        return [(e["extension"], e["action"], e["outcome"]) for e in self.actions() if e["action"] != "noop"]

    def document(self, schema: str) -> Any:
        """stdout as the one JSON document of ``--output json``, checked against schemas/output/<schema>."""
        try:
            parsed = json.loads(self.stdout)
        except ValueError as exc:
            raise AssertionError(f"stdout is not one JSON document:\n{self.stdout}\n{self.stderr}") from exc
        assert_output_schema(schema, parsed)
        return parsed

    def summary(self) -> dict[str, Any]:
        found = [e for e in self.events if e.get("event") == "reconcile.summary"]
        assert found, f"no summary line in output:\n{self.stdout}\n{self.stderr}"
        return found[-1]


def run_extctl(sandbox: SandboxHandle | None, *args: str, cwd: Path | None = None, timeout: float = 300,
               env_extra: dict[str, str] | None = None) -> ExtctlRun:
    env = sandbox.full_env(**(env_extra or {})) if sandbox is not None else None
    result = subprocess.run([sys.executable, "-m", "controller", *args], env=env, cwd=cwd, capture_output=True,
                            text=True, timeout=timeout, check=False)
    return ExtctlRun(result.returncode, result.stdout, result.stderr)


def extension_type(name: str, repository: str, chart: str = "demo-agent", namespace: str = "default") -> str:
    return (f"apiVersion: {API}\nkind: ExtensionType\nmetadata:\n  name: {name}\nspec:\n"
            f"  chart:\n    repository: {repository}\n    name: {chart}\n"
            f"  defaultReleaseNamespace: {namespace}\n")


def extension(name: str, type_name: str, namespace: str, *, settings: dict[str, Any] | None = None,
              version: str | None = None, train: str | None = None, depends_on: list[str] | None = None,
              protected: list[dict[str, str]] | None = None, remediation: dict[str, Any] | None = None,
              extra: str = "") -> str:
    """An Extension manifest. ``protected``: ``configurationProtectedSettings`` entries (Secret references);
    ``remediation``: the ``spec.remediation`` block, e.g. ``{"retries": 1, "upgrade": {"strategy": "none"}}``."""
    lines = [f"apiVersion: {API}", "kind: Extension", "metadata:", f"  name: {name}", "spec:",
             f"  extensionType: {type_name}", "  scope:", "    cluster:", f"      releaseNamespace: {namespace}"]
    if version is not None:
        lines += ["  autoUpgradeMinorVersion: false", f"  version: {version}"]
    if train is not None:
        lines.append(f"  releaseTrain: {train}")
    if settings:
        lines.append(f"  configurationSettings: {json.dumps(settings)}")
    if protected:
        lines.append(f"  configurationProtectedSettings: {json.dumps(protected)}")
    if depends_on:
        lines.append(f"  dependsOn: {json.dumps(depends_on)}")
    if remediation:
        lines.append(f"  remediation: {json.dumps(remediation)}")
    return "\n".join(lines) + "\n" + extra
