"""SSH Git sources: host keys come only from ``--ssh-known-hosts``; without it nothing connects.

There is no sshd on the test machines (and system packages are not installed for tests), so a real
clone with a matching and a mismatching key cannot run here. What runs instead, with the real CLI,
git and ssh: the errors (exit code, message naming the flag and ``ssh-keyscan``) and proof that no
connection was attempted, via a TCP listener on 127.0.0.1 that counts connections; and, with a known_hosts
file, the ssh process that git really starts (its ``/proc/<pid>/cmdline`` sampled while it waits for
the listener's SSH banner), which must say ``StrictHostKeyChecking=yes`` with only that file trusted.
The options themselves are checked with ``ssh -G`` in ``tests/unit/test_child_env.py``.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.extctl import run_extctl
from tests.support.localnet import LOOPBACK, wait_for
from tests.support.proctree import ChildSample, ProcessTreeSampler

KNOWN_HOST_LINE = ("[127.0.0.1]:{port} ssh-ed25519 "
                   "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n")


class Listener:
    """A TCP listener that accepts connections, counts them, and closes each once ``release`` is set."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((LOOPBACK, 0))
        self.sock.listen(8)
        self.port = int(self.sock.getsockname()[1])
        self.accepted = 0
        self.release = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self.release.wait(60)
            conn.close()

    def close(self) -> None:
        self.release.set()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
        self.sock.close()
        self._thread.join(timeout=10)


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


def _source_error(stdout: str, stderr: str) -> str:
    assert "Traceback" not in stderr
    return stdout + stderr


@pytest.mark.parametrize("scp_like", [False, True], ids=["ssh-url", "scp-like"])
def test_an_ssh_source_without_known_hosts_fails_before_connecting(
    listener: Listener, tmp_path: Path, scp_like: bool
) -> None:
    source = f"git@{LOOPBACK}:org/repo.git" if scp_like else f"ssh://git@{LOOPBACK}:{listener.port}/org/repo.git"
    result = run_extctl(None, "plan", "--offline", "--source", source, "--cache-dir", str(tmp_path / "cache"))
    assert result.returncode == 1
    output = _source_error(result.stdout, result.stderr)
    assert "needs a known_hosts file to verify the server's host key" in output
    assert "--ssh-known-hosts" in output and "EXTCTL_SSH_KNOWN_HOSTS" in output
    keyscan = f"ssh-keyscan {LOOPBACK}" if scp_like else f"ssh-keyscan -p {listener.port} {LOOPBACK}"
    assert keyscan in output and "ssh-keygen -lf known_hosts" in output
    assert listener.accepted == 0, "nothing connected"
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize(("content", "problem"), [(None, "is not a readable file"), ("", "is empty")])
def test_a_missing_or_empty_known_hosts_file_is_refused(tmp_path: Path, content: str | None, problem: str) -> None:
    hosts = tmp_path / "known_hosts"
    if content is not None:
        hosts.write_text(content)
    result = run_extctl(None, "plan", "--offline", "--source", "ssh://git@git.example.invalid/org/repo.git",
                        "--cache-dir", str(tmp_path / "cache"), "--ssh-known-hosts", str(hosts))
    assert result.returncode == 1
    assert f"--ssh-known-hosts (env EXTCTL_SSH_KNOWN_HOSTS) points to {hosts}, which {problem}" in _source_error(
        result.stdout, result.stderr)


def test_git_runs_ssh_with_strict_host_key_checking_against_the_given_file(
    listener: Listener, tmp_path: Path
) -> None:
    hosts = tmp_path / "known_hosts"
    hosts.write_text(KNOWN_HOST_LINE.format(port=listener.port))
    process = subprocess.Popen(
        [sys.executable, "-m", "controller", "plan", "--offline", "--source",
         f"ssh://git@{LOOPBACK}:{listener.port}/org/repo.git", "--cache-dir", str(tmp_path / "cache")],
        env={**_base_env(), "EXTCTL_SSH_KNOWN_HOSTS": str(hosts)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with ProcessTreeSampler(process) as sampler:

        def ssh_seen() -> ChildSample | None:
            return next((s for s in sampler.samples if s.program == "ssh"), None)

        try:
            ssh = wait_for(ssh_seen, timeout=60, what="git's ssh process")
        finally:
            listener.release.set()  # the "server" hangs up: ssh fails before any key exchange
        stdout, stderr = process.communicate(timeout=60)
    assert listener.accepted == 1
    options = [ssh.argv[i + 1] for i, arg in enumerate(ssh.argv[:-1]) if arg == "-o"]
    assert "StrictHostKeyChecking=yes" in options and f"UserKnownHostsFile={hosts}" in options
    assert "GlobalKnownHostsFile=/dev/null" in options and "BatchMode=yes" in options
    assert not [o for o in options if "accept-new" in o or o == "StrictHostKeyChecking=no"]
    assert process.returncode == 1
    output = _source_error(stdout.decode(), stderr.decode())
    assert "source-error" in output or "SourceUnreachable" in output or "extctl: error" in output
    assert "Permanently added" not in output, "no host key was ever added"


def _base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("EXTCTL_")}
