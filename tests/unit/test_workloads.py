"""The sandbox's workload simulator (``sandbox/workloads.py``): which workloads are broken and the status it
writes, checked against what kstatus (helm's ``--wait=watcher``) reads. End to end: test_health_drift.py."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.workloads import broken_reason, desired_status, up_to_date


def deployment(*, image: str = "registry.invalid/agent:1.0", replicas: int = 2, generation: int = 3,
               annotations: dict[str, str] | None = None, template_annotations: dict[str, str] | None = None,
               ) -> dict[str, Any]:
    return {"kind": "Deployment", "metadata": {"name": "agent", "generation": generation,
                                               "annotations": annotations or {}},
            "spec": {"replicas": replicas, "template": {"metadata": {"annotations": template_annotations or {}},
                                                        "spec": {"containers": [{"name": "agent", "image": image}]}}}}


@pytest.mark.parametrize(("obj", "broken"), [
    pytest.param(deployment(), False, id="healthy"),
    pytest.param(deployment(image="registry.invalid/agent:crashloop"), True, id="crashloop tag"),
    pytest.param(deployment(image="localhost:5000/agent:crashloop"), True, id="a registry port is not a tag"),
    pytest.param(deployment(image="localhost:5000/crashloop"), False, id="crashloop as a name is healthy"),
    pytest.param(deployment(annotations={"sandbox.extctl.dev/broken": "no"}), True, id="annotation"),
    pytest.param(deployment(template_annotations={"sandbox.extctl.dev/broken": "x"}), True, id="pod annotation"),
])
def test_broken_workloads(obj: dict[str, Any], broken: bool) -> None:
    assert (broken_reason(obj) is not None) is broken


def test_a_healthy_deployment_reports_what_kstatus_calls_current() -> None:
    status = desired_status("Deployment", deployment())
    assert (status["observedGeneration"], status["replicas"], status["updatedReplicas"], status["readyReplicas"],
            status["availableReplicas"]) == (3, 2, 2, 2, 2)
    assert {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]} == {
        "Available": ("True", "MinimumReplicasAvailable"), "Progressing": ("True", "NewReplicaSetAvailable")}


def test_a_broken_deployment_is_never_available_and_says_why() -> None:
    status = desired_status("Deployment", deployment(image="agent:crashloop"))
    assert (status["readyReplicas"], status["availableReplicas"], status["unavailableReplicas"]) == (0, 0, 2)
    available = next(c for c in status["conditions"] if c["type"] == "Available")
    assert available["status"] == "False" and "back-off restarting failed container" in available["message"]


def test_jobs_complete_or_fail() -> None:
    job = {"kind": "Job", "metadata": {"name": "migrate"}, "spec": {"completions": 1, "backoffLimit": 2,
                                                                    "template": {"spec": {"containers": []}}}}
    assert desired_status("Job", job)["succeeded"] == 1
    job["metadata"]["annotations"] = {"sandbox.extctl.dev/broken": "exit 1"}
    failed = desired_status("Job", job)
    assert failed["failed"] == 3 and failed["conditions"][0]["type"] == "Failed"


def test_up_to_date_ignores_timestamps_so_its_own_writes_end_the_loop() -> None:
    obj = deployment()
    assert not up_to_date("Deployment", obj)
    obj["status"] = desired_status("Deployment", obj)
    for condition in obj["status"]["conditions"]:
        condition["lastTransitionTime"] = "2000-01-01T00:00:00Z"
    obj["status"].pop("unavailableReplicas")  # the merge patch removed it
    assert up_to_date("Deployment", obj)
    obj["metadata"]["generation"] = 4  # a new spec: not yet observed
    assert not up_to_date("Deployment", obj)
