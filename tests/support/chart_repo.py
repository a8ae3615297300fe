"""Fixture ``chart_repo``: a real Helm HTTP chart repository on 127.0.0.1.

Owns: serving a directory built by ``helm package`` + ``helm repo index`` (see ``charts.py``) from a
threaded ``http.server``, optionally behind basic auth; strong ETags plus Last-Modified with 304
answers for conditional GETs; a request log so tests can assert what clients sent; publishing a
new version while the server runs; and a "down" mode (the listening socket is closed).
Must not: listen on anything but 127.0.0.1, fake helm's index format (helm writes it), or sleep.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from tests.support.charts import DEFAULT_VERSIONS, DEMO_CHART, ChartPackager
from tests.support.localnet import BackgroundHTTPServer, RequestLog


@dataclass(frozen=True)
class RequestRecord:
    """One request the repository answered."""

    method: str
    path: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


class ChartRepo:
    """A running chart repository. ``url`` has no trailing slash; ``index_url`` is its index.yaml."""

    def __init__(
        self,
        root: Path,
        packager: ChartPackager,
        *,
        versions: Iterable[str] = DEFAULT_VERSIONS,
        charts: Iterable[str] = (DEMO_CHART,),
        auth: tuple[str, str] | None = None,
    ) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.packager = packager
        self.auth = auth
        self._log: RequestLog[RequestRecord] = RequestLog()
        packager.build_repo(root, versions, charts)
        self._server = BackgroundHTTPServer(self._handler_class())

    # -- addresses ---------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._server.port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def index_url(self) -> str:
        return f"{self.url}/index.yaml"

    def url_with_credentials(self) -> str:
        """The URL with ``user:password@`` userinfo (for tests of URL sanitising)."""
        if not self.auth:
            return self.url
        user, password = self.auth
        return f"http://{user}:{password}@127.0.0.1:{self.port}"

    # -- content -----------------------------------------------------------------------------
    def publish(self, version: str, chart: str = DEMO_CHART) -> Path:
        """Package ``chart`` at ``version`` into the repository and re-index while serving."""
        archive = self.packager.package_into(self.root, chart, version)
        self._reindex()
        return archive

    def unpublish(self, version: str, chart: str = DEMO_CHART) -> None:
        """Withdraw a version (delete its archive and re-index)."""
        (self.root / f"{chart}-{version}.tgz").unlink()
        self._reindex()

    def write_index(self, text: str) -> None:
        """Replace index.yaml verbatim (e.g. with malformed YAML)."""
        self._atomic_write(self.root / "index.yaml", text.encode())

    def index_text(self) -> str:
        return (self.root / "index.yaml").read_text()

    def _reindex(self) -> None:
        # helm rewrites index.yaml in place; build in a scratch copy and swap atomically so a
        # concurrent GET never sees a half-written index.
        scratch = self.root.parent / f".{self.root.name}-reindex"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir()
        for archive in self.root.glob("*.tgz"):
            os.link(archive, scratch / archive.name)
        self.packager.index(scratch)
        self._atomic_write(self.root / "index.yaml", (scratch / "index.yaml").read_bytes())
        shutil.rmtree(scratch, ignore_errors=True)

    @staticmethod
    def _atomic_write(path: Path, data: bytes) -> None:
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)

    # -- availability ------------------------------------------------------------------------
    def stop(self) -> None:
        """Take the repository down: the port stops accepting connections."""
        self._server.close()

    def start(self) -> None:
        """Bring it back up on the same port."""
        self._server.start()

    def close(self) -> None:
        self._server.close()

    # -- request log -------------------------------------------------------------------------
    @property
    def requests(self) -> list[RequestRecord]:
        return self._log.items()

    def requests_for(self, path: str) -> list[RequestRecord]:
        return [r for r in self.requests if r.path.split("?", 1)[0] == path]

    def clear_log(self) -> None:
        self._log.clear()

    # -- HTTP --------------------------------------------------------------------------------
    def _handler_class(self) -> type[SimpleHTTPRequestHandler]:
        repo = self
        expected = None
        if self.auth:
            expected = "Basic " + base64.b64encode(f"{self.auth[0]}:{self.auth[1]}".encode()).decode()

        class Handler(SimpleHTTPRequestHandler):
            _etag: str | None = None

            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, directory=str(repo.root), **kwargs)

            def log_message(self, format: str, *args: Any) -> None:
                return  # the request log below replaces stderr noise

            def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
                status = int(code) if code != "-" else 0
                repo._log.record(
                    RequestRecord(self.command or "", self.path or "", status, dict(self.headers.items()))
                )

            def end_headers(self) -> None:
                if self._etag:
                    self.send_header("ETag", self._etag)
                super().end_headers()

            def _authorized(self) -> bool:
                if expected is None or self.headers.get("Authorization") == expected:
                    return True
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="extctl-test-charts"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return False

            def send_head(self) -> Any:
                if not self._authorized():
                    return None
                path = Path(self.translate_path(self.path))
                if path.is_file():
                    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:32]
                    self._etag = f'"{digest}"'
                    inm = self.headers.get("If-None-Match")
                    if inm and self._etag in [tag.strip() for tag in inm.split(",")]:
                        self.send_response(304)
                        self.send_header("Last-Modified", self.date_time_string(int(path.stat().st_mtime)))
                        self.end_headers()
                        return None
                # Plain files, Last-Modified and If-Modified-Since (when no If-None-Match) come from
                # SimpleHTTPRequestHandler.
                return super().send_head()

        return Handler


RepoFactory = Callable[..., ChartRepo]


@pytest.fixture(scope="session")
def chart_packager(tmp_path_factory: pytest.TempPathFactory) -> ChartPackager:
    """Session-wide helm packaging cache: each (chart, version) is packaged once."""
    return ChartPackager(tmp_path_factory.mktemp("chart-packages"))


@pytest.fixture(scope="session")
def chart_repo_factory(
    tmp_path_factory: pytest.TempPathFactory, chart_packager: ChartPackager
) -> Iterator[RepoFactory]:
    """Factory ``(versions=..., charts=..., auth=(user, password) | None) -> ChartRepo``.

    Every repository made is stopped at the end of the session (or earlier by ``close()``).
    """
    made: list[ChartRepo] = []

    def make(
        versions: Iterable[str] = DEFAULT_VERSIONS,
        charts: Iterable[str] = (DEMO_CHART,),
        auth: tuple[str, str] | None = None,
    ) -> ChartRepo:
        repo = ChartRepo(
            tmp_path_factory.mktemp("chart-repo") / "repo",
            chart_packager,
            versions=versions,
            charts=charts,
            auth=auth,
        )
        made.append(repo)
        return repo

    yield make
    for repo in made:
        repo.close()


@pytest.fixture
def chart_repo(chart_repo_factory: RepoFactory) -> Iterator[ChartRepo]:
    """A fresh anonymous repository with ``demo-agent`` in all ``DEFAULT_VERSIONS``."""
    repo = chart_repo_factory()
    yield repo
    repo.close()


@pytest.fixture
def chart_repo_auth(chart_repo_factory: RepoFactory) -> Iterator[ChartRepo]:
    """Like ``chart_repo`` but behind basic auth as ``extctl`` / ``s3cr3t-repo-pw``."""
    repo = chart_repo_factory(auth=("extctl", "s3cr3t-repo-pw"))
    yield repo
    repo.close()
