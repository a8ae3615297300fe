#!/usr/bin/env python3
"""P7: a one-file change in an N-file repository, in a warm ``extctl run``, against a pass with no change.

Run: ``.venv/bin/python bench/bench_change.py [--extensions 1000] [--rounds 5]`` (``EXTCTL_BENCH_*``).

Goal measured (issue 14 P7): the pass after the change re-parses 1 file and takes at most 1.2x the pass
with nothing changed.

Method: a throwaway sandbox with N extensions installed and settled (``common.InstalledSandbox``), then
``extctl run --interval 3s --log-level debug`` on the local-directory repository (a change to it triggers
a pass at once, through watchfiles). After its first pass, R rounds of: the next pass with nothing
changed (same source revision as the pass before), then a comment appended to one extension's file
(a new source revision whose desired state is unchanged, so the pass does no helm action and what is
measured is reading the change: the source digest, the parse, the desired state and plan), and the
pass of that revision. Figures per pass from the controller's own lines: ``duration_ms`` and
``helm_calls`` of ``reconcile.summary``, files parsed from ``manifests.loaded`` (debug). Ratio: median
change pass / median no-change pass. Nothing is asserted; the sandbox is always stopped.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from common import (
    DEFAULT_EXTENSIONS,
    DEFAULT_ROUNDS,
    Controller,
    InstalledSandbox,
    load,
    machine_line,
    print_table,
    result_line,
)


def pass_with(controller: Controller, *, same_as: str | None, changed: bool) -> dict[str, Any]:
    """The next pass whose revision is (``changed=False``) or is not (``changed=True``) ``same_as``."""
    while True:
        summary = controller.next_summary()
        if (summary.get("revision") != same_as) == changed:
            return summary


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--extensions", type=int, default=DEFAULT_EXTENSIONS)
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    parser.add_argument("--concurrency", type=int, default=10)
    args = parser.parse_args()
    print(machine_line("bench_change", extensions=args.extensions, rounds=args.rounds), flush=True)
    work = Path(tempfile.mkdtemp(prefix="extctl-bench-change-"))
    work.chmod(0o755)
    try:
        with InstalledSandbox(work, args.extensions, args.concurrency) as box:
            print(box.describe(), flush=True)
            controller = Controller(box.repo, box.env, work / "run.log", "--log-level", "debug",
                                    concurrency=args.concurrency)
            steady: list[float] = []
            changed: list[float] = []
            parsed: list[int] = []
            try:
                revision = controller.next_summary().get("revision")
                target = box.repo / "extensions" / "ext-0000.yaml"
                for r in range(1, args.rounds + 1):
                    same = pass_with(controller, same_as=revision, changed=False)
                    steady.append(float(same.get("duration_ms", 0)) / 1000)
                    loads_before = len(controller.events("manifests.loaded"))
                    target.write_text(target.read_text() + f"# touched in round {r}\n")
                    after = pass_with(controller, same_as=revision, changed=True)
                    revision = after.get("revision")
                    changed.append(float(after.get("duration_ms", 0)) / 1000)
                    loads = controller.events("manifests.loaded")[loads_before:]
                    parsed.append(sum(int(line.get("parsed", 0)) for line in loads))
                    print(f"round {r}: no-change pass {same.get('duration_ms')} ms (helm_calls "
                          f"{same.get('helm_calls')}); one-file change pass {after.get('duration_ms')} ms (helm_calls "
                          f"{after.get('helm_calls')}, unchanged {after.get('unchanged')}), files parsed "
                          f"{parsed[-1]} of {loads[-1].get('files') if loads else '?'}; load {load()}", flush=True)
            finally:
                controller.stop()
        print()
        print_table([("pass with nothing changed (duration_ms)", steady, ""),
                     ("pass after a one-file change (duration_ms)", changed, f"files parsed {parsed}")])
        ratio = statistics.median(changed) / statistics.median(steady)
        result_line(f"P7 one-file change, {args.extensions} files", f"{ratio:.2f}x the no-change pass "
                    f"({statistics.median(changed):.2f} s / {statistics.median(steady):.2f} s), files parsed "
                    f"{max(parsed)}", "1 file, <= 1.2x", ratio <= 1.2 and max(parsed) <= 1)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
