"""Test charts: sources under ``charts-src/`` and packaging them with the real helm binary.

Owns: the small charts the harness serves (``demo-agent``: ConfigMap, ServiceAccount, Service and
an apps/v1 Deployment, with every value echoed into a ConfigMap; ``demo-web``: ConfigMap and an
optional Secret), ``helm package --version V --app-version V`` into a directory, ``helm repo
index``, and an isolated helm environment (``helm_env``) so tests never read or write ~/.config.
Must not: fake helm or write chart archives by hand; use Kubernetes kinds beyond ConfigMap,
Secret, ServiceAccount, Service and apps/v1 Deployment (the API emulator serves only those).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CHARTS_SRC = Path(__file__).resolve().parent / "charts-src"
DEMO_CHART = "demo-agent"
CHART_NAMES = ("demo-agent", "demo-web")
DEFAULT_VERSIONS = (
    "1.0.0",
    "1.1.0",
    "1.2.0-preview.1",
    "1.2.0-preview.10",
    "1.2.0",
    "2.0.0-rc.1",
    "2.0.0",
)


def helm_bin() -> str:
    """The helm binary under test: ``$HELM_BIN`` or the pinned ``.tools/bin/helm``."""
    return os.environ.get("HELM_BIN") or str(REPO_ROOT / ".tools" / "bin" / "helm")


def helm_env(home: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for helm with every config, cache and data path under ``home``."""
    env = dict(os.environ if base is None else base)
    home.mkdir(parents=True, exist_ok=True)
    env.update(
        HELM_CONFIG_HOME=str(home / "config"),
        HELM_CACHE_HOME=str(home / "cache"),
        HELM_DATA_HOME=str(home / "data"),
        HELM_REGISTRY_CONFIG=str(home / "config" / "registry" / "config.json"),
        HELM_REPOSITORY_CONFIG=str(home / "config" / "repositories.yaml"),
        HELM_REPOSITORY_CACHE=str(home / "cache" / "repository"),
        HELM_CONTENT_CACHE=str(home / "cache" / "content"),
    )
    return env


def run_helm(args: Iterable[str], *, env: Mapping[str, str], timeout: float = 60, input_text: str | None = None) -> str:
    """Run helm, return stdout; on failure raise with helm's stderr in the message."""
    cmd = [helm_bin(), *args]
    proc = subprocess.run(
        cmd, env=dict(env), capture_output=True, text=True, timeout=timeout, input=input_text, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}{proc.stdout}")
    return proc.stdout


def archive_name(chart: str, version: str) -> str:
    return f"{chart}-{version}.tgz"


class ChartPackager:
    """Packages test charts once per (chart, version) into a cache dir and copies them on demand."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.cache = workdir / "packaged"
        self.cache.mkdir(parents=True, exist_ok=True)
        self.env = helm_env(workdir / "helm-home")
        self._lock = threading.Lock()

    def package(self, chart: str, version: str, *, app_version: str | None = None) -> Path:
        """Path to ``<chart>-<version>.tgz`` built by ``helm package`` (cached)."""
        if chart not in CHART_NAMES:
            raise ValueError(f"unknown test chart {chart!r}; have {CHART_NAMES}")
        app_version = app_version or version
        out_dir = self.cache / f"{chart}-{version}-app-{app_version}"
        target = out_dir / archive_name(chart, version)
        with self._lock:
            if not target.exists():
                out_dir.mkdir(parents=True, exist_ok=True)
                run_helm(
                    ["package", str(CHARTS_SRC / chart), "--version", version, "--app-version", app_version,
                     "--destination", str(out_dir)],
                    env=self.env,
                )
        if not target.exists():
            raise RuntimeError(f"helm package did not produce {target}")
        return target

    def package_into(self, dest: Path, chart: str, version: str, *, app_version: str | None = None) -> Path:
        dest.mkdir(parents=True, exist_ok=True)
        target = dest / archive_name(chart, version)
        shutil.copyfile(self.package(chart, version, app_version=app_version), target)
        return target

    def index(self, repo_dir: Path, url: str | None = None) -> Path:
        """``helm repo index`` over every archive in ``repo_dir`` (rewrites ``index.yaml``)."""
        args = ["repo", "index", str(repo_dir)]
        if url:
            args += ["--url", url]
        run_helm(args, env=self.env)
        return repo_dir / "index.yaml"

    def build_repo(
        self,
        repo_dir: Path,
        versions: Iterable[str] = DEFAULT_VERSIONS,
        charts: Iterable[str] = (DEMO_CHART,),
        *,
        url: str | None = None,
    ) -> Path:
        """Package every chart in every version into ``repo_dir`` and index it; returns ``index.yaml``."""
        for chart in charts:
            for version in versions:
                self.package_into(repo_dir, chart, version)
        return self.index(repo_dir, url)
