#!/usr/bin/env python3
"""Rebuild sample-repo/charts/ (the sample's local chart repository) from sample-repo/charts-src/.

Owns: the list of published sample chart versions, packaging them with the pinned helm
(``helm package --version V --app-version V``), ``helm repo index`` and pinning the index
timestamps so that a rebuild changes nothing unless a chart changed. The archives are byte-identical
on every machine and every checkout: helm stamps each tar entry with its file's mtime and mode, so it
packages a copy of the sources whose mtimes (``PINNED_TIMESTAMP``) and modes (0644/0755) are fixed
(ordering, uid/gid 0 and the gzip header's zero mtime are helm's own). ``--check`` rebuilds into a
temporary directory and fails when the committed repository differs.
Must not: write outside sample-repo/charts/ (helm runs with its config and cache in a temp dir).
"""

from __future__ import annotations

import argparse
import datetime
import filecmp
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ruamel.yaml import YAML

REPO_ROOT = Path(__file__).resolve().parents[1]
SOURCES = REPO_ROOT / "sample-repo" / "charts-src"
REPOSITORY = REPO_ROOT / "sample-repo" / "charts"
# Fixed index timestamps: helm stamps "now", which would make every rebuild a diff.
PINNED_TIMESTAMP = "2026-01-01T00:00:00Z"
# The same instant for the archived files: a checkout stamps them with the time of the checkout.
PINNED_MTIME = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC).timestamp()

# Several versions per chart, including prereleases for the preview trains and a newer major.
SAMPLE_VERSIONS: dict[str, tuple[str, ...]] = {
    "contoso-monitoring": ("1.0.0", "1.1.0", "1.1.1", "2.0.0", "2.1.0-preview.1"),
    "contoso-policy": ("0.9.0", "1.0.0", "1.0.1", "1.1.0-rc.1"),
    "contoso-certs": ("1.0.0", "1.1.0", "1.2.0-beta.1"),
    "contoso-backup": ("1.0.0", "1.0.1", "1.1.0-preview.2", "1.1.0-preview.10"),
}


def helm_bin() -> str:
    return os.environ.get("HELM_BIN") or str(REPO_ROOT / ".tools" / "bin" / "helm")


def run_helm(args: list[str], helm_home: Path) -> None:
    env = dict(os.environ)
    env.update(
        HELM_CONFIG_HOME=str(helm_home / "config"),
        HELM_CACHE_HOME=str(helm_home / "cache"),
        HELM_DATA_HOME=str(helm_home / "data"),
    )
    result = subprocess.run([helm_bin(), *args], env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"helm {' '.join(args)} failed:\n{result.stderr}{result.stdout}")


def pin_index_timestamps(index_path: Path) -> None:
    yaml = YAML(typ="rt")
    yaml.width = 4096
    index = yaml.load(index_path.read_text(encoding="utf-8"))
    index["generated"] = PINNED_TIMESTAMP
    for versions in index.get("entries", {}).values():
        for entry in versions:
            entry["created"] = PINNED_TIMESTAMP
    with index_path.open("w", encoding="utf-8") as stream:
        yaml.dump(index, stream)


def pinned_copy(chart: str, into: Path) -> Path:
    """A copy of ``charts-src/CHART`` whose files and directories carry fixed mtimes and modes."""
    copy = into / chart
    shutil.copytree(SOURCES / chart, copy)
    for path in [*sorted(copy.rglob("*"), reverse=True), copy]:
        path.chmod(0o755 if path.is_dir() else 0o644)
        os.utime(path, (PINNED_MTIME, PINNED_MTIME))
    return copy


def build(output: Path) -> None:
    output.mkdir(parents=True, exist_ok=True)
    for stale in [*output.glob("*.tgz"), output / "index.yaml"]:
        stale.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="extctl-sample-charts-") as temp:
        helm_home = Path(temp) / "helm"
        for chart, versions in SAMPLE_VERSIONS.items():
            source = pinned_copy(chart, Path(temp) / "src")
            for version in versions:
                run_helm(
                    ["package", str(source), "--version", version, "--app-version", version,
                     "--destination", str(output)],
                    helm_home,
                )
        run_helm(["repo", "index", str(output)], helm_home)
    pin_index_timestamps(output / "index.yaml")


def differences(left: Path, right: Path) -> list[str]:
    comparison = filecmp.dircmp(left, right)
    return sorted([*comparison.left_only, *comparison.right_only, *comparison.diff_files])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="fail if sample-repo/charts/ is out of date")
    args = parser.parse_args()
    if not args.check:
        build(REPOSITORY)
        print(f"rebuilt {REPOSITORY.relative_to(REPO_ROOT)}: {sum(map(len, SAMPLE_VERSIONS.values()))} archives")
        return 0
    with tempfile.TemporaryDirectory(prefix="extctl-sample-check-") as temp:
        rebuilt = Path(temp) / "charts"
        build(rebuilt)
        changed = differences(REPOSITORY, rebuilt)
        shutil.rmtree(rebuilt)
    if changed:
        print("sample-repo/charts/ is out of date; run scripts/build_sample_charts.py: " + ", ".join(changed))
        return 1
    print("sample-repo/charts/ is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
