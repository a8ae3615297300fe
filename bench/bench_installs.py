#!/usr/bin/env python3
"""P2: N installs at concurrency 10 by extctl against the same N by ``helm install`` run by ``xargs -P10``.

Run: ``.venv/bin/python bench/bench_installs.py [--sizes 100,1000] [--rounds 1]`` (``EXTCTL_BENCH_SIZES``).

Goal measured (issue 14 P2): extctl's wall time is at most 1.05x the baseline's.

Method: for each size N and round, two fresh sandboxes (emulator + PostgreSQL, so neither run pays for
the other's releases in helm's storage), in alternating order (helm first in odd rounds, extctl first in
even ones, so a load trend does not favour one side):

* extctl: a local-directory repository of N extensions (as the other scripts: sample-repo's
  contoso-certs, 10 namespaces) and one ``extctl reconcile --once --concurrency 10``, wall time around the
  process (start-up, parse, catalog, ``helm list``, namespaces, every install, the state ConfigMap);
* baseline: ``xargs -P10`` running N ``helm install`` commands with what extctl passes helm for the same
  release: the same chart archive, a values file with the same settings, after one ``kubectl create`` of
  the 10 namespaces (extctl creates them through the API; helm's ``--create-namespace`` needs the OpenAPI
  document the sandbox does not serve) and one ``helm list -A`` (extctl's pass starts with one), the
  same ``--timeout`` and the same number of ``--labels``;
  wall time around ``xargs``. Both with helm's defaults otherwise: extctl runs with ``--wait false`` (see
  ``common.EXTCTL_FLAGS``), so neither waits for readiness.

Per-action figures come from extctl's own action lines (``duration_ms`` of each install); the time from
the pass's ``reconcile.summary`` line to the process's exit is printed too (the status publisher writes
the Extension objects and Events after the summary). Nothing is
asserted; every sandbox is stopped.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from common import (
    HELM,
    bench_size,
    load,
    machine_line,
    print_table,
    reconcile_argv,
    result_line,
    run_timed,
    sandbox_env,
    summary_of,
    write_repo,
)

from sandbox.core import Sandbox

CHART = "contoso-certs-1.1.0.tgz"  # what the stable train resolves to (sample-repo/charts)
CONCURRENCY = 10
# What extctl passes helm on the sandbox (its env: EXTCTL_HELM_SERVER_SIDE/OPENAPI_VALIDATION=false).
SANDBOX_FLAGS = ("--server-side=false", "--disable-openapi-validation")
LABELS = ("extctl.dev/managed-by=extctl,extctl.dev/instance=default,extctl.dev/extension={name},"
          "extctl.dev/values-digest=0000000000000000,extctl.dev/revision=local,extctl.dev/helm-revision=1")


def run_extctl(work: Path, n: int) -> tuple[float, dict[str, object], list[int]]:
    box = Sandbox(work / "sandbox")
    try:
        box.start()
        repo = write_repo(work / "repo", n)
        env = sandbox_env(box.env(), work / "cache")
        elapsed, result = run_timed(reconcile_argv(repo, CONCURRENCY), env)
        ended = datetime.datetime.now(datetime.UTC)
        summary = summary_of(result)
        if "timestamp" in summary:  # what the process did after its pass: publishing the Extension objects
            after = (ended - datetime.datetime.fromisoformat(str(summary["timestamp"]).replace("Z", "+00:00")))
            print(f"N={n}: extctl pass {summary.get('duration_ms')} ms; process exit {after.total_seconds():.1f} s "
                  "after the pass summary (status publishing of the Extension objects and Events)", flush=True)
        actions = [json.loads(line).get("duration_ms", 0) for line in (result.stdout if result else "").splitlines()
                   if line.startswith("{") and '"action": "install"' in line]
        return elapsed, summary, [int(a) for a in actions]
    finally:
        box.stop()


def run_helm(work: Path, n: int, timeout_s: int) -> tuple[float, int]:
    box = Sandbox(work / "sandbox")
    try:
        box.start()
        env = sandbox_env(box.env(), work / "cache")
        chart = work / CHART
        shutil.copy(Path(__file__).resolve().parent.parent / "sample-repo" / "charts" / CHART, chart)
        values = work / "values.yaml"
        values.write_text("logLevel: info\n")
        lines = []
        for i in range(n):
            name = f"ext-{i:04d}"
            lines.append(" ".join(["install", name, str(chart), "-n", f"bench-{i % 10}",
                                   "-f", str(values), "--timeout", f"{timeout_s}s", *SANDBOX_FLAGS, "--labels",
                                   LABELS.format(name=name)]))
        commands = work / "commands.txt"
        commands.write_text("\n".join(lines) + "\n")
        namespaces = work / "namespaces.yaml"
        namespaces.write_text("".join(f"---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: bench-{i}\n"
                                      for i in range(min(n, 10))))
        # One helm list first, as extctl's pass starts with one: it also creates helm's SQL schema, which
        # concurrent first helm processes on a fresh database race to create (duplicate key errors).
        script = (f"kubectl create --validate=false -f {namespaces} >/dev/null && {HELM} list -A >/dev/null && "
                  f"xargs -P {CONCURRENCY} -L 1 -a {commands} {HELM}")
        elapsed, result = run_timed(["sh", "-c", script], env)
        _, listed = run_timed([HELM, "list", "-A", "--max", "0", "-o", "json"], env)
        deployed = sum(1 for row in json.loads(listed.stdout or "[]") if row.get("status") == "deployed") \
            if listed is not None else 0
        if result is None or result.returncode != 0:
            print(f"xargs helm: exit {result.returncode if result else 'timeout'}: "
                  f"{(result.stderr if result else '')[-600:]}", flush=True)
        return elapsed, deployed
    finally:
        box.stop()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default=os.environ.get("EXTCTL_BENCH_SIZES") or "100,1000")
    parser.add_argument("--rounds", type=int, default=bench_size("EXTCTL_BENCH_INSTALL_ROUNDS", 1))
    parser.add_argument("--helm-timeout", type=int, default=300, help="extctl's default --helm-timeout")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    print(machine_line("bench_installs", sizes=args.sizes, rounds=args.rounds, concurrency=CONCURRENCY), flush=True)
    work = Path(tempfile.mkdtemp(prefix="extctl-bench-installs-"))
    work.chmod(0o755)
    try:
        for n in sizes:
            extctl: list[float] = []
            helm: list[float] = []
            per_action: list[int] = []
            for r in range(1, args.rounds + 1):
                order = ["helm", "extctl"] if r % 2 else ["extctl", "helm"]
                for side in order:
                    scratch = work / f"{side}-{n}-{r}"
                    scratch.mkdir()
                    if side == "extctl":
                        elapsed, summary, actions = run_extctl(scratch, n)
                        extctl.append(elapsed)
                        per_action += actions
                        print(f"N={n} round {r}: extctl reconcile --once {elapsed:.1f} s; installed "
                              f"{summary.get('installed')}, failed {summary.get('failed')}, helm_calls "
                              f"{summary.get('helm_calls')}, duration_ms {summary.get('duration_ms')}; "
                              f"load {load()}", flush=True)
                    else:
                        elapsed, deployed = run_helm(scratch, n, args.helm_timeout)
                        helm.append(elapsed)
                        print(f"N={n} round {r}: xargs -P{CONCURRENCY} helm install {elapsed:.1f} s; deployed "
                              f"{deployed}; load {load()}", flush=True)
                    shutil.rmtree(scratch, ignore_errors=True)
            print()
            print_table([(f"xargs -P{CONCURRENCY} helm install x {n} (baseline)", helm, ""),
                         (f"extctl reconcile --once, {n} installs", extctl, "start-up and all included")])
            if per_action:
                print(f"extctl install actions: median {statistics.median(per_action)} ms, "
                      f"mean {statistics.mean(per_action):.0f} ms over {len(per_action)}")
            ratio = statistics.median(extctl) / statistics.median(helm)
            result_line(f"P2 {n} installs at concurrency {CONCURRENCY}", f"{ratio:.2f}x xargs helm "
                        f"({statistics.median(extctl):.1f} s / {statistics.median(helm):.1f} s)", "<= 1.05x",
                        ratio <= 1.05)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
