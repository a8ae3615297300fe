#!/usr/bin/env python3
"""P1: a steady-state pass at scale, of a FRESH ``extctl reconcile --once`` process and of a WARM ``extctl run``.

Run: ``.venv/bin/python bench/bench_fresh_pass.py [--extensions 1000] [--rounds 5] [--warm-rounds 5]
[--concurrency 10]`` (defaults from ``EXTCTL_BENCH_EXTENSIONS`` / ``EXTCTL_BENCH_ROUNDS``).

Goals measured (issue 9 item 6, issue 14 P1): at N extensions, a fresh process's steady-state pass makes at
most 2 helm calls and at most 2 Kubernetes API reads, and takes at most 3x one ``helm list -A`` of those
releases; a warm controller's pass makes 1 helm call and takes at most 1.5x one ``helm list -A``.

Method: start a throwaway sandbox (emulator + PostgreSQL, 127.0.0.1 only), write a local-directory
repository of N extensions over sample-repo's contoso-certs chart (as ``bench_reconcile.py``), install
them with one ``extctl reconcile --once`` (if that exceeds ``--install-budget`` seconds, the pass is
stopped, the unfinished releases are uninstalled, and N becomes the number deployed), then run one
"settle" pass (the first steady-state pass after the installs, which fills the state store's release
facts), then R interleaved rounds of:

* ``python -c pass`` and ``python -m controller version`` (start-up, for context);
* in-process ``load_directory`` of the repository (manifest parse + validation, for context);
* one ``helm list -A --max 0 -o json`` (the baseline: one listing of all releases);
* the paged sequence extctl ran before commit ``4e82fc5``, for comparison (``helm list --all-namespaces
  --max 256 --offset K -o json`` until a short page);
* a fresh ``extctl reconcile --once`` on the unchanged repository: wall time around the subprocess,
  its summary's ``helm_calls`` and ``duration_ms``, and the Kubernetes API requests it made, counted from
  the emulator's access log (``<sandbox>/emulator.log``, one ``METHOD path -> status`` line per request;
  only the timed subprocess talks to the emulator while the log is read, so the lines it adds are its own).

Then the warm figure: ``extctl run --interval 3s`` on the same repository; after its first pass (a fresh
process), W rounds of: wait for its next pass summary (``duration_ms``, ``helm_calls``: the pass inside a
running process, no start-up), then one ``helm list -A`` right after it (between two passes, so the two
never overlap). Ratio: median ``duration_ms`` / median ``helm list -A`` of those rounds.

Wall times are ``time.perf_counter`` around the subprocess. Prints median and best of each and the
ratios; nothing is asserted, and the sandbox is always stopped.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path

from common import (
    DEFAULT_EXTENSIONS,
    DEFAULT_ROUNDS,
    HELM,
    Controller,
    helm_list_all,
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

from controller.manifests import load_directory
from sandbox.core import Sandbox

LIST_PAGE_SIZE = 256  # helm list's default page, as extctl paged before one unpaged call
CONFIGMAP_LIMIT = 1024 * 1024  # the API server refuses a ConfigMap whose data exceeds 1 MiB
READ_METHODS = {"GET"}
HELM_PROBE = "/version"  # every helm process asks the API server's version once (measured: helm list alone)


class AccessLog:
    """The lines the emulator appended to its access log since ``mark``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def mark(self) -> None:
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def since_mark(self) -> list[tuple[str, str, str]]:
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            text = handle.read().decode(errors="replace")
        requests = []
        for line in text.splitlines():
            method, _, rest = line.partition(" ")
            path, arrow, status = rest.rpartition(" -> ")
            if arrow and method.isupper():
                requests.append((method, path, status))
        return requests


def helm_list_paged(env: dict[str, str]) -> tuple[float, int, int]:
    """The sequence ``HelmClient.list_releases`` runs: pages of 256 until a short page."""
    total, rows, calls, offset = 0.0, 0, 0, 0
    while True:
        elapsed, result = run_timed([HELM, "list", "--all-namespaces", "--max", str(LIST_PAGE_SIZE), "--offset",
                                     str(offset), "-o", "json"], env)
        total += elapsed
        calls += 1
        page = json.loads(result.stdout or "[]") if result is not None else []
        rows += len(page)
        if len(page) < LIST_PAGE_SIZE:
            return total, rows, calls
        offset += LIST_PAGE_SIZE


def stats(values: list[float]) -> tuple[float, float]:
    return statistics.median(values), min(values)


def describe(requests: list[tuple[str, str, str]]) -> str:
    counted = Counter(f"{m} {p.split('?')[0]} -> {s}" for m, p, s in requests)
    return "; ".join(f"{n}x {k}" for k, n in counted.most_common(6)) or "none"


