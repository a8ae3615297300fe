#!/usr/bin/env python3
"""P4: ``extctl preview`` of a one-extension change in an N-extension repository against one ``helm template``.

Run: ``.venv/bin/python bench/bench_preview.py [--extensions 1000] [--rounds 5]`` (``EXTCTL_BENCH_*``).

Goal measured (issue 14 P4): the preview takes at most 1 s plus two renders (base and head of the
changed extension), a render being one ``helm template`` of that chart measured in the same run.

Method: a local Git repository (``git init``, real commits) holding the synthetic repository of N
extensions (``common.write_repo``, with its local chart repository) on ``main``, and a branch ``change``
that changes one extension's settings. R interleaved rounds of: one ``helm template`` of the chart the
extension uses (its archive, a values file with its settings; the baseline), then ``extctl preview
--source REPO --base main --head change -o json`` with a fresh cache directory (wall time around the
process: start-up, reading both revisions from Git, parsing both sides, the catalog, the desired states,
the plan and the renders), its exit status (2: changes) and the ``helm_template_calls`` of its
``preview.summary`` line; then the same preview again in that cache directory (**warm**: a developer's
second preview, or a CI runner that restores its cache; its ``files_parsed`` is printed). The goal is
judged on the cold figure. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from common import (
    DEFAULT_EXTENSIONS,
    DEFAULT_ROUNDS,
    HELM,
    ROOT,
    extension,
    load,
    machine_line,
    print_table,
    result_line,
    run_timed,
    write_repo,
)

CHART = "contoso-certs-1.1.0.tgz"  # what the stable train resolves to (sample-repo/charts)


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=bench", "-c", "user.email=bench@example.invalid",
                    *args], check=True, capture_output=True)


def preview(argv: list[str], env: dict[str, str]) -> tuple[float, dict[str, Any], int]:
    """Wall time, the ``preview.summary`` line and the number of changes of one preview (exit 2 expected)."""
    elapsed, result = run_timed(argv, env)
    if result is None or result.returncode != 2:
        raise SystemExit(f"preview: exit {result.returncode if result else 'timeout'} (2 expected): "
                         f"{result.stderr[-400:] if result else ''}")
    summary = next((json.loads(line) for line in result.stderr.splitlines() if '"preview.summary"' in line), {})
    return elapsed, summary, len(json.loads(result.stdout).get("changes", []))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--extensions", type=int, default=DEFAULT_EXTENSIONS)
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    args = parser.parse_args()
    print(machine_line("bench_preview", extensions=args.extensions, rounds=args.rounds), flush=True)
    work = Path(tempfile.mkdtemp(prefix="extctl-bench-preview-"))
    try:
        repo = write_repo(work / "repo", args.extensions)
        git(repo, "init", "-q", "-b", "main")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "1000 extensions")
        git(repo, "checkout", "-q", "-b", "change")
        (repo / "extensions" / "ext-0007.yaml").write_text(extension(7, "debug"))
        git(repo, "commit", "-q", "-am", "one settings change")
        git(repo, "checkout", "-q", "main")
        values = work / "values.yaml"
        values.write_text("logLevel: debug\n")
        template = [HELM, "template", "ext-0007", str(ROOT / "sample-repo" / "charts" / CHART), "-n", "bench-7",
                    "-f", str(values)]
        env = dict(os.environ, HELM_BIN=HELM, PATH=f"{Path(HELM).parent}{os.pathsep}{os.environ['PATH']}")
        renders: list[float] = []
        previews: list[float] = []
        warm: list[float] = []
        calls: list[int] = []
        parsed: list[int] = []
        for r in range(1, args.rounds + 1):
            rendered, result = run_timed(template)
            if result is None or result.returncode != 0:
                raise SystemExit(f"helm template failed: {result.stderr[-300:] if result else 'timeout'}")
            renders.append(rendered)
            cache = work / f"cache-{r}"
            argv = [sys.executable, "-m", "controller", "preview", "--source", str(repo), "--base", "main",
                    "--head", "change", "-o", "json", "--log-format", "json", "--cache-dir", str(cache)]
            elapsed, summary, changes = preview(argv, env)
            calls.append(int(summary.get("helm_template_calls", -1)))
            previews.append(elapsed)
            again, summary, _ = preview(argv, env)
            warm.append(again)
            parsed.append(int(summary.get("files_parsed", -1)))
            print(f"round {r}: helm template {rendered:.2f} s; extctl preview {elapsed:.2f} s, {changes} change(s), "
                  f"helm template calls {calls[-1]}; warm {again:.2f} s, {parsed[-1]} files parsed; load {load()}",
                  flush=True)
        print()
        print_table([("helm template of the chart (baseline)", renders, ""),
                     (f"extctl preview, 1 change in {args.extensions} extensions", previews, f"renders {calls}"),
                     ("the same preview again, warm cache directory", warm, f"files parsed {parsed}")])
        render, cold = statistics.median(renders), statistics.median(previews)
        budget = 1.0 + 2 * render
        result_line(f"P4 preview of 1 change in {args.extensions} extensions", f"{cold:.2f} s cold (1 s + 2 renders "
                    f"= {budget:.2f} s; {max(calls)} renders), {statistics.median(warm):.2f} s warm",
                    "<= 1 s + 2 renders", cold <= budget)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
