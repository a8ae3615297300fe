#!/usr/bin/env python3
"""Benchmarks of the pure core: version resolution, desired-state building and planning at scale.

Run: ``.venv/bin/python bench/bench_core.py [--extensions N] [--versions V] [--repeat R]``. Prints one
line per benchmark with the median and best wall time over R repeats (time.perf_counter). Figures
and the method are recorded in bench/README.md; nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from controller.manifests import parse_documents
from controller.models.desired import LABEL_DIGEST, LABEL_EXTENSION, LABEL_INSTANCE, LABEL_MANAGED_BY
from controller.models.desired_state import build_desired_state
from controller.models.observed import ObservedRelease
from controller.models.plan import plan
from controller.models.resolution import resolve_version


def repo_files(extensions: int) -> dict[str, str]:
    files = {"catalog/type.yaml": (
        "apiVersion: extctl.dev/v1alpha1\nkind: ExtensionType\nmetadata:\n  name: bench.agent\nspec:\n"
        "  chart:\n    repository: charts\n    name: agent\n  defaultReleaseNamespace: agents\n")}
    for i in range(extensions):
        depends = f"\n  dependsOn: [ext-{i - 1:05d}]" if i % 10 else ""
        files[f"extensions/ext-{i:05d}.yaml"] = (
            f"apiVersion: extctl.dev/v1alpha1\nkind: Extension\nmetadata:\n  name: ext-{i:05d}\nspec:\n"
            f"  extensionType: bench.agent\n  scope:\n    namespace:\n      targetNamespace: ns-{i % 50}\n"
            f"  configurationSettings:\n    replicas: {i % 3}\n    tier: t{i % 7}{depends}\n")
    return files


def versions(count: int) -> list[str]:
    found = []
    for i in range(count):
        major, minor, patch = 1 + i // 100, (i // 10) % 10, i % 10
        found.append(f"{major}.{minor}.{patch}")
        if i % 4 == 0:
            found.append(f"{major}.{minor}.{patch + 1}-preview.{i % 13}")
    return found


def measure(name: str, repeat: int, work: Callable[[], object]) -> None:
    """Wall time (median, best) and the process's CPU time (median): on two shared cores the CPU time is
    what stays comparable when other work takes the cores (the wall time then grows, the CPU time does not)."""
    samples, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        work()
        samples.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    print(f"{name:<48} median {statistics.median(samples) * 1000:9.1f} ms   best {min(samples) * 1000:9.1f} ms   "
          f"cpu {statistics.median(cpu) * 1000:9.1f} ms")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--extensions", type=int, default=int(os.environ.get("EXTCTL_BENCH_EXTENSIONS") or 1000))
    parser.add_argument("--versions", type=int, default=int(os.environ.get("EXTCTL_BENCH_VERSIONS") or 500))
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    files = repo_files(args.extensions)
    available = versions(args.versions)
    manifests = parse_documents(files)
    train = manifests.types["bench.agent"].release_trains[0]
    state = build_desired_state(manifests, versions={"bench.agent": available})
    observed = [
        ObservedRelease(name=r.extension, namespace=r.namespace, revision=1, status="deployed", chart_name="agent",
                        chart_version=r.version, labels={LABEL_MANAGED_BY: "extctl", LABEL_INSTANCE: "default",
                                                         LABEL_EXTENSION: r.extension, LABEL_DIGEST: r.values_digest})
        for r in state.releases
    ]
    print(f"# {args.extensions} extensions, {len(available)} chart versions, {args.repeat} repeats; load "
          f"{' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    measure(f"parse+validate {args.extensions} manifests", args.repeat, lambda: parse_documents(files))
    measure(f"resolve one extension over {len(available)} versions", args.repeat,
            lambda: resolve_version(available, train, installed_version="3.4.5"))
    measure(f"build desired state ({args.extensions} extensions)", args.repeat,
            lambda: build_desired_state(manifests, versions={"bench.agent": available}))
    measure(f"plan, first install ({args.extensions})", args.repeat, lambda: plan(state.releases, []))
    measure(f"plan, steady state ({args.extensions})", args.repeat, lambda: plan(state.releases, observed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
