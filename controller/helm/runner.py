"""Exec the helm binary: argument list only, hard timeout (terminate, then kill), typed errors.

Owns: process lifecycle of every helm invocation; a failed one raises the typed error that
``controller.helm.errors.helm_error`` builds from its stderr (scrubbed of URL userinfo and known secrets).
A cancelled invocation terminates its helm process before the cancellation propagates.
``HelmSettings.cluster_access=False`` (previews: ``helm template`` only) runs helm with no way to find a
cluster: ``KUBECONFIG`` is the empty ``os.devnull``, ``HELM_KUBE*`` and the in-cluster
``KUBERNETES_SERVICE_HOST``/``_PORT`` are removed, and ``--kube-context`` is never added.
Must not: decide or record anything, classify helm messages itself, or let secrets reach messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from controller.errors import HelmBinaryMissing, HelmTimeout
from controller.helm.errors import helm_error


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
    cluster_access: bool = True  # False: helm gets no kubeconfig, no HELM_KUBE*, no in-cluster address

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


def without_cluster_access(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` with nothing that leads helm (client-go) to a cluster: no ``HELM_KUBE*``, no in-cluster
    service address, and ``KUBECONFIG`` set to the empty ``os.devnull`` so ``~/.kube/config`` is not read."""
    cleaned = {name: value for name, value in env.items()
               if not name.startswith(("HELM_KUBE", "KUBERNETES_SERVICE_"))}
    cleaned["KUBECONFIG"] = os.devnull
    return cleaned


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
        if self.settings.kube_context and self.settings.cluster_access:
            argv += ["--kube-context", self.settings.kube_context]
        return argv

    async def run(self, args: Sequence[str], *, stdin: bytes | None = None,
                  deadline_s: float | None = None, check: bool = True) -> HelmResult:
        """Run helm; raise a typed ``HelmError`` on a non-zero exit when ``check`` is true."""
        env = dict(os.environ)
        env.update(self.settings.extra_env)
        if not self.settings.cluster_access:
            env = without_cluster_access(env)
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
        except OSError as exc:  # not executable, a directory, not a binary for this machine
            raise HelmBinaryMissing(
                f"cannot run the helm binary at {self.settings.binary!r}: {exc.strerror or type(exc).__name__}",
                hint="point HELM_BIN at an executable helm v4 binary (make tools installs one)",
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
            raise helm_error(args, result.stderr, result.returncode)
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