def settle_to_deployed(env: dict[str, str], repo: Path) -> int:
    """After a stopped install pass: uninstall what is not deployed, drop those extensions; returns N."""
    _, result = run_timed([HELM, "list", "-A", "--max", "0", "-o", "json"], env)
    deployed = set()
    for row in json.loads(result.stdout or "[]") if result is not None else []:
        if row.get("status") == "deployed":
            deployed.add(row["name"])
        else:
            run_timed([HELM, "uninstall", row["name"], "-n", row["namespace"], "--no-hooks"], env)
    for path in sorted((repo / "extensions").glob("*.yaml")):
        if path.stem not in deployed:
            path.unlink()
    return len(deployed)


def state_configmap(port: int) -> tuple[int, int]:
    """Size of the state ConfigMap's ``state.json`` and how many release facts it holds (read outside timings)."""
    url = f"http://127.0.0.1:{port}/api/v1/namespaces/extctl-system/configmaps/extctl-state-default"
    with urllib.request.urlopen(url, timeout=30) as response:
        body = json.load(response)
    raw = (body.get("data") or {}).get("state.json", "{}")
    return len(raw.encode()), len(json.loads(raw).get("releases") or {})


def warm(repo: Path, env: dict[str, str], work: Path, n: int, args: argparse.Namespace) -> None:
    """P1 warm: passes of a running ``extctl run`` against ``helm list -A`` run right after each of them."""
    controller = Controller(repo, env, work / "run.log", concurrency=args.concurrency)
    try:
        first = controller.next_summary()
        print(f"extctl run: first pass (fresh process) duration_ms {first.get('duration_ms')}, helm_calls "
              f"{first.get('helm_calls')}", flush=True)
        passes: list[float] = []
        lists: list[float] = []
        calls: list[int] = []
        for r in range(1, args.warm_rounds + 1):
            summary = controller.next_summary()
            listed, rows = helm_list_all(env)
            passes.append(float(summary.get("duration_ms", 0)) / 1000)
            calls.append(int(summary.get("helm_calls", -1)))
            lists.append(listed)
            print(f"warm round {r}: pass duration_ms {summary.get('duration_ms')}, helm_calls "
                  f"{summary.get('helm_calls')}, unchanged {summary.get('unchanged')}; helm list -A {listed:.2f} s "
                  f"({rows} rows); load {load()}", flush=True)
        rss = controller.peak_rss_mib()
    finally:
        controller.stop()
    print_table([("helm list -A (baseline, between passes)", lists, ""),
                 ("warm extctl run pass, duration_ms", passes, f"helm calls {calls}")])
    ratio = statistics.median(passes) / statistics.median(lists)
    print(f"ratio warm pass / helm list -A (median): {ratio:.2f}x (goal <= 1.5x); best pass / best list "
          f"{min(passes) / min(lists):.2f}x; controller VmHWM {rss:.0f} MiB")
    result_line(f"P1 warm pass, {n} extensions", f"{ratio:.2f}x helm list -A ({statistics.median(passes):.2f} s / "
                f"{statistics.median(lists):.2f} s), helm calls {max(calls)}", "<= 1.5x, 1 helm call",
                ratio <= 1.5 and max(calls) <= 1)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--extensions", type=int, default=DEFAULT_EXTENSIONS)
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    parser.add_argument("--warm-rounds", type=int, default=DEFAULT_ROUNDS)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--install-budget", type=float, default=900.0,
                        help="seconds the install pass may take before it is stopped and N reduced")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="extctl-bench-fresh-"))
    work.chmod(0o755)
    os.environ["SANDBOX_ACCESS_LOG"] = "1"  # the emulator inherits it: one line per API request
    box = Sandbox(work / "sandbox")
    print(machine_line("bench_fresh_pass", extensions=args.extensions, rounds=args.rounds,
                       warm_rounds=args.warm_rounds, concurrency=args.concurrency), flush=True)
    try:
        state = box.start()
        log = AccessLog(box.dir / "emulator.log")
        repo = write_repo(work / "repo", args.extensions)
        env = sandbox_env(box.env(), work / "cache")
        n = args.extensions

        # 1. Install.
        elapsed, result = run_timed(reconcile_argv(repo, args.concurrency), env, timeout=args.install_budget)
        if result is None:
            n = settle_to_deployed(env, repo)
            print(f"install pass: stopped after {elapsed:.0f} s (budget {args.install_budget:.0f} s) - installs are "
                  f"too slow for {args.extensions} here; continuing with N = {n} (the releases deployed by then)",
                  flush=True)
        else:
            s = summary_of(result)
            print(f"install pass: {elapsed:.1f} s wall; summary {json.dumps(s, sort_keys=True)}; load {load()}",
                  flush=True)

        # 2. Settle: the first steady-state pass after the installs reads what the install pass did not see.
        log.mark()
        elapsed, result = run_timed(reconcile_argv(repo, args.concurrency), env)
        s = summary_of(result)
        api = log.since_mark()
        print(f"settle pass (first steady-state pass after installs): {elapsed:.1f} s wall, "
              f"helm_calls {s.get('helm_calls')}, duration_ms {s.get('duration_ms')}, unchanged {s.get('unchanged')}, "
              f"API requests {len(api)} ({describe(api)})", flush=True)
        size, facts = state_configmap(state.emulator_port)
        print(f"state ConfigMap: state.json {size} bytes ({size / CONFIGMAP_LIMIT:.0%} of the 1 MiB ConfigMap limit), "
              f"{facts} release facts ({size / max(facts, 1):.0f} bytes each)", flush=True)

        # 3. Interleaved rounds.
        m: dict[str, list[float]] = {k: [] for k in (
            "py_pass", "py_version", "parse", "list_all", "list_paged", "fresh_wall", "fresh_ms")}
        calls: list[int] = []
        reads: list[int] = []
        helm_reads: list[int] = []
        writes: list[int] = []
        details: list[str] = []
        list_info: tuple[int, int, int] = (0, 0, 0)
        for r in range(1, args.rounds + 1):
            m["py_pass"].append(run_timed([sys.executable, "-c", "pass"], env)[0])
            m["py_version"].append(run_timed([sys.executable, "-m", "controller", "version"], env)[0])
            start = time.perf_counter()
            load_directory(repo)
            m["parse"].append(time.perf_counter() - start)
            log.mark()
            t_all, rows_all = helm_list_all(env)
            t_paged, rows_paged, pages = helm_list_paged(env)
            helm_api = log.since_mark()
            m["list_all"].append(t_all)
            m["list_paged"].append(t_paged)
            list_info = (rows_all, rows_paged, pages)
            log.mark()
            elapsed, result = run_timed(reconcile_argv(repo, args.concurrency), env)
            api = log.since_mark()
            s = summary_of(result)
            m["fresh_wall"].append(elapsed)
            m["fresh_ms"].append(float(s.get("duration_ms", 0)) / 1000)
            calls.append(int(s.get("helm_calls", -1)))
            reads.append(sum(1 for method, path, _ in api if method in READ_METHODS and path != HELM_PROBE))
            helm_reads.append(sum(1 for method, path, _ in api if method in READ_METHODS and path == HELM_PROBE))
            writes.append(sum(1 for method, _, _ in api if method not in READ_METHODS))
            details.append(describe(api))
            print(f"round {r}: helm list -A {t_all:.2f} s ({rows_all} rows), paged {t_paged:.2f} s ({pages} calls, "
                  f"{rows_paged} rows), API requests of these {1 + pages} helm processes: {describe(helm_api)}; "
                  f"fresh pass {elapsed:.2f} s wall, "
                  f"duration_ms {s.get('duration_ms')}, helm_calls {s.get('helm_calls')}, "
                  f"unchanged {s.get('unchanged')}, API {describe(api)}; load {load()}", flush=True)

        # 4. Table.
        rows = [
            ("python -c pass", m["py_pass"], ""),
            ("python -m controller version", m["py_version"], "start-up + CLI imports"),
            (f"load_directory of {n} manifests (in-process)", m["parse"], "parse + validate, inside every fresh pass"),
            ("helm list -A --max 0 -o json (baseline)", m["list_all"], f"1 call, {list_info[0]} rows"),
            (f"helm list paged by {LIST_PAGE_SIZE} (extctl before 4e82fc5)", m["list_paged"],
             f"{list_info[2]} calls, {list_info[1]} rows"),
            ("fresh reconcile --once, wall", m["fresh_wall"], "subprocess, start-up included"),
            ("fresh reconcile --once, duration_ms", m["fresh_ms"], "the pass itself, from its summary"),
        ]
        print(f"\n# N = {n} extensions, {args.rounds} rounds, concurrency {args.concurrency}, load at end {load()}")
        print(f"| {'measurement':<48} | {'median':>9} | {'best':>9} | note")
        print(f"|{'-' * 50}|{'-' * 11}|{'-' * 11}|------")
        for label, values, note in rows:
            median, best = stats(values)
            print(f"| {label:<48} | {median:7.2f} s | {best:7.2f} s | {note}")
        base, paged = statistics.median(m["list_all"]), statistics.median(m["list_paged"])
        wall, inner = statistics.median(m["fresh_wall"]), statistics.median(m["fresh_ms"])
        print(f"\nhelm calls per fresh pass: {calls} (goal <= 2)")
        print(f"API reads per fresh pass by extctl itself: {reads} (goal <= 2); by its helm processes "
              f"(GET {HELM_PROBE}, one per helm process): {helm_reads}; writes: {writes}")
        print(f"API requests of the first fresh pass: {details[0] if details else 'none'}")
        print(f"ratio fresh wall / helm list -A (median): {wall / base:.1f}x (goal <= 3x); "
              f"duration_ms / helm list -A: {inner / base:.1f}x")
        print(f"ratio fresh wall / paged list (median): {wall / paged:.1f}x; paged / single list: {paged / base:.1f}x")
        result_line(f"P1 fresh pass, {n} extensions", f"{wall / base:.1f}x helm list -A (wall {wall:.2f} s / "
                    f"{base:.2f} s), helm calls {max(calls)}", "<= 3x, <= 2 helm calls",
                    wall / base <= 3 and max(calls) <= 2)
        if args.warm_rounds:
            warm(repo, env, work, n, args)
    finally:
        box.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
