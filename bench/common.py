"""What every bench script shares: timed subprocesses, the synthetic repository, the sandbox environment.

Owns: ``run_timed`` (a subprocess in its own process group, wall time by ``time.perf_counter``, the whole
group killed on timeout), the repository writers (N extensions of sample-repo's ``contoso-certs`` chart
across 10 namespaces; a local chart repository index of V versions), the environment a child needs to
reach a sandbox, reading summaries out of JSON log lines, the emulator's access log, the median/best
table every script prints, and ``peak_rss`` (VmHWM from /proc). Nothing here asserts a speed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
HELM = str(ROOT / ".tools" / "bin" / "helm")
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
NAMESPACES = 10
# helm's defaults, as issue 14 measures: no readiness wait (extctl waits by default since issue 11). The
# sandbox's workload simulator also leaves some concurrent ``--wait=watcher`` installs waiting for ever.
EXTCTL_FLAGS = ("--wait", "false")


def extension(i: int, level: str = "info") -> str:
    return (f"apiVersion: extctl.dev/v1alpha1\nkind: Extension\nmetadata:\n  name: ext-{i:04d}\nspec:\n"
            f"  extensionType: bench.certs\n  scope:\n    namespace:\n      targetNamespace: bench-{i % NAMESPACES}\n"
            f"  configurationSettings:\n    logLevel: {level}\n")


def write_repo(repo: Path, extensions: int) -> Path:
    """A local-directory source: sample-repo's chart repository, one ExtensionType, N Extension files."""
    shutil.copytree(ROOT / "sample-repo" / "charts", repo / "charts")
    (repo / "type.yaml").write_text(TYPE)
    (repo / "extensions").mkdir()
    for i in range(extensions):
        (repo / "extensions" / f"ext-{i:04d}.yaml").write_text(extension(i))
    return repo


def write_index(repo: Path, versions: int, chart: str = "contoso-certs") -> None:
    """Replace ``repo/charts/index.yaml`` by one listing ``versions`` versions of ``chart`` (helm's layout)."""
    lines = ["apiVersion: v1", "entries:", f"  {chart}:"]
    for i in range(versions):
        version = f"{1 + i // 100}.{(i // 10) % 10}.{i % 10}"
        lines += ["  - apiVersion: v2", f"    created: '2026-01-01T00:00:{i % 60:02d}Z'",
                  f"    digest: {i:064x}", f"    name: {chart}", "    type: application",
                  "    urls:", f"    - {chart}-{version}.tgz", f"    version: {version}"]
    lines.append("generated: '2026-01-01T00:00:00Z'")
    (repo / "charts" / "index.yaml").write_text("\n".join(lines) + "\n")


def load() -> str:
    """The 1, 5 and 15 minute load averages."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def machine_line(name: str, **settings: object) -> str:
    described = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in settings.items())
    return (f"# {name}: {described}; {os.cpu_count()} cores; load {load()}; python {sys.version.split()[0]}; "
            f"commit {commit()}")


def commit() -> str:
    result = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, check=False)
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, check=False).stdout.strip()
    return result.stdout.strip() + ("+uncommitted" if dirty else "")


def run_timed(argv: Sequence[str], env: dict[str, str] | None = None, timeout: float | None = None,
              cwd: Path = ROOT) -> tuple[float, subprocess.CompletedProcess[str] | None]:
    """Run ``argv`` in its own process group; on timeout the whole group (our child and its helm
    children) is killed by the child's pid. Returns (seconds, CompletedProcess or None on timeout)."""
    start = time.perf_counter()
    process = subprocess.Popen(list(argv), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True, cwd=str(cwd))
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGTERM)
        process.communicate()
        wait_for_group(process.pid)
        return time.perf_counter() - start, None
    elapsed = time.perf_counter() - start
    return elapsed, subprocess.CompletedProcess(list(argv), process.returncode, stdout, stderr)


def wait_for_group(pgid: int, deadline_s: float = 30.0) -> None:
    """Wait until every process of group ``pgid`` exited (helm children outlive their Python parent)."""
    deadline = time.monotonic() + deadline_s
    while group_alive(pgid):
        if time.monotonic() > deadline:
            os.killpg(pgid, signal.SIGKILL)
        time.sleep(0.2)  # polling for the process group to exit, bounded by the deadline above


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def sandbox_env(box_env: dict[str, str], cache_dir: Path) -> dict[str, str]:
    """The environment of an extctl or helm child talking to a sandbox."""
    env = dict(os.environ)
    env.update(box_env)
    env["PATH"] = f"{ROOT / '.tools' / 'bin'}{os.pathsep}{env['PATH']}"
    env["HELM_BIN"] = HELM
    env["EXTCTL_CACHE_DIR"] = str(cache_dir)
    return env


def summaries(text: str) -> list[dict[str, Any]]:
    """Every ``reconcile.summary`` log line of ``text`` (JSON log format)."""
    return [json.loads(line) for line in text.splitlines() if '"reconcile.summary"' in line]


def summary_of(result: subprocess.CompletedProcess[str] | None) -> dict[str, Any]:
    found = summaries(result.stdout) if result is not None else []
    if found:
        return found[-1]
    detail = f"exit {result.returncode}: {result.stderr.strip()[-400:]}" if result is not None else "timed out"
    return {"error": f"no reconcile.summary line ({detail})"}


def reconcile_argv(repo: Path, concurrency: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "controller", "reconcile", "--once", "--source", str(repo), "--log-format", "json",
            "--concurrency", str(concurrency), *EXTCTL_FLAGS, *extra]


