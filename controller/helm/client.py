"""Helm actions as typed calls: list, metadata, history, install, upgrade, rollback, uninstall, template.

Owns: building helm argument lists (apply-mode flags, labels, ``--reset-values``, chart locators, and per
release ``--timeout``, readiness ``--wait=watcher --wait-for-jobs`` and ``--take-ownership``),
passing values through a 0600 file in a private 0700 directory that is always removed, so values
(protected settings included) never appear on a command line, and handing helm only local chart
archives: a remote ``ChartLocator`` goes through the injected ``ChartFetcher`` first (extctl downloads
and verifies it into the chart cache), so helm never receives a repository URL, a username or a
password on its argv and never contacts a chart repository itself.
helm's JSON output is read by ``parse_json_output`` only (``HelmOutputInvalid`` when it is not JSON of the
expected shape).
Must not: decide which action to take, retry, or record status.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from controller.errors import HelmError, HelmOutputInvalid, InternalError
from controller.helm.runner import HelmResult, HelmRunner

JsonObject = dict[str, Any]
_SHAPES: dict[type[Any], str] = {dict: "a JSON object", list: "a JSON list of objects"}


def parse_json_output(result: HelmResult, command: str, shape: type[Any], *, empty: Any = None) -> Any:
    """helm's stdout as ``shape`` (``dict``, or ``list`` of objects); the only place helm's JSON is parsed.

    Empty output gives ``empty`` when one is given (``helm list`` prints nothing for no releases in some
    versions). Anything else that is not what was asked for raises ``HelmOutputInvalid`` naming the
    command and the expected shape; the output itself is never quoted (it may hold values or secrets)."""
    expected = _SHAPES[shape]
    text = result.stdout.strip()
    if not text and empty is not None:
        return empty

    def invalid(problem: str) -> HelmOutputInvalid:
        return HelmOutputInvalid(
            f"helm {command} printed {problem} instead of {expected} ({len(result.stdout)} characters on stdout)",
            hint="run the same helm command with -o json by hand; check HELM_BIN points at the official helm v4",
        )

    try:
        data = json.loads(text)
    except ValueError as exc:  # json.JSONDecodeError, and UnicodeDecodeError for odd surrogates
        position = f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        detail = exc.msg if isinstance(exc, json.JSONDecodeError) else type(exc).__name__
        raise invalid(f"text that is not JSON: {detail}{position}") from exc
    except RecursionError as exc:
        raise invalid("JSON nested too deeply to read") from exc
    if data is None and empty is not None:
        return empty
    if not isinstance(data, shape):
        raise invalid(f"JSON {_json_type(data)}")
    if isinstance(data, list):
        for index, item in enumerate(data):
            if not isinstance(item, dict):
                raise invalid(f"a JSON list whose item {index} is {_json_type(item)}")
    return data


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number",
             float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


@dataclass(frozen=True)
class ChartLocator:
    """A chart: a local ``.tgz`` path (``ref``), or a remote chart (``ref`` is its name in ``repository``,
    with the index ``urls`` and ``digest`` when known) that a ``ChartFetcher`` must download first.
    There is no field for credentials: helm never receives one."""

    ref: str
    version: str
    repository: str | None = None  # http(s):// or oci:// for a remote chart; None for a local archive
    urls: tuple[str, ...] = ()
    digest: str | None = None  # sha256 of the archive, from the repository index, when known

    @property
    def remote(self) -> bool:
        """A chart that must be downloaded (by extctl, never by helm) before helm may use it."""
        return self.repository is not None

    def args(self) -> list[str]:
        """helm's chart arguments: a local archive path only."""
        if self.remote:
            raise InternalError(f"chart {self.ref} {self.version} was not downloaded before running helm")
        return [self.ref, "--version", self.version]


class ChartFetcher(Protocol):
    """Turns a remote ``ChartLocator`` into a local archive (``controller.apply.ChartDownloads``)."""

    async def __call__(self, chart: ChartLocator) -> ChartLocator: ...


@dataclass(frozen=True)
class ReleaseRequest:
    """Everything helm needs to install or upgrade one release."""

    name: str
    namespace: str
    chart: ChartLocator
    values: Mapping[str, Any] = field(repr=False)
    labels: Mapping[str, str] = field(default_factory=dict)
    wait: bool = False  # --wait=watcher --wait-for-jobs: succeed only once every resource is ready (kstatus)
    timeout_s: float | None = None  # --timeout for this release (None: HelmSettings.timeout_s)
    take_ownership: bool = False  # --take-ownership: adopt existing objects that lack helm's annotations


@contextlib.contextmanager
def values_file(values: Mapping[str, Any]) -> Iterator[Path]:
    """Write values to a 0600 file inside a fresh 0700 directory; remove both on exit, whatever happens."""
    directory = Path(tempfile.mkdtemp(prefix="extctl-values-"))
    try:
        path = directory / "values.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(values, handle)
        yield path
    finally:
        shutil.rmtree(directory, ignore_errors=True)


