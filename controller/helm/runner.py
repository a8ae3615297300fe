"""Exec the helm binary: argument list only, allow-listed environment, hard timeout, typed errors.

Owns: process lifecycle of every helm invocation; a failed one raises the typed error that
``controller.helm.errors.helm_error`` builds from its stderr (scrubbed of URL userinfo and known secrets).
A cancelled invocation terminates its helm process before the cancellation propagates.
Owns too: ``helm_child_env``, the environment every helm process gets (pure; see its docstring): helm's own
settings and what it needs to reach the cluster, never an ``EXTCTL_*`` variable. Helm reads its SQL
storage driver's connection string only from ``HELM_DRIVER_SQL_CONNECTION_STRING``, so that one may hold
a database password: its password is registered as a secret (redacted from logs and errors), and the
documented alternative is a password-free connection string plus ``PGPASSFILE`` (a mounted 0600 file).
``HelmSettings.cluster_access=False`` (previews: ``helm template`` only) runs helm with no way to find a
cluster: ``KUBECONFIG`` is the empty ``os.devnull``, ``HELM_KUBE*`` and the in-cluster
``KUBERNETES_SERVICE_HOST``/``_PORT`` are removed, and ``--kube-context`` is never added.
Must not: decide or record anything, classify helm messages itself, or let secrets reach messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from controller.errors import HelmBinaryMissing, HelmTimeout
from controller.helm.errors import helm_error
from controller.logs import register_secret

_HELM_INHERITED = frozenset({
    "PATH", "HOME", "TMPDIR", "LANG",
    "KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT",  # kubeconfig, or in-cluster config
    "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "no_proxy", "all_proxy",
    "SSL_CERT_FILE", "SSL_CERT_DIR",
    # helm's SQL storage driver (lib/pq): a password file and TLS files instead of secrets in variables.
    "PGPASSFILE", "PGSSLMODE", "PGSSLROOTCERT", "PGSSLCERT", "PGSSLKEY",
})
_LOCALE = re.compile(r"^LC_[A-Z_]+$")
EXTRA_NAMES_VAR = "EXTCTL_HELM_PASS_ENV"
SQL_CONNECTION_VAR = "HELM_DRIVER_SQL_CONNECTION_STRING"


def helm_child_env(environ: Mapping[str, str], pass_env: Iterable[str] = ()) -> dict[str, str]:
    """The environment of a helm process: from ``environ`` only ``PATH``, ``HOME``, ``TMPDIR``, ``LANG``,
    ``LC_*``, ``KUBECONFIG``, ``KUBERNETES_SERVICE_HOST``/``PORT``, every ``HELM_*`` (helm's own settings:
    storage driver, config/cache/data dirs, registry and repository config), ``XDG_{CACHE,CONFIG,DATA}_HOME``,
    proxy variables, ``SSL_CERT_FILE``/``SSL_CERT_DIR``, the ``PGPASSFILE``/``PGSSL*`` files of the SQL
    driver, and the names listed in ``pass_env`` (``EXTCTL_HELM_PASS_ENV``, e.g. ``AWS_PROFILE`` for a
    kubeconfig exec plugin). Never a variable whose name starts with ``EXTCTL_``."""
    extra = set(pass_env)

    def allowed(name: str) -> bool:
        if name.startswith("EXTCTL_"):
            return False
        return (name in _HELM_INHERITED or name.startswith("HELM_") or name in extra
                or _LOCALE.match(name) is not None)

    return {name: value for name, value in environ.items() if allowed(name)}


def parse_pass_env(value: str | None) -> tuple[str, ...]:
    """``EXTCTL_HELM_PASS_ENV``: comma- or space-separated variable names (``EXTCTL_*`` names are ignored)."""
    return tuple(n for n in re.split(r"[,\s]+", value or "") if n and not n.startswith("EXTCTL_"))


def register_sql_password(connection_string: str | None) -> None:
    """Redact the password of helm's SQL connection string (URL or ``key=value`` form) from logs and errors."""
    if not connection_string:
        return
    if "://" in connection_string:
        with contextlib.suppress(ValueError):
            password = urlsplit(connection_string).password
            if password:
                register_secret(password)
                register_secret(unquote(password))
        return
    for match in re.finditer(r"(?:^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", connection_string):
        register_secret(match.group(1).strip("'"))


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
    kubeconfig: str | None = None  # --kubeconfig (default: helm's own, $KUBECONFIG or ~/.kube/config)
    history_max: int = 10
    chart_cache_dir: str | None = None  # pulled chart archives (install/upgrade work while a repository is down)
    extra_env: Mapping[str, str] = field(default_factory=dict)  # set by extctl itself, on top of the allow-list
    pass_env: tuple[str, ...] = ()  # more variable names helm may inherit (EXTCTL_HELM_PASS_ENV)
    cluster_access: bool = True  # False: helm gets no kubeconfig, no HELM_KUBE*, no in-cluster address

    @classmethod
    def from_env(cls, **overrides: object) -> HelmSettings:
        """Defaults from ``HELM_BIN``, ``EXTCTL_HELM_SERVER_SIDE``, ``EXTCTL_HELM_OPENAPI_VALIDATION``,
        ``EXTCTL_HELM_PASS_ENV``."""
        values: dict[str, object] = {"binary": os.environ.get("HELM_BIN") or shutil.which("helm") or "helm",
                                     "pass_env": parse_pass_env(os.environ.get(EXTRA_NAMES_VAR))}
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
        register_sql_password(os.environ.get(SQL_CONNECTION_VAR))
        register_sql_password(settings.extra_env.get(SQL_CONNECTION_VAR))

    def _argv(self, args: Sequence[str]) -> list[str]:
        argv = [self.settings.binary, *args]
        if self.settings.kubeconfig and self.settings.cluster_access:
            argv += ["--kubeconfig", self.settings.kubeconfig]
        if self.settings.kube_context and self.settings.cluster_access:
            argv += ["--kube-context", self.settings.kube_context]
        return argv

    async def run(self, args: Sequence[str], *, stdin: bytes | None = None,
                  deadline_s: float | None = None, check: bool = True) -> HelmResult:
        """Run helm; raise a typed ``HelmError`` on a non-zero exit when ``check`` is true."""
        env = helm_child_env(os.environ, self.settings.pass_env)
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
