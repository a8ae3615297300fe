"""Fixture ``git_remote``: a bare Git repository served over file:// and smart HTTP.

Owns: a bare repository (default branch ``main``, ``http.receivepack`` on), a work-tree helper that
writes/deletes files, commits and pushes to ``main`` with the git CLI, and a CGI bridge that runs
the real ``git http-backend`` behind a threaded ``http.server`` on 127.0.0.1 (fetch and push,
optional basic auth, request log). Every git process runs with an isolated config (no ~/.gitconfig).
Must not: mock git, listen on anything but 127.0.0.1, or sleep.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import pytest

from tests.support.localnet import BackgroundHTTPServer, RequestLog

BRANCH = "main"
AUTHOR = ("extctl test", "test@extctl.invalid")


def git_env(home: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for hermetic git: no system/global config, no prompts, fixed identity."""
    env = dict(os.environ if base is None else base)
    home.mkdir(parents=True, exist_ok=True)
    env.update(
        HOME=str(home),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=str(home / "gitconfig"),
        GIT_TERMINAL_PROMPT="0",
        GIT_AUTHOR_NAME=AUTHOR[0],
        GIT_AUTHOR_EMAIL=AUTHOR[1],
        GIT_COMMITTER_NAME=AUTHOR[0],
        GIT_COMMITTER_EMAIL=AUTHOR[1],
    )
    env.pop("GIT_ASKPASS", None)
    env.pop("SSH_ASKPASS", None)
    return env


def run_git(args: list[str], *, env: Mapping[str, str], cwd: Path | None = None, timeout: float = 60) -> str:
    """Run git and return stdout; raise with git's stderr on failure."""
    proc = subprocess.run(
        ["git", *args], cwd=cwd, env=dict(env), capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}{proc.stdout}")
    return proc.stdout


def http_backend_path() -> Path:
    exec_path = subprocess.run(["git", "--exec-path"], capture_output=True, text=True, check=True).stdout.strip()
    return Path(exec_path) / "git-http-backend"


@dataclass(frozen=True)
class GitRequest:
    method: str
    path: str
    status: int
    service: str