class HelmClient:
    """Typed helm actions over one ``HelmRunner``."""

    def __init__(self, runner: HelmRunner, *, charts: ChartFetcher | None = None) -> None:
        self.runner = runner
        self.settings = runner.settings
        self.charts = charts

    def _apply_flags(self, *, validation: bool = True) -> list[str]:
        flags: list[str] = []
        if self.settings.server_side is not None:
            flags.append(f"--server-side={'true' if self.settings.server_side else 'false'}")
        if validation and not self.settings.openapi_validation:
            flags.append("--disable-openapi-validation")
        return flags

    @staticmethod
    def _labels(labels: Mapping[str, str]) -> list[str]:
        if not labels:
            return []
        return ["--labels", ",".join(f"{k}={v}" for k, v in sorted(labels.items()))]

    async def list_releases(self) -> list[dict[str, Any]]:
        """Every release in every namespace and status, in one call.

        ``--max 0`` lifts helm's default page of 256: helm reads every release from its storage on each
        call and slices afterwards (for every driver), so one unpaged call costs what one page costs."""
        result = await self.runner.run(["list", "--all-namespaces", "--max", "0", "-o", "json"])
        releases: list[JsonObject] = parse_json_output(result, "list", list, empty=[])
        return releases

    async def get_metadata(self, name: str, namespace: str) -> dict[str, Any]:
        result = await self.runner.run(["get", "metadata", name, "-n", namespace, "-o", "json"])
        data: JsonObject = parse_json_output(result, "get metadata", dict)
        return data

    async def history(self, name: str, namespace: str) -> list[dict[str, Any]]:
        result = await self.runner.run(["history", name, "-n", namespace, "--max", "50", "-o", "json"])
        data: list[JsonObject] = parse_json_output(result, "history", list, empty=[])
        return data

    async def get_manifest(self, name: str, namespace: str) -> str:
        """The rendered objects of the release's current revision (multi-document YAML, hooks excluded)."""
        result = await self.runner.run(["get", "manifest", name, "-n", namespace])
        return result.stdout

    async def local_chart(self, chart: ChartLocator) -> ChartLocator:
        """``chart`` as a local archive: remote charts go through the ``ChartFetcher`` (extctl downloads
        and verifies them into the chart cache); helm is only ever handed a local path."""
        if not chart.remote:
            return chart
        if self.charts is None:
            raise InternalError(f"chart {chart.ref} {chart.version} is remote and no chart downloader is configured")
        local = await self.charts(chart)
        if local.remote:
            raise InternalError(f"the chart downloader returned a remote chart for {chart.ref} {chart.version}")
        return local

    def _timeout_s(self, request: ReleaseRequest) -> int:
        """The request's own timeout, else ``--helm-timeout``: whole seconds, at least one."""
        return max(1, round(self.settings.timeout_s if request.timeout_s is None else request.timeout_s))

    def _release_flags(self, request: ReleaseRequest) -> list[str]:
        """``--timeout``, readiness (``--wait=watcher --wait-for-jobs``) and ``--take-ownership`` of one request."""
        flags = ["--timeout", f"{self._timeout_s(request)}s"]
        if request.wait:
            flags += ["--wait=watcher", "--wait-for-jobs"]
        if request.take_ownership:
            flags.append("--take-ownership")
        return flags

    def deadline_s(self, request: ReleaseRequest) -> float:
        """The hard process deadline of an install/upgrade: its own ``--timeout`` plus the runner's grace."""
        return self._timeout_s(request) + self.settings.deadline_grace_s

    def install_args(self, request: ReleaseRequest, chart: ChartLocator, values: Path) -> list[str]:
        """``helm install``'s argv (``chart`` must be local: ``ChartLocator.args`` refuses a remote one)."""
        return ["install", request.name, *chart.args(), "-n", request.namespace,
                "-f", str(values), *self._release_flags(request),
                *self._apply_flags(), *self._labels(request.labels)]

    def upgrade_args(self, request: ReleaseRequest, chart: ChartLocator, values: Path) -> list[str]:
        """``helm upgrade``'s argv, with ``--reset-values``: the values file is the whole truth."""
        return ["upgrade", request.name, *chart.args(), "-n", request.namespace,
                "-f", str(values), "--reset-values", *self._release_flags(request),
                "--history-max", str(self.settings.history_max),
                *self._apply_flags(), *self._labels(request.labels)]

    @staticmethod
    def template_args(request: ReleaseRequest, chart: ChartLocator, values: Path,
                      extra_args: Sequence[str] = ()) -> list[str]:
        """``helm template``'s argv."""
        return ["template", request.name, *chart.args(), "-n", request.namespace, "-f", str(values), *extra_args]

    async def install(self, request: ReleaseRequest) -> None:
        chart = await self.local_chart(request.chart)
        with values_file(request.values) as path:
            await self.runner.run(self.install_args(request, chart, path), deadline_s=self.deadline_s(request))

    async def upgrade(self, request: ReleaseRequest) -> None:
        """Upgrade with ``--reset-values``: the values file is the whole truth, never merged with old values."""
        chart = await self.local_chart(request.chart)
        with values_file(request.values) as path:
            await self.runner.run(self.upgrade_args(request, chart, path), deadline_s=self.deadline_s(request))

    async def rollback(self, name: str, namespace: str, revision: int | None = None) -> None:
        argv = ["rollback", name]
        if revision is not None:
            argv.append(str(revision))
        await self.runner.run([*argv, "-n", namespace, "--timeout", self.settings.timeout_flag,
                               "--history-max", str(self.settings.history_max),
                               *self._apply_flags(validation=False)])

    async def uninstall(self, name: str, namespace: str) -> None:
        await self.runner.run(["uninstall", name, "-n", namespace, "--timeout", self.settings.timeout_flag])

    async def template(self, request: ReleaseRequest, *, extra_args: Sequence[str] = ()) -> str:
        """Render the chart as ``helm install`` would, without a cluster."""
        chart = await self.local_chart(request.chart)
        with values_file(request.values) as path:
            result = await self.runner.run(self.template_args(request, chart, path, extra_args))
        return result.stdout


def is_not_found(error: HelmError) -> bool:
    return error.reason == "ReleaseNotFound"
