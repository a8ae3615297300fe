"""Helm actions as typed calls: list, metadata, history, install, upgrade, rollback, uninstall, template.

Owns: building helm argument lists (apply-mode flags, labels, ``--reset-values``, chart locators),
passing values through a 0600 file in a private 0700 directory that is always removed, so values
(protected settings included) never appear on a command line, and the chart archive cache: a chart
from a repository or registry is pulled once per (repository, chart, version, digest) and installed
from the local archive, so a settings change still applies while the repository is down.
helm's JSON output is read by ``parse_json_output`` only (``HelmOutputInvalid`` when it is not JSON of the
expected shape).
Must not: decide which action to take, retry, or record status.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.errors import HelmError, HelmOutputInvalid
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
    """Where helm gets the chart: a local ``.tgz`` path, ``oci://…`` reference, or ``name`` + ``repo_url``."""

    ref: str
    version: str
    repo_url: str | None = None
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    plain_http: bool = False
    digest: str | None = None  # sha256 of the archive, from the repository index, when known

    @property
    def remote(self) -> bool:
        """A chart helm downloads (repository or OCI registry), not a local archive."""
        return self.repo_url is not None or self.ref.startswith("oci://")

    def args(self) -> list[str]:
        argv = [self.ref, "--version", self.version]
        if self.repo_url:
            argv += ["--repo", self.repo_url]
        if self.username is not None:
            argv += ["--username", self.username, "--password", self.password or ""]
        if self.plain_http:
            argv.append("--plain-http")
        return argv


@dataclass(frozen=True)
class ReleaseRequest:
    """Everything helm needs to install or upgrade one release."""

    name: str
    namespace: str
    chart: ChartLocator
    values: Mapping[str, Any] = field(repr=False)
    labels: Mapping[str, str] = field(default_factory=dict)


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

    def __init__(self, runner: HelmRunner) -> None:
        self.runner = runner
        self.settings = runner.settings

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

    async def cached_chart(self, chart: ChartLocator) -> ChartLocator:
        """``chart`` as a local archive in the chart cache, pulled on first use (unchanged without a cache).

        Keyed by repository, chart, version and index digest, so a re-published version is pulled again;
        an archive whose sha256 differs from the index digest is refused."""
        cache = self.settings.chart_cache_dir
        if cache is None or not chart.remote:
            return chart
        key = hashlib.sha256("\0".join((chart.repo_url or "", chart.ref, chart.version, chart.digest or ""))
                             .encode()).hexdigest()[:32]
        directory = Path(cache) / key
        cached = sorted(directory.glob("*.tgz")) if directory.is_dir() else []
        if cached:
            return ChartLocator(ref=str(cached[0]), version=chart.version)
        Path(cache).mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=".pull-", dir=cache))
        try:
            await self.runner.run(["pull", *chart.args(), "--destination", str(scratch)])
            pulled = sorted(scratch.glob("*.tgz"))
            if len(pulled) != 1:
                raise HelmError(f"helm pull {chart.ref} {chart.version} did not produce one chart archive")
            if chart.digest and hashlib.sha256(pulled[0].read_bytes()).hexdigest() != chart.digest.lower():
                raise HelmError(f"chart {chart.ref} {chart.version} does not match the digest in the repository "
                                "index; refusing to install it", reason="ChartDigestMismatch")
            with contextlib.suppress(OSError):  # another process may have cached it meanwhile
                scratch.rename(directory)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return ChartLocator(ref=str(directory / pulled[0].name), version=chart.version)

    async def install(self, request: ReleaseRequest) -> None:
        chart = await self.cached_chart(request.chart)
        with values_file(request.values) as path:
            await self.runner.run([
                "install", request.name, *chart.args(), "-n", request.namespace,
                "-f", str(path), "--timeout", self.settings.timeout_flag,
                *self._apply_flags(), *self._labels(request.labels),
            ])

    async def upgrade(self, request: ReleaseRequest) -> None:
        """Upgrade with ``--reset-values``: the values file is the whole truth, never merged with old values."""
        chart = await self.cached_chart(request.chart)
        with values_file(request.values) as path:
            await self.runner.run([
                "upgrade", request.name, *chart.args(), "-n", request.namespace,
                "-f", str(path), "--reset-values", "--timeout", self.settings.timeout_flag,
                "--history-max", str(self.settings.history_max),
                *self._apply_flags(), *self._labels(request.labels),
            ])

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
        with values_file(request.values) as path:
            result = await self.runner.run([
                "template", request.name, *request.chart.args(), "-n", request.namespace,
                "-f", str(path), *extra_args,
            ])
        return result.stdout


def is_not_found(error: HelmError) -> bool:
    return error.reason == "ReleaseNotFound"
