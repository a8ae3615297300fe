#!/usr/bin/env python3
"""P3: a push to Git → the first helm action started, with a webhook and with ``--interval 60s`` polling.

Run: ``.venv/bin/python bench/bench_push_latency.py [--pushes 20] [--poll-pushes 20] [--extensions 10]``.

Goal (issue 13): with a webhook, the median of 20 pushes is at most 1 s.

Method: a fresh sandbox (Kubernetes API emulator + PostgreSQL), a Git repository served by the real
``git http-backend`` over smart HTTP on 127.0.0.1 (``tests/support/git_remote.py``) holding sample-repo's
chart repository and N extensions of ``contoso-certs``, and one ``extctl run --interval 60s --http-addr
127.0.0.1:0 --webhook-secret-file …`` (``--wait false``: readiness does not change when an action starts).
After its first pass installed everything, each push commits a new ``logLevel`` for one extension and
``git push``es it; **t0** is when ``git push`` returned. In webhook mode the script then POSTs what GitHub
sends (``X-GitHub-Event: push``, ``X-Hub-Signature-256``) to ``/hooks/github``; in polling mode it sends
nothing. **Started** is the first moment a ``helm upgrade`` child of the extctl process exists: the script
reads ``/proc/<extctl>/task/*/children`` and the children's command lines every millisecond in webhook
mode, every 10 ms in polling mode (so "started" is helm's exec, before helm does any work). Before the next push the
script waits for that pass's ``reconcile.summary`` line, so every push meets an idle controller.
Webhook pushes run first, then polling pushes, in the same run against the same process. A polling
push is made at a random moment (uniform over one interval) after the previous pass ended, as real pushes
land anywhere in the poll cycle; it then waits for the next pass of the 60 s timer (±10 % jitter), so
about half an interval is expected. Median
and p95 (nearest rank) per mode. Nothing is asserted; the RESULT line says whether the goal was met.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import math
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from common import NAMESPACES, ROOT, TYPE, bench_size, extension, machine_line, result_line, sandbox_env

sys.path.insert(0, str(ROOT))

from sandbox.core import Sandbox
from tests.support.git_remote import GitRemote

SECRET = "bench-webhook-secret"  # noqa: S105 - a throwaway secret of a throwaway controller
GOAL_S = 1.0
PROBE_S = 0.001  # webhook mode: 1 ms resolution
POLL_PROBE_S = 0.01  # polling mode waits tens of seconds: 10 ms is resolution enough, at a tenth of the CPU


class Controller:
    """One ``extctl run`` process; its JSON log lines read from a file while it runs."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._out: IO[bytes] = log.open("wb")
        self.process = subprocess.Popen(argv, env=env, stdout=self._out, stderr=subprocess.STDOUT,
                                        start_new_session=True)

    def events(self, name: str) -> list[dict[str, Any]]:
        text = self.log.read_text(errors="replace")
        return [json.loads(line) for line in text[: text.rfind("\n") + 1].splitlines()
                if line.startswith("{") and f'"{name}"' in line and json.loads(line).get("event") == name]

    def wait_for(self, name: str, deadline_s: float, **match: Any) -> dict[str, Any]:
        deadline = time.monotonic() + deadline_s
        pause = threading.Event()
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"extctl exited ({self.process.returncode}):\n{self.log.read_text()[-3000:]}")
            for event in self.events(name):
                if all(event.get(k) == v for k, v in match.items()):
                    return event
            pause.wait(0.05)  # polling a log file, bounded by the deadline
        raise SystemExit(f"no {name} {match} within {deadline_s:g}s:\n{self.log.read_text()[-3000:]}")

    def helm_upgrade_started(self) -> bool:
        """A ``helm upgrade`` child of this process exists now."""
        pid = self.process.pid
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            return False
        for task in tasks:
            try:
                children = Path(f"/proc/{pid}/task/{task}/children").read_text().split()
            except OSError:
                continue
            for child in children:
                try:
                    argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
                except OSError:
                    continue
                if argv and argv[0].endswith(b"helm") and b"upgrade" in argv:
                    return True
        return False

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._out.close()


def github_push(url: str, sha: str) -> int:
    body = json.dumps({"ref": "refs/heads/main", "after": sha}).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(url, data=body, method="POST", headers={  # noqa: S310 - loopback URL
        "Content-Type": "application/json", "X-GitHub-Event": "push", "X-Hub-Signature-256": signature})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback URL we built
        return int(response.status)


@dataclass(frozen=True)
class Mode:
    hook: str | None  # the webhook URL; None: polling
    deadline_s: float
    probe_s: float
    phase_s: float = 0.0  # polling: wait a random time up to this before the push


