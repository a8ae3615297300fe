#!/usr/bin/env python3
"""P5: peak resident memory of a running ``extctl run`` at N extensions, after 3 passes.

Run: ``.venv/bin/python bench/bench_memory.py [--extensions 1000] [--passes 3]`` (``EXTCTL_BENCH_EXTENSIONS``).

Goal measured (issue 14 P5): VmHWM at most 150 MiB at 1000 extensions (Flux's helm-controller is given
400 Mi for 1000 HelmReleases).

Method: a throwaway sandbox with N extensions installed and settled (``common.InstalledSandbox``), then
``extctl run --interval 3s`` on the repository; after its P-th pass summary, VmHWM (the peak resident set
size, what a memory limit is compared with) and VmRSS from ``/proc/<pid>/status``. For context, the same
figures of the one-shot commands at the same scale: ``extctl validate`` of the repository and ``extctl
version`` (the interpreter and the CLI alone), from ``/usr/bin/time``-style ``wait4`` rusage (ru_maxrss).
Nothing is asserted; the sandbox is always stopped.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from common import (
    DEFAULT_EXTENSIONS,
    Controller,
    InstalledSandbox,
    load,
    machine_line,
    result_line,
)

GOAL_MIB = 150


def status_mib(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def max_rss_mib(argv: list[str], env: dict[str, str]) -> float:
    """Peak RSS of a one-shot process (ru_maxrss of the reaped child, KiB on Linux)."""
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, _, usage = os.wait4(process.pid, 0)
    return usage.ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--extensions", type=int, default=DEFAULT_EXTENSIONS)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=10)
    args = parser.parse_args()
    print(machine_line("bench_memory", extensions=args.extensions, passes=args.passes), flush=True)
    work = Path(tempfile.mkdtemp(prefix="extctl-bench-memory-"))
    work.chmod(0o755)
    try:
        with InstalledSandbox(work, args.extensions, args.concurrency) as box:
            print(box.describe(), flush=True)
            controller = Controller(box.repo, box.env, work / "run.log", concurrency=args.concurrency)
            try:
                for index in range(1, args.passes + 1):
                    summary = controller.next_summary()
                    pid = controller.process.pid
                    print(f"pass {index}: duration_ms {summary.get('duration_ms')}, helm_calls "
                          f"{summary.get('helm_calls')}, unchanged {summary.get('unchanged')}; VmRSS "
                          f"{status_mib(pid, 'VmRSS'):.1f} MiB, VmHWM {status_mib(pid, 'VmHWM'):.1f} MiB; "
                          f"load {load()}", flush=True)
                peak, resident = status_mib(pid, "VmHWM"), status_mib(pid, "VmRSS")
            finally:
                controller.stop()
            cli = [sys.executable, "-m", "controller"]
            validate = max_rss_mib([*cli, "validate", str(box.repo)], box.env)
            version = max_rss_mib([*cli, "version"], box.env)
        print(f"\nextctl run after {args.passes} passes at {args.extensions} extensions: VmHWM {peak:.1f} MiB, "
              f"VmRSS {resident:.1f} MiB")
        print(f"for context: extctl validate of the same repository peaks at {validate:.1f} MiB, extctl version "
              f"at {version:.1f} MiB")
        result_line(f"P5 extctl run peak RSS, {args.extensions} extensions, {args.passes} passes",
                    f"VmHWM {peak:.0f} MiB (VmRSS {resident:.0f} MiB)", f"<= {GOAL_MIB} MiB", peak <= GOAL_MIB)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