class GitHTTPServer:
    """CGI bridge: every request under ``/`` is handed to ``git http-backend`` (GIT_PROJECT_ROOT)."""

    def __init__(self, project_root: Path, *, auth: tuple[str, str] | None = None, env: Mapping[str, str]) -> None:
        self.project_root = project_root
        self.auth = auth
        self.env = dict(env)
        self.backend = str(http_backend_path())
        self.stderr_log = project_root.parent / "http-backend.stderr"
        self._log: RequestLog[GitRequest] = RequestLog()
        self._server = BackgroundHTTPServer(self._handler_class())

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def requests(self) -> list[GitRequest]:
        return self._log.items()

    def stop(self) -> None:
        self._server.close()

    def start(self) -> None:
        self._server.start()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        bridge = self
        expected = None
        if self.auth:
            expected = "Basic " + base64.b64encode(f"{self.auth[0]}:{self.auth[1]}".encode()).decode()

        class Handler(BaseHTTPRequestHandler):
            # HTTP/1.0: the response ends when the connection closes, so the backend's output can be
            # streamed without knowing its length.
            protocol_version = "HTTP/1.0"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                self._cgi()

            def do_POST(self) -> None:
                self._cgi()

            def _cgi(self) -> None:
                parts = urlsplit(self.path)
                service = parts.query.removeprefix("service=") if "service=" in parts.query else ""
                service = service or parts.path.rsplit("/", 1)[-1]
                user = ""
                if expected is not None:
                    if self.headers.get("Authorization") != expected:
                        bridge._log.record(GitRequest(self.command, self.path, 401, service))
                        self.send_response(401)
                        self.send_header("WWW-Authenticate", 'Basic realm="extctl-test-git"')
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    user = bridge.auth[0] if bridge.auth else ""
                env = dict(bridge.env)
                env.update(
                    GIT_PROJECT_ROOT=str(bridge.project_root),
                    GIT_HTTP_EXPORT_ALL="1",
                    GATEWAY_INTERFACE="CGI/1.1",
                    SERVER_PROTOCOL="HTTP/1.1",
                    REQUEST_METHOD=self.command,
                    PATH_INFO=parts.path,
                    QUERY_STRING=parts.query,
                    CONTENT_TYPE=self.headers.get("Content-Type", ""),
                    REMOTE_ADDR=self.client_address[0],
                    REMOTE_USER=user,
                )
                length = self.headers.get("Content-Length")
                if length is not None:
                    env["CONTENT_LENGTH"] = length
                for header, var in (("Content-Encoding", "HTTP_CONTENT_ENCODING"), ("Git-Protocol", "GIT_PROTOCOL")):
                    if self.headers.get(header):
                        env[var] = self.headers[header]
                chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
                with bridge.stderr_log.open("ab") as errlog:
                    proc = subprocess.Popen(
                        [bridge.backend], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errlog
                    )
                    assert proc.stdin is not None and proc.stdout is not None
                    feeder = threading.Thread(target=self._feed, args=(proc.stdin, length, chunked), daemon=True)
                    feeder.start()
                    status = self._relay(proc.stdout)
                    feeder.join(timeout=30)
                    proc.wait(timeout=30)
                bridge._log.record(GitRequest(self.command, self.path, status, service))

            def _feed(self, sink: IO[bytes], length: str | None, chunked: bool) -> None:
                try:
                    if chunked:
                        while True:
                            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                            if size == 0:
                                self.rfile.readline()  # trailing CRLF after the last chunk
                                break
                            sink.write(self.rfile.read(size))
                            self.rfile.readline()
                    elif length:
                        remaining = int(length)
                        while remaining > 0:
                            block = self.rfile.read(min(65536, remaining))
                            if not block:
                                break
                            sink.write(block)
                            remaining -= len(block)
                except BrokenPipeError:
                    pass  # the backend stopped reading (e.g. it rejected the request); its answer says why
                finally:
                    with contextlib.suppress(BrokenPipeError):
                        sink.close()

            def _relay(self, source: IO[bytes]) -> int:
                head = b""
                while b"\r\n\r\n" not in head and b"\n\n" not in head:
                    block = source.read1(65536)  # type: ignore[attr-defined]
                    if not block:
                        break
                    head += block
                sep = b"\r\n\r\n" if b"\r\n\r\n" in head else b"\n\n"
                raw_headers, _, rest = head.partition(sep)
                status, reason = 200, "OK"
                headers: list[tuple[str, str]] = []
                for line in raw_headers.decode("latin-1").splitlines():
                    if ":" not in line:
                        continue
                    name, value = (s.strip() for s in line.split(":", 1))
                    if name.lower() == "status":
                        code, _, reason = value.partition(" ")
                        status = int(code)
                    else:
                        headers.append((name, value))
                self.send_response(status, reason or None)
                for name, value in headers:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(rest)
                while block := source.read1(65536):  # type: ignore[attr-defined]
                    self.wfile.write(block)
                self.wfile.flush()
                return status

        return Handler