def measure(controller: Controller, remote: GitRemote, mode: Mode, index: int) -> float:
    """Seconds from a pushed commit to its first helm upgrade started."""
    if mode.phase_s:
        # Polling: the previous pass just ended, so a push now would wait a whole interval. A push lands at
        # a random moment of the poll cycle instead (uniform), as pushes do; the cycle takes as long.
        threading.Event().wait(random.uniform(0, mode.phase_s))  # noqa: S311 - a random phase, not crypto
    target = index % 3  # a few different extensions, each change an upgrade
    sha = remote.commit({f"extensions/ext-{target:04d}.yaml": extension(target, f"level-{index}")},
                        message=f"push {index}")
    t0 = time.perf_counter()
    if mode.hook is not None and github_push(mode.hook, sha) != 202:
        raise SystemExit("the webhook was not accepted")
    deadline = t0 + mode.deadline_s
    pause = threading.Event()
    while not controller.helm_upgrade_started():
        if time.perf_counter() > deadline:
            raise SystemExit(f"no helm upgrade within {mode.deadline_s:g}s of push {index}")
        pause.wait(mode.probe_s)  # sampling /proc, bounded by the deadline
    started = time.perf_counter() - t0
    controller.wait_for("reconcile.summary", 120, revision=f"main@sha1:{sha}")
    return started


def parse_seconds(text: str) -> float:
    """``60s``, ``5m``, ``90`` → seconds (the forms ``--interval`` takes that this script uses)."""
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    for unit in ("ms", "s", "m", "h"):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * units[unit]
    return float(text)


def nearest_rank(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def describe(values: list[float]) -> str:
    return (f"median {statistics.median(values):.3f} s, p95 {nearest_rank(values, 0.95):.3f} s, "
            f"min {min(values):.3f} s, max {max(values):.3f} s (n={len(values)})")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pushes", type=int, default=bench_size("EXTCTL_BENCH_PUSHES", 20),
                        help="webhook pushes (default 20, or $EXTCTL_BENCH_PUSHES)")
    parser.add_argument("--poll-pushes", type=int, default=bench_size("EXTCTL_BENCH_POLL_PUSHES", 20),
                        help="polling pushes (default 20, or $EXTCTL_BENCH_POLL_PUSHES; 0: skip)")
    parser.add_argument("--extensions", type=int, default=10)
    parser.add_argument("--interval", default=os.environ.get("EXTCTL_BENCH_INTERVAL") or "60s",
                        help="extctl run --interval (default 60s, or $EXTCTL_BENCH_INTERVAL)")
    args = parser.parse_args()
    print(machine_line("bench_push_latency", pushes=args.pushes, poll_pushes=args.poll_pushes,
                       extensions=args.extensions, interval=args.interval), flush=True)
    work = Path(tempfile.mkdtemp(prefix="extctl-bench-push-"))
    work.chmod(0o755)
    box = Sandbox(work / "sandbox")
    remote = GitRemote(work / "git")
    controller: Controller | None = None
    try:
        box.start()
        shutil.copytree(ROOT / "sample-repo" / "charts", work / "seed" / "charts")
        (work / "seed" / "type.yaml").write_text(TYPE)
        for i in range(args.extensions):
            (work / "seed" / "extensions").mkdir(parents=True, exist_ok=True)
            (work / "seed" / "extensions" / f"ext-{i:04d}.yaml").write_text(extension(i))
        remote.copy_tree(work / "seed", message="seed")
        secret = work / "webhook-secret"
        secret.write_text(SECRET)
        env = sandbox_env(box.env(), work / "cache")
        controller = Controller(
            [sys.executable, "-m", "controller", "run", "--source", remote.http_url, "--interval", args.interval,
             "--http-addr", "127.0.0.1:0", "--webhook-secret-file", str(secret), "--log-format", "json",
             "--wait", "false", "--cache-dir", str(work / "cache")], env, work / "extctl.jsonl")
        port = controller.wait_for("http.listening", 60)["port"]
        first = controller.wait_for("reconcile.summary", 300)
        print(f"# first pass: {first.get('installed')} installs in {first.get('duration_ms')} ms "
              f"({NAMESPACES} namespaces)", flush=True)
        hook = f"http://127.0.0.1:{port}/hooks/github"
        webhook = [measure(controller, remote, Mode(hook, 30, PROBE_S), i) for i in range(args.pushes)]
        print(f"webhook:          {describe(webhook)}", flush=True)
        print("  each: " + " ".join(f"{v:.3f}" for v in webhook), flush=True)
        interval = parse_seconds(args.interval)
        polling = [measure(controller, remote, Mode(None, 3 * interval + 30, POLL_PROBE_S, interval), args.pushes + i)
                   for i in range(args.poll_pushes)]
        if polling:
            print(f"polling {args.interval}: {describe(polling)}", flush=True)
            print("  each: " + " ".join(f"{v:.1f}" for v in polling), flush=True)
        median = statistics.median(webhook)
        result_line("P3 push → first helm action (webhook)",
                    f"median {median:.3f} s, p95 {nearest_rank(webhook, 0.95):.3f} s"
                    + (f" (polling {args.interval}: median {statistics.median(polling):.1f} s)" if polling else ""),
                    f"median ≤ {GOAL_S:g} s", median <= GOAL_S)
    finally:
        if controller is not None:
            controller.stop()
        remote.close()
        box.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
