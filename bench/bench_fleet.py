#!/usr/bin/env python3
"""Fleet (issue 16): what one agent pays per pass for placement, and what fleet-wide commands cost.

Run: ``.venv/bin/python bench/bench_fleet.py [--extensions 200] [--clusters 40,1000] [--repeat 5]
[--preview-clusters 40]``. Prints one line per figure; recorded in bench/README.md and docs/fleet.md.
Nothing here asserts a speed.

Method: a synthetic repository of E Extensions of one ExtensionType (a local chart repository copied from
sample-repo): a quarter without placement, a quarter placed by ``env In (prod, staging)``, a quarter by
``region``, a quarter by cluster name; every extension has two overrides (``env=prod`` settings,
``ring=canary`` train); every extension placed by ``env`` depends on one without placement.
Inventories of C clusters (env over prod/staging/dev, region over 4, every tenth a canary). Pure
figures (``time.perf_counter``, median and best of R): parse + validate the whole repository (this
includes the inventory-wide ``dependsOn`` placement check), one cluster's view (what every pass of
every agent computes), and all C views (what ``fleet status`` and ``preview --fleet`` compute). Then,
end to end: ``extctl preview --fleet`` of a local Git repository whose branch changes one ``env=prod``
setting (wall time, ``helm template`` calls against the renders requested), and one Git poll of an
unchanged branch over smart HTTP (the real ``git http-backend``): requests per poll.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common import ROOT, machine_line, run_timed

sys.path.insert(0, str(ROOT))

from controller.manifests import parse_documents
from controller.models.fleet import cluster_view, inventory_view
from controller.models.placement import ClusterIdentity

TYPE = ("apiVersion: extctl.dev/v1alpha1\nkind: ExtensionType\nmetadata:\n  name: bench.certs\nspec:\n"
        "  chart:\n    repository: charts\n    name: contoso-certs\n  defaultReleaseNamespace: bench\n")
ENVS, REGIONS = ("prod", "staging", "dev"), ("eu", "us", "ap", "sa")


def cluster_name(i: int) -> str:
    return f"c{i:04d}"


def inventory(clusters: int) -> str:
    docs = []
    for i in range(clusters):
        ring = "\n    ring: canary" if i % 10 == 0 else ""
        docs.append(f"apiVersion: extctl.dev/v1alpha1\nkind: Cluster\nmetadata:\n  name: {cluster_name(i)}\n"
                    f"  labels:\n    env: {ENVS[i % 3]}\n    region: {REGIONS[i % 4]}{ring}\n")
    return "---\n".join(docs)


def extension(i: int, clusters: int, level: str = "warn") -> str:
    placement = ["", "  placement: {clusterSelector: {matchExpressions: [{key: env, operator: In, values: [prod, "
                     "staging]}]}}\n",
                 f"  placement: {{clusterSelector: {{matchLabels: {{region: {REGIONS[i % 4]}}}}}}}\n",
                 f"  placement: {{clusters: [{cluster_name(i % clusters)}, "
                 f"{cluster_name((i * 7) % clusters)}]}}\n"][i % 4]
    return (f"apiVersion: extctl.dev/v1alpha1\nkind: Extension\nmetadata:\n  name: ext-{i:04d}\nspec:\n"
            f"  extensionType: bench.certs\n  scope:\n    namespace:\n      targetNamespace: bench-{i % 10}\n"
            f"  configurationSettings:\n    logLevel: info\n{placement}"
            + (f"  dependsOn: [ext-{i - 1:04d}]\n" if i % 4 == 1 else "")
            + "  overrides:\n"
            "    - clusterSelector: {matchLabels: {env: prod}}\n"
            f"      configurationSettings: {{logLevel: {level}}}\n"
            "    - clusterSelector: {matchLabels: {ring: canary}}\n      releaseTrain: preview\n")


def files(extensions: int, clusters: int, level: str = "warn") -> dict[str, str]:
    found = {"type.yaml": TYPE, "clusters.yaml": inventory(clusters)}
    found.update({f"extensions/ext-{i:04d}.yaml": extension(i, clusters, level) for i in range(extensions)})
    return found


def timed(what: str, repeat: int, call: Callable[[], object]) -> None:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    print(f"{what}: median {statistics.median(times) * 1000:.1f} ms, best {min(times) * 1000:.1f} ms")


def pure(extensions: int, clusters: int, repeat: int) -> None:
    source = files(extensions, clusters)
    manifests = parse_documents(source)
    placed = [len(cluster_view(manifests, ClusterIdentity(cluster_name(i))).manifests.extensions)
              for i in range(min(clusters, 50))]
    print(f"## {extensions} extensions, {clusters} clusters; extensions per cluster (first 50): "
          f"median {statistics.median(placed):.0f}")
    timed("parse + validate (inventory-wide placement checks included)", repeat, lambda: parse_documents(source))
    timed("one cluster's view (every pass of every agent)", repeat * 20,
          lambda: cluster_view(manifests, ClusterIdentity(cluster_name(1), {"zone": "a"})))
    timed(f"all {clusters} views (fleet status / preview --fleet)", repeat,
          lambda: [inventory_view(manifests, cluster_name(i)) for i in range(clusters)])


def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "b",
                        "GIT_COMMITTER_EMAIL": "b@b", "HOME": str(cwd), "PATH": "/usr/bin:/bin"})


def fleet_preview(extensions: int, clusters: int, work: Path) -> None:
    repo = work / "repo"
    (repo / "extensions").mkdir(parents=True)
    shutil.copytree(ROOT / "sample-repo" / "charts", repo / "charts")
    for name, text in files(extensions, clusters).items():
        (repo / name).write_text(text)
    git("init", "-q", "-b", "main", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "base", cwd=repo)
    git("checkout", "-qb", "feature", cwd=repo)
    (repo / "extensions" / "ext-0000.yaml").write_text(extension(0, clusters, level="error"))
    git("commit", "-qam", "prod: error", cwd=repo)
    env = {"PATH": f"{ROOT / '.tools' / 'bin'}:/usr/bin:/bin", "HELM_BIN": str(ROOT / ".tools" / "bin" / "helm"),
           "HOME": str(work)}
    argv = [sys.executable, "-m", "controller", "preview", "--fleet", "--source", str(repo), "--base", "main",
            "--head", "feature", "--cache-dir", str(work / "cache"), "--output", "json"]
    seconds, result = run_timed(argv, env=env, timeout=900)
    if result is None or result.returncode not in {0, 2}:
        print(f"preview --fleet failed: {result.stderr[-400:] if result else 'timed out'}")
        return
    stats = json.loads(result.stdout)["stats"]
    changed = stats["changed_clusters"]
    print(f"## preview --fleet, {extensions} extensions, {clusters} clusters, one env=prod setting changed: "
          f"{seconds:.2f} s wall, {changed} clusters change, {stats['helm_template_calls']} helm template calls "
          f"for {stats['renders_requested']} renders requested")


def git_poll(work: Path) -> None:
    from tests.support.git_remote import GitRemote  # noqa: PLC0415 - test harness: only for this figure

    remote = GitRemote(work / "remote")
    try:
        remote.commit(files(20, 40))
        env = {"PATH": "/usr/bin:/bin", "HOME": str(work)}
        argv = [sys.executable, "-m", "controller", "plan", "--offline", "--source", remote.http_url,
                "--cache-dir", str(work / "poll-cache")]
        run_timed([*argv, "--output", "json"], env=env, timeout=300)  # the clone
        before = len(remote.http.requests)
        seconds, _ = run_timed([*argv, "--output", "json"], env=env, timeout=300)
        polled = remote.http.requests[before:]
        print(f"## one poll of an unchanged branch (a fresh process's whole pass: {seconds:.2f} s): "
              f"{len(polled)} smart-HTTP requests ({', '.join(sorted({r.service for r in polled}))})")
    finally:
        remote.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--extensions", type=int, default=200)
    parser.add_argument("--clusters", default="40,1000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--preview-clusters", type=int, default=40)
    args = parser.parse_args()
    print(machine_line("bench_fleet", extensions=args.extensions, clusters=args.clusters, repeat=args.repeat))
    for clusters in (int(c) for c in args.clusters.split(",")):
        pure(args.extensions, clusters, args.repeat)
    with tempfile.TemporaryDirectory(prefix="extctl-bench-fleet-") as scratch:
        fleet_preview(20, args.preview_clusters, Path(scratch))
        git_poll(Path(scratch))


if __name__ == "__main__":
    main()
