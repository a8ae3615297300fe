"""The pass sequencer never raises: every failure is a pass outcome with a typed reason (issue 9).

The engine is wired with its real offline parts (``NullObserver``, ``NullStateStore``,
``OfflineProtectedReader``, the real catalog service over a local chart directory) and a source that is
a plain directory; the faults are a source whose ``fetch`` has a bug and a catalog that has one."""

from __future__ import annotations

import asyncio
import io
import json
import time
from pathlib import Path
from typing import Any

import pytest

from controller.catalog import CatalogService
from controller.desired import OfflineProtectedReader
from controller.engine import Engine, EngineParts, ReconcileSettings
from controller.logs import configure
from controller.observe import NullObserver
from controller.source import Snapshot
from controller.state import NullStateStore

REPO = Path(__file__).resolve().parents[2] / "sample-repo"


class DirectorySource:
    """The sample repository as a snapshot (what ``open_source`` gives for a local directory)."""

    def fetch(self) -> Snapshot:
        return Snapshot(revision="local@test", root=REPO, repo_root=REPO, commit=None)

    def describe(self) -> str:
        return str(REPO)


class BuggySource(DirectorySource):
    def fetch(self) -> Snapshot:
        raise KeyError("a bug in a source")


class BuggyCatalog:
    def lookup(self, repository: str, chart: str, *, repo_root: Path, manifest_root: Path | None = None) -> Any:
        raise ZeroDivisionError("a bug in the catalog")


def engine(source: Any, catalog: Any = None) -> Engine:
    parts = EngineParts(source, catalog or CatalogService(credentials=None, clock=time.monotonic),
                        NullObserver(), NullStateStore(), OfflineProtectedReader())
    return Engine(parts, ReconcileSettings(offline=True))


def run(target: Engine) -> tuple[Any, list[dict[str, Any]]]:
    stream = io.StringIO()
    configure("json", "info", stream=stream)
    result = asyncio.run(target.run_pass())
    return result, [json.loads(line) for line in stream.getvalue().splitlines()]


def test_the_sample_repository_plans_installs_offline() -> None:
    result, lines = run(engine(DirectorySource()))
    assert result.outcome == "planned" and result.ok
    assert {a.kind.value for a in result.plan.actions} == {"install"}
    assert lines[-1]["event"] == "reconcile.summary" and lines[-1]["planned"] == len(result.plan.actions)


@pytest.mark.parametrize(("source", "catalog", "where"), [
    (BuggySource(), None, "KeyError: 'a bug in a source'"),
    (DirectorySource(), BuggyCatalog(), "ZeroDivisionError: a bug in the catalog"),
], ids=["source", "catalog"])
def test_an_internal_error_is_a_pass_outcome_not_an_exception(source: Any, catalog: Any, where: str) -> None:
    result, lines = run(engine(source, catalog))
    assert (result.outcome, result.reason) == ("internal-error", "InternalError")
    assert result.error == where and not result.ok
    summary = lines[-1]
    assert summary["event"] == "reconcile.summary" and summary["outcome"] == "internal-error"
    assert summary["error"] == where and ".py:" in summary["at"] and "report" in summary["hint"]
    assert "Traceback" not in json.dumps(lines)


def test_a_plan_without_a_digest_key_says_so_and_creates_none() -> None:
    from controller.desired import ProtectedSettingsReader
    from tests.unit.test_protected_reader import Backend

    class TeamABackend(Backend):
        def read_secret_data(self, namespace: str, name: str) -> dict[str, str]:
            return {"access-key": "s3cr3t-value"}

    backend = TeamABackend(key=None)
    parts = EngineParts(DirectorySource(), CatalogService(credentials=None, clock=time.monotonic), NullObserver(),
                        NullStateStore(), ProtectedSettingsReader(backend, system_namespace="extctl-system",
                                                                  create_key=False))
    result, lines = run(Engine(parts, ReconcileSettings(offline=True)))
    assert result.outcome == "planned"
    assert result.notes == ("protected values will be digested on first apply (no digest key yet)",)
    assert lines[-1]["notes"] == list(result.notes)
    assert backend.created == 0 and backend.key is None
