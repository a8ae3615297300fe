#!/usr/bin/env python3
"""Benchmark of whole reconcile passes against the sandbox (real helm, emulator, PostgreSQL).

Run: ``.venv/bin/python bench/bench_reconcile.py [--extensions N] [--concurrency C]``. It starts a
throwaway sandbox, writes a local-directory repository of N extensions over sample-repo's
contoso-certs chart, then times with ``time.perf_counter``: (1) the first ``extctl reconcile --once``
(N installs), (2) a second one (steady state, N no-ops), (3) a settings change to one extension. It
prints wall times, the summary counts and the helm calls per pass. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from common import extension, reconcile_argv, run_timed, sandbox_env, summary_of, write_repo

from sandbox.core import Sandbox


def reconcile(env: dict[str, str], repo: Path, concurrency: int) -> tuple[float, dict[str, object]]:
    start = time.perf_counter()
    _, result = run_timed(reconcile_argv(repo, concurrency), env)
    return time.perf_counter() - start, summary_of(result)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--extensions", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="extctl-bench-"))
    work.chmod(0o755)
    box = Sandbox(work / "sandbox")
    try:
        box.start()
        repo = write_repo(work / "repo", args.extensions)
        env = sandbox_env(box.env(), work / "cache")
        print(f"# {args.extensions} extensions, concurrency {args.concurrency}")
        for label, change in (("first pass (installs)", None), ("steady state (no-ops)", None),
                              ("one settings change", 0)):
            if change is not None:
                (repo / "extensions" / f"ext-{change:04d}.yaml").write_text(extension(change, "debug"))
            elapsed, summary = reconcile(env, repo, args.concurrency)
            counts = {k: summary.get(k) for k in ("installed", "upgraded", "unchanged", "failed")}
            print(f"{label:<24} {elapsed:7.2f} s  helm calls {summary.get('helm_calls', '?')!s:>4}  {counts}")
    finally:
        box.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
