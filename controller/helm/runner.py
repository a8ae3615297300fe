"""Exec the helm binary: argument list only, hard timeout (terminate, then kill), typed errors.

Owns: process lifecycle of every helm invocation and the mapping of helm's stderr to the error
classes of ``controller.errors``. A cancelled invocation terminates its helm process before the
cancellation propagates. Must not: decide or record anything, or let secrets reach messages
(stderr is passed through ``controller.logs.scrub_text``: URL userinfo and known secrets removed).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from controller.errors import (
    HelmBinaryMissing,
    HelmChartUnavailable,
    HelmClusterUnreachable,
    HelmError,
    HelmNotFound,
    HelmOperationInProgress,
    HelmRenderError,
    HelmTimeout,
)
from controller.logs import scrub_text

# Order matters: the first matching pattern decides the error class.
_STDERR_MAP: tuple[tuple[re.Pattern[str], type[HelmError]], ...] = (
    (re.compile(r"another operation \(install/upgrade/rollback\) is in progress", re.I), HelmOperationInProgress),
    (re.compile(r"context deadline exceeded|timed out waiting|timeout waiting", re.I), HelmTimeout),
    # Before "cluster unreachable": a chart download fails with the same "dial tcp … connection refused".
    (re.compile(r"is not a valid chart repository or cannot be reached|failed to (?:fetch|download) |"
                r"chart \S+ version \S+ not found in repository|failed to do request: ", re.I), HelmChartUnavailable),
    (re.compile(r"kubernetes cluster unreachable|connection refused|no such host|dial tcp|i/o timeout|"
                r"the server could not find the requested resource \(get version\)", re.I), HelmClusterUnreachable),
    (re.compile(r"parse error|template: |yaml: |execution error|unable to build kubernetes objects|"
                r"error validating|error converting YAML", re.I), HelmRenderError),
    (re.compile(r"release: not found|release not loaded|has no deployed releases|not found", re.I), HelmNotFound),
)


def classify(stderr: str) -> type[HelmError]:
    for pattern, error_class in _STDERR_MAP:
        if pattern.search(stderr):
            return error_class
    return HelmError


def _exit_description(returncode: int) -> str:
    """``helm exited with 2``, or ``helm was killed by SIGKILL`` (OOM killer, a human, a dying node)."""
    if returncode < 0:
        try:
            return f"helm was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"helm was killed by signal {-returncode}"
    return f"helm exited with {returncode}"


def _env_bool(name: str) -> bool | None:
    value = os.environ.get(name)
    if value is None or value == "":
        return None
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class HelmSettings:
    """How helm is run. ``server_side``: True/False, or None for helm's "auto"."""

    binary: str = "helm"
    timeout_s: float = 300.0
    deadline_grace_s: float = 30.0
    kill_after_s: float = 5.0
    server_side: bool | None = None
    openapi_validation: bool = True
    kube_context: str | None = None
    history_max: int = 10
    chart_cache_dir: str | None = None  # pulled chart archives (install/upgrade work while a repository is down)
    extra_env: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, **overrides: object) -> HelmSettings:
        """Defaults from ``HELM_BIN``, ``EXTCTL_HELM_SERVER_SIDE``, ``EXTCTL_HELM_OPENAPI_VALIDATION``."""
        values: dict[str, object] = {"binary": os.environ.get("HELM_BIN") or shutil.which("helm") or "helm"}
        server_side = _env_bool("EXTCTL_HELM_SERVER_SIDE")
        if server_side is not None:
            values["server_side"] = server_side
        validation = _env_bool("EXTCTL_HELM_OPENAPI_VALIDATION")
        if validation is not None:
            values["openapi_validation"] = validation
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]

    @property
    def timeout_flag(self) -> str:
        return f"{int(self.timeout_s)}s"


@dataclass(frozen=True)
class HelmResult:
    stdout: str
    stderr: str
    returncode: int


class HelmRunner:
    """Runs ``helm`` with an argument list and a hard process deadline."""

    def __init__(self, settings: HelmSettings) -> None:
        self.settings = settings
        self.calls = 0  # helm processes started, for the summary line and tests

    def _argv(self, args: Sequence[str]) -> list[str]:
        argv = [self.settings.binary, *args]
        if self.settings.kube_context:
            argv += ["--kube-context", self.settings.kube_context]
        return argv

    async def run(self, args: Sequence[str], *, stdin: bytes | None = None,
                  deadline_s: float | None = None, check: bool = True) -> HelmResult:
        """Run helm; raise a typed ``HelmError`` on a non-zero exit when ``check`` is true."""
        env = dict(os.environ)
        env.update(self.settings.extra_env)
        deadline = deadline_s if deadline_s is not None else self.settings.timeout_s + self.settings.deadline_grace_s
        self.calls += 1
        try:
            process = await asyncio.create_subprocess_exec(
                *self._argv(args),
                stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
            )
        except FileNotFoundError as exc:
            raise HelmBinaryMissing(
                f"helm binary not found at {self.settings.binary!r}",
                hint="install helm v4 (make tools) or set HELM_BIN",
            ) from exc
        try:
            stdout, stderr = await asyncio.wait_for(process.communicate(stdin), timeout=deadline)
        except TimeoutError as exc:
            await self._stop(process)
            raise HelmTimeout(
                f"helm {args[0] if args else ''} exceeded the hard deadline of {deadline:.0f}s and was stopped",
                hint="raise --helm-timeout, or check why the release takes so long",
            ) from exc
        except asyncio.CancelledError:
            await self._stop(process)
            raise
        result = HelmResult(stdout.decode(errors="replace"), stderr.decode(errors="replace"), process.returncode or 0)
        if check and result.returncode != 0:
            message = scrub_text(result.stderr.strip() or _exit_description(result.returncode))
            message = message.removeprefix("Error: ")
            raise classify(result.stderr)(f"helm {args[0] if args else ''}: {message}")
        return result

    async def _stop(self, process: asyncio.subprocess.Process) -> None:
        """Terminate, wait ``kill_after_s``, then kill. Never leaves a helm process behind."""
        if process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            await asyncio.wait_for(asyncio.shield(process.wait()), timeout=self.settings.kill_after_s)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
