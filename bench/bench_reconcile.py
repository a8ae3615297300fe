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
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sandbox.core import Sandbox  # noqa: E402 - after sys.path setup

TYPE = """apiVersion: extctl.dev/v1alpha1
kind: ExtensionType
metadata:
  name: bench.certs
spec:
  chart:
    repository: charts
    name: contoso-certs
  defaultReleaseNamespace: bench
"""


def extension(i: int, level: str) -> str:
    return (f"apiVersion: extctl.dev/v1alpha1\nkind: Extension\nmetadata:\n  name: ext-{i:04d}\nspec:\n"
            f"  extensionType: bench.certs\n  scope:\n    namespace:\n      targetNamespace: bench-{i % 10}\n"
            f"  configurationSettings:\n    logLevel: {level}\n")


def reconcile(env: dict[str, str], repo: Path, concurrency: int) -> tuple[float, dict[str, object]]:
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "controller", "reconcile", "--once", "--source", str(repo), "--log-format", "json",
         "--concurrency", str(concurrency)], env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    summary = next(json.loads(line) for line in reversed(result.stdout.splitlines())
                   if '"reconcile.summary"' in line)
    return elapsed, summary


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
        repo = work / "repo"
        shutil.copytree(ROOT / "sample-repo" / "charts", repo / "charts")
        (repo / "type.yaml").write_text(TYPE)
        (repo / "extensions").mkdir()
        for i in range(args.extensions):
            (repo / "extensions" / f"ext-{i:04d}.yaml").write_text(extension(i, "info"))
        env = dict(os.environ)
        env.update(box.env())
        env["PATH"] = f"{ROOT / '.tools' / 'bin'}{os.pathsep}{env['PATH']}"
        env.setdefault("HELM_BIN", str(ROOT / ".tools" / "bin" / "helm"))
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
