"""Start and stop a sandbox (emulator process + PostgreSQL) rooted in one directory.

Owns: ``DIR/state.json`` (what was started: pids, ports, data dirs), ``DIR/kubeconfig`` and
``DIR/env`` (shell-sourceable). ``start`` and ``stop`` are idempotent, and ``stop`` stops exactly
what ``start`` recorded (it checks the pid still runs our emulator before signalling it).
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from sandbox import postgres

STARTUP_DEADLINE_S = 30.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class SandboxState:
    emulator_pid: int
    emulator_port: int
    postgres_port: int
    postgres_dir: str


def _pid_runs_emulator(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"sandbox.server" in cmdline


def _wait_for_http(url: str, deadline_s: float) -> None:
    deadline = time.monotonic() + deadline_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback URL we built)
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError) as exc:
            last_error = exc
        time.sleep(0.05)  # polling interval while waiting for a port; bounded by the deadline
    raise RuntimeError(f"{url} did not answer within {deadline_s}s: {last_error}")


class Sandbox:
    """A sandbox rooted at ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory.resolve()
        self.state_file = self.dir / "state.json"
        self.kubeconfig = self.dir / "kubeconfig"
        self.env_file = self.dir / "env"

    def load_state(self) -> SandboxState | None:
        if not self.state_file.exists():
            return None
        return SandboxState(**json.loads(self.state_file.read_text()))

    def is_running(self) -> bool:
        state = self.load_state()
        return (
            state is not None
            and _pid_runs_emulator(state.emulator_pid)
            and postgres.is_running(Path(state.postgres_dir))
        )

    def start(self) -> SandboxState:
        """Start both servers unless they already run; write kubeconfig and env."""
        if self.is_running():
            state = self.load_state()
            assert state is not None
            return state
        self.stop()
        self.dir.mkdir(parents=True, exist_ok=True)
        # The emulator keeps its objects in memory, so a restarted sandbox starts empty: Helm's release
        # records from an earlier run would describe objects that no longer exist. Start both fresh.
        shutil.rmtree(self.dir / "postgres", ignore_errors=True)
        pg_dir = postgres.choose_data_dir(self.dir)
        postgres.init(pg_dir)
        pg_port = free_port()
        postgres.start(pg_dir, pg_port)

        emu_port = free_port()
        log = (self.dir / "emulator.log").open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "sandbox.server", "--port", str(emu_port)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            cwd=str(Path(__file__).resolve().parent.parent),
        )
        log.close()
        state = SandboxState(process.pid, emu_port, pg_port, str(pg_dir))
        self.state_file.write_text(json.dumps(asdict(state)))
        _wait_for_http(f"http://127.0.0.1:{emu_port}/version", STARTUP_DEADLINE_S)
        self._write_kubeconfig(emu_port)
        self._write_env()
        return state

    def stop(self) -> None:
        """Stop what ``start`` recorded; safe to call when nothing runs."""
        state = self.load_state()
        if state is None:
            return
        if _pid_runs_emulator(state.emulator_pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(state.emulator_pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while _pid_runs_emulator(state.emulator_pid) and time.monotonic() < deadline:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(state.emulator_pid, os.WNOHANG)
                time.sleep(0.05)  # polling for process exit, bounded by the deadline
            if _pid_runs_emulator(state.emulator_pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(state.emulator_pid, signal.SIGKILL)
        postgres.stop(Path(state.postgres_dir))
        self.state_file.unlink(missing_ok=True)

    def env(self) -> dict[str, str]:
        """The variables a client needs to use this sandbox (what ``DIR/env`` exports)."""
        state = self.load_state()
        if state is None:
            raise RuntimeError(f"sandbox in {self.dir} is not running")
        helm_home = self.dir / "helm"
        return {
            "KUBECONFIG": str(self.kubeconfig),
            "HELM_DRIVER": "sql",
            "HELM_DRIVER_SQL_CONNECTION_STRING": postgres.connection_string(state.postgres_port),
            "HELM_CONFIG_HOME": str(helm_home / "config"),
            "HELM_CACHE_HOME": str(helm_home / "cache"),
            "HELM_DATA_HOME": str(helm_home / "data"),
            "EXTCTL_SANDBOX": "1",
            "EXTCTL_HELM_SERVER_SIDE": "false",
            "EXTCTL_HELM_OPENAPI_VALIDATION": "false",
        }

    def _write_kubeconfig(self, port: int) -> None:
        self.kubeconfig.write_text(
            "apiVersion: v1\n"
            "kind: Config\n"
            "clusters:\n"
            "- name: sandbox\n"
            "  cluster:\n"
            f"    server: http://127.0.0.1:{port}\n"
            "contexts:\n"
            "- name: sandbox\n"
            "  context:\n"
            "    cluster: sandbox\n"
            "    user: sandbox\n"
            "    namespace: default\n"
            "current-context: sandbox\n"
            "users:\n"
            "- name: sandbox\n"
            "  user: {}\n"
        )
        self.kubeconfig.chmod(0o600)

    def _write_env(self) -> None:
        lines = [f"export {key}={shlex.quote(value)}" for key, value in self.env().items()]
        self.env_file.write_text("\n".join(lines) + "\n")
