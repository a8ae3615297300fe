"""One test's world: a Git remote + a chart repository + a namespace in the sandbox, and extctl driven on it.

Owns: ``Scenario`` (run ``reconcile``/``plan`` as subprocesses, read helm releases, history and the
controller's state ConfigMap), ``BackgroundExtctl`` (a long-running ``extctl run``, its JSON lines
read from a file while it runs, stopped by SIGTERM or killed with its whole process group), and
``helm_processes`` (find the helm child working on a release through ``/proc``).
Must not: import controller internals, or sleep to synchronise (``wait_for`` polls with a deadline).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from tests.support.chart_repo import ChartRepo
from tests.support.charts import helm_bin
from tests.support.extctl import ExtctlRun, run_extctl
from tests.support.git_remote import GitRemote
from tests.support.localnet import wait_for
from tests.support.sandbox import SandboxHandle

SYSTEM_NAMESPACE = "extctl-system"


@dataclass
class Scenario:
    """One test's Git repo + chart repo + namespace, and a way to run extctl on it."""

    sandbox: SandboxHandle
    remote: GitRemote
    charts: ChartRepo
    ns: str
    cache: Path
    env_extra: dict[str, str] = field(default_factory=dict)
    runs: list[ExtctlRun] = field(default_factory=list)

    def reconcile(self, *extra: str, env: dict[str, str] | None = None) -> ExtctlRun:
        return self.extctl("reconcile", "--once", *self.source_args(), "--log-format", "json", *extra, env=env)

    def plan(self, *extra: str, env: dict[str, str] | None = None) -> ExtctlRun:
        """``extctl plan --output json``; its document is checked against schemas/output/plan.schema.json."""
        result = self.extctl("plan", *self.source_args(), "--output", "json", *extra, env=env)
        if result.stdout.lstrip().startswith("{"):
            result.document("plan")
        return result

    def extctl(self, *args: str, env: dict[str, str] | None = None) -> ExtctlRun:
        """Run any extctl command with the sandbox env; every run is kept in ``runs`` (for output scans)."""
        result = run_extctl(self.sandbox, *args, env_extra={**self.env_extra, **(env or {})})
        self.runs.append(result)
        return result

    def source_args(self) -> list[str]:
        return ["--source", self.remote.http_url, "--cache-dir", str(self.cache), "--instance", self.ns]

    def start_run(self, *extra: str, log_dir: Path, env: dict[str, str] | None = None) -> BackgroundExtctl:
        """Start ``extctl run`` on this scenario (in its own session, so it can be killed as a group)."""
        return BackgroundExtctl.start(
            self.sandbox, ["run", *self.source_args(), "--log-format", "json", "--min-interval", "1s",
                           *extra], log_dir=log_dir,
            env_extra={**self.env_extra, **(env or {})})

    def releases(self) -> dict[str, dict[str, Any]]:
        return {r["name"]: r for r in self.sandbox.helm_json("list", "-n", self.ns)}

    def metadata(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.sandbox.helm_json("get", "metadata", name, "-n", self.ns)
        return result

    def history(self, name: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.sandbox.helm_json("history", name, "-n", self.ns)
        return result

    def values(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.sandbox.helm_json("get", "values", name, "-n", self.ns) or {}
        return result

    def revisions(self) -> dict[str, int]:
        return {name: int(r["revision"]) for name, r in self.releases().items()}

    def statuses(self) -> dict[str, tuple[int, str]]:
        return {name: (int(r["revision"]), r["status"]) for name, r in self.releases().items()}

    def put_secret(self, name: str, data: dict[str, str]) -> None:
        """Create or replace Secret ``name`` in the scenario's namespace (creating the namespace if needed,
        as a user would before extctl's first pass)."""
        from kubernetes.client.exceptions import ApiException

        api = self.sandbox.core_v1()
        try:
            api.create_namespace({"metadata": {"name": self.ns}})
        except ApiException as exc:
            if exc.status != 409:
                raise
        body = {"metadata": {"name": name}, "stringData": data}
        try:
            api.create_namespaced_secret(self.ns, body)
        except ApiException as exc:
            if exc.status != 409:
                raise
            api.replace_namespaced_secret(name, self.ns, body)

    def settings_configmap(self, release: str) -> dict[str, str]:
        """The demo chart's ``<release>-settings`` ConfigMap data (it echoes the rendered values)."""
        data: dict[str, str] = self.sandbox.core_v1().read_namespaced_config_map(f"{release}-settings", self.ns).data
        return data

    def state(self) -> dict[str, Any]:
        """Per-extension records (failures, pending timers) of the controller's state ConfigMap
        ``extctl-system/extctl-state-<instance>`` (``{}`` if absent)."""
        extensions: dict[str, Any] = self.state_store().get("extensions", {})
        return extensions

    def state_store(self) -> dict[str, Any]:
        """The whole state ConfigMap: ``extensions``, ``releases`` (facts per helm revision), ``last_good_revision``."""
        from kubernetes.client.exceptions import ApiException

        try:
            config_map = self.sandbox.core_v1().read_namespaced_config_map(f"extctl-state-{self.ns}",
                                                                           SYSTEM_NAMESPACE)
        except ApiException as exc:
            if exc.status == 404:
                return {}
            raise
        data: dict[str, Any] = json.loads((config_map.data or {}).get("state.json", "{}"))
        return data


class BackgroundExtctl:
    """A running ``extctl …`` process whose stdout/stderr go to files that tests read while it runs."""

    def __init__(self, process: subprocess.Popen[bytes], stdout_path: Path, stderr_path: Path,
                 handles: tuple[IO[bytes], IO[bytes]]) -> None:
        self.process = process
        self.stdout_path = stdout_path
        self.stderr_path = stderr_path
        self._handles = handles

    @classmethod
    def start(cls, sandbox: SandboxHandle, args: list[str], *, log_dir: Path,
              env_extra: dict[str, str] | None = None) -> BackgroundExtctl:
        log_dir.mkdir(parents=True, exist_ok=True)
        stdout_path, stderr_path = log_dir / "stdout.jsonl", log_dir / "stderr.txt"
        out, err = stdout_path.open("wb"), stderr_path.open("wb")
        process = subprocess.Popen([sys.executable, "-m", "controller", *args],
                                   env=sandbox.full_env(**(env_extra or {})), stdout=out, stderr=err,
                                   start_new_session=True)
        return cls(process, stdout_path, stderr_path, (out, err))

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def result(self) -> ExtctlRun:
        return ExtctlRun(self.process.returncode if self.process.returncode is not None else -1,
                         self._complete_lines(), self.stderr)

    def _complete_lines(self) -> str:
        text = self.stdout
        return text[: text.rfind("\n") + 1]

    def events(self, event: str | None = None) -> list[dict[str, Any]]:
        found = ExtctlRun(0, self._complete_lines(), "").events
        return [e for e in found if event is None or e.get("event") == event]

    def wait_for_event(self, event: str, *, timeout: float = 60, after: int = 0, **match: Any) -> dict[str, Any]:
        """The first ``event`` line (past the first ``after`` of them) whose fields include ``match``."""

        def found() -> dict[str, Any] | None:
            if self.process.poll() is not None:
                raise AssertionError(f"extctl exited ({self.process.returncode}) while waiting for {event}:\n"
                                     f"{self.stdout}\n{self.stderr}")
            for line in self.events(event)[after:]:
                if all(line.get(k) == v for k, v in match.items()):
                    return line
            return None

        return wait_for(found, timeout=timeout, what=f"{event} {match or ''} from extctl")

    def terminate(self, timeout: float = 60) -> ExtctlRun:
        """SIGTERM, wait for a clean exit, and return what it printed."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=timeout)
        self._close()
        return self.result()

    def kill_group(self) -> None:
        """SIGKILL the process and every child in its session (helm included), like a node crash or OOM kill."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self._close()

    def _close(self) -> None:
        for handle in self._handles:
            handle.close()

    def __enter__(self) -> BackgroundExtctl:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.process.poll() is None:
            self.kill_group()
        self._close()


def helm_processes(*words: str) -> list[int]:
    """PIDs of running helm processes whose command line contains every one of ``words``."""
    binary = os.path.basename(helm_bin())
    found: list[int] = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        args = [a.decode(errors="replace") for a in argv if a]
        if args and os.path.basename(args[0]) == binary and all(w in args for w in words):
            found.append(int(proc.name))
    return found