class GitRemote:
    """A bare repository at ``<root>/srv/<name>.git`` plus a work tree for committing changes.

    ``file_url`` and ``http_url`` address the same repository; ``commit(...)`` pushes to ``main``.
    """

    def __init__(self, root: Path, *, name: str = "config", auth: tuple[str, str] | None = None) -> None:
        self.root = root
        self.name = name
        self.auth = auth
        self.env = git_env(root / "home")
        self.project_root = root / "srv"
        self.bare = self.project_root / f"{name}.git"
        self.bare.mkdir(parents=True)
        run_git(["init", "--quiet", "--bare", f"--initial-branch={BRANCH}", str(self.bare)], env=self.env)
        run_git(["config", "http.receivepack", "true"], env=self.env, cwd=self.bare)
        self.worktree = root / "work"
        self._cloned = False
        self._lock = threading.Lock()
        self._http: GitHTTPServer | None = None

    # -- addresses ---------------------------------------------------------------------------
    @property
    def file_url(self) -> str:
        return self.bare.as_uri()

    @property
    def http(self) -> GitHTTPServer:
        """The smart-HTTP server, started on first use."""
        if self._http is None:
            self._http = GitHTTPServer(self.project_root, auth=self.auth, env=self.env)
        return self._http

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http.port}/{self.name}.git"

    def http_url_with_credentials(self) -> str:
        if not self.auth:
            return self.http_url
        user, password = self.auth
        return f"http://{user}:{password}@127.0.0.1:{self.http.port}/{self.name}.git"

    # -- content -----------------------------------------------------------------------------
    def _ensure_worktree(self) -> None:
        if self._cloned:
            return
        run_git(["clone", "--quiet", self.file_url, str(self.worktree)], env=self.env)
        # An empty remote has no branch yet; make sure the first commit lands on main.
        run_git(["checkout", "--quiet", "-B", BRANCH], env=self.env, cwd=self.worktree)
        self._cloned = True

    def _sync_with_remote(self) -> None:
        # Others (tests, extctl) may have pushed since our last commit: start from the remote tip.
        run_git(["fetch", "--quiet", "origin"], env=self.env, cwd=self.worktree)
        remote_head = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", f"refs/remotes/origin/{BRANCH}"],
            cwd=self.worktree, env=self.env, capture_output=True, text=True, check=False,
        ).stdout.strip()
        if remote_head:
            run_git(["reset", "--quiet", "--hard", remote_head], env=self.env, cwd=self.worktree)

    def commit(self, files: Mapping[str, str | bytes | None], message: str = "update") -> str:
        """Write (``str``/``bytes``) or delete (``None``) files, commit, push to main; returns the sha.

        The change is made on top of the remote's current ``main`` (whoever pushed it). Paths are
        relative to the repository root. A commit with no changes is still made (``--allow-empty``),
        so every call yields a new revision.
        """
        with self._lock:
            self._ensure_worktree()
            self._sync_with_remote()
            self.write_files(files)
            run_git(["add", "--all"], env=self.env, cwd=self.worktree)
            run_git(["commit", "--quiet", "--allow-empty", "-m", message], env=self.env, cwd=self.worktree)
            run_git(["push", "--quiet", "origin", f"HEAD:refs/heads/{BRANCH}"], env=self.env, cwd=self.worktree)
            return self.head()

    def write_files(self, files: Mapping[str, str | bytes | None]) -> None:
        """Write (text or bytes) or delete (``None``) paths in the work tree; the caller holds the lock."""
        for rel, content in files.items():
            path = self.worktree / rel
            if content is None:
                if path.is_dir():
                    shutil.rmtree(path)
                elif path.exists():
                    path.unlink()
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content)

    def copy_tree(self, source: Path, dest: str = "", message: str = "import") -> str:
        """Commit a copy of directory ``source`` at ``dest`` inside the repository."""
        files: dict[str, str | bytes | None] = {}
        for path in sorted(source.rglob("*")):
            if path.is_file():
                rel = path.relative_to(source).as_posix()
                files[f"{dest}/{rel}" if dest else rel] = path.read_bytes()
        return self.commit(files, message)

    def head(self, branch: str = BRANCH) -> str:
        """The commit ``branch`` points at in the bare repository."""
        return run_git(["rev-parse", f"refs/heads/{branch}"], env=self.env, cwd=self.bare).strip()

    def log(self, branch: str = BRANCH) -> list[str]:
        """Commit shas on ``branch``, newest first."""
        return run_git(["rev-list", f"refs/heads/{branch}"], env=self.env, cwd=self.bare).split()

    def close(self) -> None:
        if self._http is not None:
            self._http.stop()


GitRemoteFactory = Callable[..., GitRemote]


@pytest.fixture
def git_remote_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitRemoteFactory]:
    """Factory ``(name="config", auth=(user, password) | None) -> GitRemote``; all closed after the test."""
    made: list[GitRemote] = []

    def make(name: str = "config", auth: tuple[str, str] | None = None) -> GitRemote:
        remote = GitRemote(tmp_path_factory.mktemp("git-remote"), name=name, auth=auth)
        made.append(remote)
        return remote

    yield make
    for remote in made:
        remote.close()


@pytest.fixture
def git_remote(git_remote_factory: GitRemoteFactory) -> GitRemote:
    """An empty bare repository (branch ``main``) served over file:// and, on first use, smart HTTP."""
    return git_remote_factory()
