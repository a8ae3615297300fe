#!/usr/bin/env python3
"""P6 and start-up: one-shot commands as processes, interpreter start-up included.

Run: ``.venv/bin/python bench/bench_cli.py [--extensions 1000] [--versions 500] [--rounds 7]``.

Goals measured (issue 14): ``extctl validate`` and ``extctl resolve`` of N manifests against a local chart
repository index of V versions take at most 1 s each (P6); ``extctl version`` at most 0.25 s and
``extctl validate`` of sample-repo at most 0.4 s (start-up).

Method: writes a local-directory repository (N Extension files of one ExtensionType, as the other
scripts) whose ``charts/index.yaml`` lists V versions of the chart, then R interleaved rounds of
``python -c pass`` (the interpreter alone, for context), ``python -m controller version``,
``python -m controller validate sample-repo``, ``validate`` of the N manifests and ``resolve --source``
of them, each twice: **cold**, with an empty ``EXTCTL_CACHE_DIR`` (a fresh CI runner: every file is
parsed), and **warm**, with a cache directory the previous rounds filled (a developer's machine: the parse
cache of ``controller/manifests/cache.py`` returns the validated tree). The goals are judged on the cold
figures; the warm ones are printed beside them. Beside the wall time, the process's CPU time (user +
system, from ``RUSAGE_CHILDREN``): on two shared cores the wall time stretches with other work, the CPU
time does not, and for these single-threaded commands it is what an idle machine's wall time comes to.
Wall time is ``time.perf_counter`` around each subprocess; median and best are printed. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
from pathlib import Path

from common import (
    DEFAULT_EXTENSIONS,
    ROOT,
    bench_size,
    machine_line,
    print_table,
    result_line,
    run_timed,
    stats,
    write_index,
    write_repo,
)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--extensions", type=int, default=DEFAULT_EXTENSIONS)
    parser.add_argument("--versions", type=int, default=bench_size("EXTCTL_BENCH_VERSIONS", 500))
    parser.add_argument("--rounds", type=int, default=bench_size("EXTCTL_BENCH_CLI_ROUNDS", 7))
    args = parser.parse_args()
    print(machine_line("bench_cli", extensions=args.extensions, versions=args.versions, rounds=args.rounds),
          flush=True)
    work = Path(tempfile.mkdtemp(prefix="extctl-bench-cli-"))
    try:
        repo = write_repo(work / "repo", args.extensions)
        write_index(repo, args.versions)
        python = [sys.executable]
        cli = [sys.executable, "-m", "controller"]
        commands = {
            "python -c pass": [*python, "-c", "pass"],
            "extctl version": [*cli, "version"],
            "extctl validate sample-repo": [*cli, "validate", str(ROOT / "sample-repo")],
            f"extctl validate ({args.extensions} manifests)": [*cli, "validate", str(repo)],
            f"extctl resolve ({args.extensions} manifests, {args.versions} versions)":
                [*cli, "resolve", "--source", str(repo), "-o", "json"],
        }
        warm_cache = work / "cache-warm"
        samples: dict[str, list[float]] = {}
        cpu: dict[str, list[float]] = {}  # user + system time of the process: what load does not stretch
        for r in range(args.rounds):
            for label, argv in commands.items():
                for kind, cache in (("cold", work / f"cache-cold-{r}"), ("warm", warm_cache)):
                    if kind == "warm" and r == 0:
                        run_timed(argv, dict(os.environ, EXTCTL_CACHE_DIR=str(cache)))  # fills the warm cache
                    before = resource.getrusage(resource.RUSAGE_CHILDREN)
                    elapsed, result = run_timed(argv, dict(os.environ, EXTCTL_CACHE_DIR=str(cache)))
                    after = resource.getrusage(resource.RUSAGE_CHILDREN)
                    if result is None or result.returncode != 0:
                        detail = result.stderr.strip()[-300:] if result is not None else "timed out"
                        raise SystemExit(f"{label} failed: {detail}")
                    samples.setdefault(f"{label}, {kind} cache", []).append(elapsed)
                    cpu.setdefault(f"{label}, {kind} cache", []).append(
                        after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        print()
        print_table([(label, values, f"cpu {stats(cpu[label])[0]:.3f} s") for label, values in samples.items()])
        labels = list(commands)
        goals = [("start-up: extctl version", labels[1], 0.25), ("start-up: validate sample-repo", labels[2], 0.4),
                 (f"P6 validate {args.extensions}", labels[3], 1.0), (f"P6 resolve {args.extensions}", labels[4], 1.0)]
        for figure, label, goal in goals:
            median, best = stats(samples[f"{label}, cold cache"])
            warm, _ = stats(samples[f"{label}, warm cache"])
            cold_cpu, warm_cpu = stats(cpu[f"{label}, cold cache"])[0], stats(cpu[f"{label}, warm cache"])[0]
            result_line(figure, f"{median:.2f} s median cold cache ({best:.2f} s best, cpu {cold_cpu:.2f} s), "
                        f"{warm:.2f} s warm cache (cpu {warm_cpu:.2f} s)",
                        f"<= {goal} s", median <= goal)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