def helm_list_all(env: dict[str, str]) -> tuple[float, int]:
    """The baseline of P1: one ``helm list -A`` of every release."""
    elapsed, result = run_timed([HELM, "list", "-A", "--max", "0", "-o", "json"], env)
    return elapsed, len(json.loads(result.stdout or "[]")) if result is not None else 0


def peak_rss_mib(pid: int) -> float:
    """VmHWM (peak resident set size) of a running process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def stats(values: Iterable[float]) -> tuple[float, float]:
    found = list(values)
    return statistics.median(found), min(found)


def print_table(rows: Sequence[tuple[str, Sequence[float], str]], unit: str = "s") -> None:
    """``| measurement | median | best | note`` for each row of (label, samples, note)."""
    print(f"| {'measurement':<52} | {'median':>10} | {'best':>10} | note")
    print(f"|{'-' * 54}|{'-' * 12}|{'-' * 12}|------")
    for label, values, note in rows:
        if not values:
            print(f"| {label:<52} | {'-':>10} | {'-':>10} | {note}")
            continue
        median, best = stats(values)
        print(f"| {label:<52} | {median:8.3f} {unit} | {best:8.3f} {unit} | {note}")


def result_line(figure: str, value: str, goal: str, met: bool | None) -> None:
    """The one line ``make bench`` collects into its table: ``RESULT <figure> | <value> | <goal> | <verdict>``."""
    verdict = "n/a" if met is None else ("met" if met else "MISSED")
    print(f"RESULT {figure} | {value} | {goal} | {verdict}", flush=True)


def bench_size(name: str, default: int) -> int:
    """A size from the environment (``EXTCTL_BENCH_EXTENSIONS=100 make bench``), else ``default``."""
    return int(os.environ.get(name) or default)


DEFAULT_EXTENSIONS = bench_size("EXTCTL_BENCH_EXTENSIONS", 1000)
DEFAULT_ROUNDS = bench_size("EXTCTL_BENCH_ROUNDS", 5)


class InstalledSandbox:
    """A throwaway sandbox (emulator + PostgreSQL) with N extensions installed by one ``reconcile --once``
    and settled by a second one (the first steady-state pass reads what the install pass did not record).
    ``with InstalledSandbox(work, n, concurrency) as box:``; the sandbox is always stopped."""

    def __init__(self, work: Path, extensions: int, concurrency: int = 10, *, access_log: bool = False) -> None:
        self.work, self.extensions, self.concurrency = work, extensions, concurrency
        self.access_log = access_log
        self.repo = work / "repo"
        self.env: dict[str, str] = {}
        self.install_s = self.settle_s = 0.0
        self.install_summary: dict[str, Any] = {}
        self.settle_summary: dict[str, Any] = {}
        from sandbox.core import Sandbox  # noqa: PLC0415 - only the scripts that need a cluster import it

        self.box = Sandbox(work / "sandbox")
        self.port = 0

    def __enter__(self) -> InstalledSandbox:
        if self.access_log:
            os.environ["SANDBOX_ACCESS_LOG"] = "1"  # the emulator inherits it: one line per API request
        try:
            self.port = self.box.start().emulator_port
            write_repo(self.repo, self.extensions)
            self.env = sandbox_env(self.box.env(), self.work / "cache")
            self.install_s, result = run_timed(reconcile_argv(self.repo, self.concurrency), self.env)
            self.install_summary = summary_of(result)
            self.settle_s, result = run_timed(reconcile_argv(self.repo, self.concurrency), self.env)
            self.settle_summary = summary_of(result)
        except BaseException:
            self.box.stop()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self.box.stop()

    def describe(self) -> str:
        keys = ("installed", "unchanged", "failed", "helm_calls", "duration_ms")
        return (f"install pass {self.install_s:.1f} s {({k: self.install_summary.get(k) for k in keys})}; "
                f"settle pass {self.settle_s:.1f} s {({k: self.settle_summary.get(k) for k in keys})}")


class Controller:
    """A running ``extctl run`` on a local directory (JSON logs to a file): its summaries, pid and peak RSS.

    ``next_summary`` polls the log file with a deadline for the next ``reconcile.summary`` line."""

    def __init__(self, repo: Path, env: dict[str, str], log: Path, *extra: str, interval: str = "3s",
                 concurrency: int = 10) -> None:
        self.log = log
        self.handle = log.open("w")
        argv = [sys.executable, "-m", "controller", "run", "--source", str(repo), "--log-format", "json",
                "--interval", interval, "--min-interval", "1s",
                "--concurrency", str(concurrency), *EXTCTL_FLAGS, *extra]
        self.process = subprocess.Popen(argv, env=env, stdout=self.handle, stderr=subprocess.STDOUT, cwd=str(ROOT),
                                        start_new_session=True)
        self.seen = 0

    def lines(self) -> list[dict[str, Any]]:
        found = []
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    found.append(json.loads(line))
                except ValueError:
                    continue  # a line being written
        return found

    def next_summary(self, deadline_s: float = 600.0) -> dict[str, Any]:
        """The next ``reconcile.summary`` after the ones already returned (raises on timeout or exit)."""
        deadline = time.monotonic() + deadline_s
        while True:
            found = [line for line in self.lines() if line.get("event") == "reconcile.summary"]
            if len(found) > self.seen:
                self.seen += 1
                return found[self.seen - 1]
            if self.process.poll() is not None:
                raise SystemExit(f"extctl run exited ({self.process.returncode}); see {self.log}")
            if time.monotonic() > deadline:
                raise SystemExit(f"no pass summary within {deadline_s:.0f} s; see {self.log}")
            time.sleep(0.05)  # polling the controller's log for its next pass, bounded by the deadline above

    def events(self, name: str) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line.get("event") == name]

    def peak_rss_mib(self) -> float:
        return peak_rss_mib(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.handle.close()
