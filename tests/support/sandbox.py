"""The ``sandbox`` fixture: one Kubernetes API emulator + PostgreSQL per test session.

Owns: starting/stopping ``sandbox.core.Sandbox`` for the tests, and small helpers to run the real
helm and kubectl binaries against it. Tests isolate from each other by namespace and release name.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sandbox.core import Sandbox
from tests.support.charts import REPO_ROOT, helm_bin

TOOLS_BIN = REPO_ROOT / ".tools" / "bin"


@dataclass
class SandboxHandle:
    """What a test needs to talk to the sandbox: env vars, plus helm/kubectl runners."""

    sandbox: Sandbox
    env: dict[str, str]

    def full_env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.env)
        env["PATH"] = f"{TOOLS_BIN}{os.pathsep}{env.get('PATH', '')}"
        env.update(extra)
        return env

    def helm(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [helm_bin(), *args], env=self.full_env(), capture_output=True, text=True, timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed ({result.returncode}): {result.stderr}")
        return result

    def helm_json(self, *args: str) -> Any:
        return json.loads(self.helm(*args, "-o", "json").stdout or "null")

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(TOOLS_BIN / "kubectl"), *args], env=self.full_env(), capture_output=True, text=True,
            timeout=60, check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr}")
        return result

    def core_v1(self) -> Any:
        from kubernetes import client, config

        api_client = config.new_client_from_config(config_file=self.env["KUBECONFIG"])
        return client.CoreV1Api(api_client)

    def api_client(self) -> Any:
        from kubernetes import config

        return config.new_client_from_config(config_file=self.env["KUBECONFIG"])


@contextlib.contextmanager
def running_sandbox(prefix: str = "extctl-sandbox-") -> Iterator[SandboxHandle]:
    """A sandbox started for the block and stopped after it (the session's, or a second cluster's)."""
    # PostgreSQL runs as the 'postgres' user when we are root, so the directory must be reachable by
    # it: pytest's tmp_path_factory lives under a 0700 directory, hence a world-traversable mkdtemp.
    directory = Path(tempfile.mkdtemp(prefix=prefix))
    directory.chmod(0o755)
    box = Sandbox(directory)
    box.start()
    try:
        yield SandboxHandle(box, box.env())
    finally:
        box.stop()


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox() as handle:
        yield handle


@pytest.fixture
def unique_name() -> str:
    """A DNS-1123 name unique to the test, for namespaces and releases in the shared sandbox."""
    return f"t{uuid.uuid4().hex[:10]}"
