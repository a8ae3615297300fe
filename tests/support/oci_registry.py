"""Fixture ``oci_registry``: a real OCI registry (Debian's ``docker-registry``, distribution 2.8).

Owns: starting ``docker-registry serve CONFIG`` on a free 127.0.0.1 port with a temp storage dir,
in three flavours: anonymous, htpasswd basic auth (``oci_registry_auth``), and the registry token
flow (``oci_registry_token``: a small token server on 127.0.0.1 that signs RS256 JWTs with a key
made by ``openssl``); pushing the test charts with the real ``helm push`` (helm config isolated in a
temp dir); and stopping exactly the processes it started.
Must not: install packages (``scripts/install-system-deps`` does that; a missing binary is a clear
failure naming the script), listen on anything but 127.0.0.1, or sleep.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.support.charts import DEMO_CHART, ChartPackager, helm_env, run_helm
from tests.support.localnet import BackgroundHTTPServer, RequestLog, free_port, wait_for

REGISTRY_BIN = "/usr/bin/docker-registry"
INSTALL_HINT = "run scripts/install-system-deps (apt-get install -y docker-registry apache2-utils)"


def registry_binary() -> str:
    found = shutil.which("docker-registry") or (REGISTRY_BIN if Path(REGISTRY_BIN).exists() else None)
    if not found:
        raise RuntimeError(f"docker-registry is not installed; {INSTALL_HINT}")
    return found


def htpasswd_line(user: str, password: str) -> str:
    """A bcrypt htpasswd entry (distribution only accepts bcrypt) made by apache2-utils' htpasswd."""
    tool = shutil.which("htpasswd")
    if not tool:
        raise RuntimeError(f"htpasswd is not installed; {INSTALL_HINT}")
    out = subprocess.run(
        [tool, "-nbB", "-C", "4", user, password], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    return out.strip() + "\n"


# --- token flow --------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def libtrust_key_id(spki_der: bytes) -> str:
    """The ``kid`` distribution looks up trusted keys by (docker/libtrust's key ID format)."""
    encoded = base64.b32encode(hashlib.sha256(spki_der).digest()[:30]).decode().rstrip("=")
    return ":".join(encoded[i : i + 4] for i in range(0, len(encoded), 4))


@dataclass(frozen=True)
class TokenRequest:
    scopes: tuple[str, ...]
    user: str | None
    status: int


class TokenServer:
    """Issues registry bearer tokens (RS256 JWT, signed by ``openssl dgst``) for basic credentials."""

    SERVICE = "extctl-test-registry"
    ISSUER = "extctl-test-token-issuer"

    def __init__(self, workdir: Path, credentials: tuple[str, str]) -> None:
        self.workdir = workdir
        self.credentials = credentials
        self.key = workdir / "token-key.pem"
        self.cert = workdir / "token-cert.pem"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(self.key), "-out",
             str(self.cert), "-days", "2", "-subj", "/CN=extctl-test-token-issuer"],
            capture_output=True, check=True, timeout=60,
        )
        spki = subprocess.run(
            ["openssl", "pkey", "-in", str(self.key), "-pubout", "-outform", "DER"],
            capture_output=True, check=True, timeout=30,
        ).stdout
        self.kid = libtrust_key_id(spki)
        self.refresh_token = uuid.uuid4().hex
        self._log: RequestLog[TokenRequest] = RequestLog()
        self._server = BackgroundHTTPServer(self._handler_class())

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self._server.port}/token"

    @property
    def requests(self) -> list[TokenRequest]:
        return self._log.items()

    def close(self) -> None:
        self._server.close()

    def issue(self, user: str, scopes: list[str]) -> str:
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            if kind and name:
                access.append({"type": kind, "name": name, "actions": [a for a in actions.split(",") if a]})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "kid": self.kid}
        claims = {
            "iss": self.ISSUER, "sub": user, "aud": self.SERVICE, "exp": now + 600, "nbf": now - 60,
            "iat": now, "jti": uuid.uuid4().hex, "access": access,
        }
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        signature = subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", str(self.key)],
            input=signing_input.encode(), capture_output=True, check=True, timeout=30,
        ).stdout
        return f"{signing_input}.{_b64url(signature)}"

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self
        expected = "Basic " + base64.b64encode(":".join(self.credentials).encode()).decode()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                query = parse_qs(urlsplit(self.path).query)
                scopes = tuple(" ".join(query.get("scope", [])).split())
                if self.headers.get("Authorization") != expected:
                    body = b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}'
                    server._log.record(TokenRequest(scopes, None, 401))
                    self._answer(401, body)
                    return
                token = server.issue(server.credentials[0], list(scopes))
                body = json.dumps({"token": token, "access_token": token, "expires_in": 600}).encode()
                server._log.record(TokenRequest(scopes, server.credentials[0], 200))
                self._answer(200, body)

            def do_POST(self) -> None:
                # The OAuth2 variant of the token flow (what helm/ORAS try first): a form with
                # grant_type=password (username, password) or grant_type=refresh_token.
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                scopes = tuple(" ".join(form.get("scope", [])).split())
                grant = form.get("grant_type", [""])[0]
                user, password = form.get("username", [""])[0], form.get("password", [""])[0]
                refresh = form.get("refresh_token", [""])[0]
                ok = (grant == "password" and (user, password) == server.credentials) or (
                    grant == "refresh_token" and refresh == server.refresh_token
                )
                if not ok:
                    server._log.record(TokenRequest(scopes, None, 401))
                    self._answer(401, b'{"error":"invalid_grant"}')
                    return
                token = server.issue(server.credentials[0], list(scopes))
                body = json.dumps(
                    {"access_token": token, "refresh_token": server.refresh_token, "expires_in": 600}
                ).encode()
                server._log.record(TokenRequest(scopes, server.credentials[0], 200))
                self._answer(200, body)

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler


# --- the registry ------------------------------------------------------------------------------


class OciRegistry:
    """A running ``docker-registry``. ``host`` is ``127.0.0.1:PORT``; push charts with ``push()``."""

    def __init__(self, workdir: Path, packager: ChartPackager, *, auth: str | None = None,
                 credentials: tuple[str, str] = ("extctl", "s3cr3t-registry-pw")) -> None:
        if auth not in (None, "htpasswd", "token"):
            raise ValueError(f"auth must be None, 'htpasswd' or 'token', not {auth!r}")
        self.workdir = workdir
        self.packager = packager
        self.auth_mode = auth
        self.credentials = credentials if auth else None
        self.storage = workdir / "storage"
        self.storage.mkdir(parents=True, exist_ok=True)
        self.log_file = workdir / "registry.log"
        self.helm_env = helm_env(workdir / "helm-home")
        self.token_server = TokenServer(workdir, credentials) if auth == "token" else None
        self._proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self._start()
        if self.credentials:
            run_helm(
                ["registry", "login", self.host, "--plain-http", "--username", self.credentials[0],
                 "--password-stdin"],
                env=self.helm_env, input_text=self.credentials[1],
            )

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def reference(self, namespace: str = "charts") -> str:
        """The ``oci://`` repository for charts pushed under ``namespace``."""
        return f"oci://{self.host}/{namespace}"

    def _config(self) -> str:
        lines = [
            "version: 0.1",
            "log:",
            "  level: warn",
            "  accesslog:",
            "    disabled: true",
            "storage:",
            "  filesystem:",
            f"    rootdirectory: {self.storage}",
            "  delete:",
            "    enabled: true",
            "http:",
            f"  addr: 127.0.0.1:{self.port}",
            f"  secret: {uuid.uuid4().hex}",
        ]
        if self.auth_mode == "htpasswd" and self.credentials:
            htpasswd = self.workdir / "htpasswd"
            htpasswd.write_text(htpasswd_line(*self.credentials))
            lines += ["auth:", "  htpasswd:", "    realm: extctl-test-registry", f"    path: {htpasswd}"]
        if self.token_server is not None:
            ts = self.token_server
            lines += ["auth:", "  token:", f"    realm: {ts.realm}", f"    service: {ts.SERVICE}",
                      f"    issuer: {ts.ISSUER}", f"    rootcertbundle: {ts.cert}"]
        return "\n".join(lines) + "\n"

    def _ready(self) -> bool:
        if self._proc is not None and self._proc.poll() is not None:
            tail = self.log_file.read_text()[-2000:]
            raise RuntimeError(f"docker-registry exited with {self._proc.returncode}: {tail}")
        try:
            with urllib.request.urlopen(f"{self.url}/v2/", timeout=2) as resp:  # noqa: S310 - fixed http://127.0.0.1 URL
                return bool(resp.status == 200)
        except urllib.error.HTTPError as exc:
            return exc.code == 401  # up, and asking for credentials
        except OSError:
            return False

    def _start(self) -> None:
        binary = registry_binary()
        last: Exception | None = None
        for _attempt in range(3):  # the free port may be taken between picking and binding it
            self.port = free_port()
            config = self.workdir / "config.yml"
            config.write_text(self._config())
            with self.log_file.open("ab") as log:
                self._proc = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=log)
            try:
                wait_for(self._ready, timeout=20, what=f"docker-registry on {self.host}")
                return
            except (RuntimeError, TimeoutError) as exc:
                last = exc
                self.stop()
        raise RuntimeError(f"could not start docker-registry: {last}")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

    def close(self) -> None:
        self.stop()
        if self.token_server is not None:
            self.token_server.close()

    # -- content -----------------------------------------------------------------------------
    def push(self, version: str, chart: str = DEMO_CHART, namespace: str = "charts") -> str:
        """``helm push`` the test chart at ``version``; returns ``oci://HOST/NAMESPACE/CHART:TAG``."""
        archive = self.packager.package(chart, version)
        run_helm(["push", str(archive), self.reference(namespace), "--plain-http"], env=self.helm_env)
        return f"{self.reference(namespace)}/{chart}:{version.replace('+', '_')}"

    def push_many(self, versions: list[str], chart: str = DEMO_CHART, namespace: str = "charts") -> None:
        for version in versions:
            self.push(version, chart, namespace)

    def tags(self, name: str) -> list[str]:
        """``GET /v2/<name>/tags/list`` as the registry answers it (with basic auth when configured)."""
        request = urllib.request.Request(f"{self.url}/v2/{name}/tags/list")  # noqa: S310 - fixed http://127.0.0.1
        if self.auth_mode == "htpasswd" and self.credentials:
            token = base64.b64encode(":".join(self.credentials).encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        elif self.token_server is not None:
            token = self.token_server.issue("extctl", [f"repository:{name}:pull"])
            request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310 - fixed http://127.0.0.1 URL
            return list(json.load(resp).get("tags") or [])


def unique_namespace(prefix: str = "t") -> str:
    """A fresh repository namespace so tests sharing a session registry never see each other's tags."""
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def _registry(
    tmp_path_factory: pytest.TempPathFactory, packager: ChartPackager, auth: str | None
) -> Iterator[OciRegistry]:
    registry = OciRegistry(tmp_path_factory.mktemp(f"oci-{auth or 'anon'}"), packager, auth=auth)
    try:
        yield registry
    finally:
        registry.close()


@pytest.fixture(scope="session")
def oci_registry(
    tmp_path_factory: pytest.TempPathFactory, chart_packager: ChartPackager
) -> Iterator[OciRegistry]:
    """Anonymous registry for the session; push under ``unique_namespace()`` to stay isolated."""
    yield from _registry(tmp_path_factory, chart_packager, None)


@pytest.fixture(scope="session")
def oci_registry_auth(
    tmp_path_factory: pytest.TempPathFactory, chart_packager: ChartPackager
) -> Iterator[OciRegistry]:
    """Registry behind htpasswd basic auth (``registry.credentials``); helm is logged in already."""
    yield from _registry(tmp_path_factory, chart_packager, "htpasswd")


@pytest.fixture(scope="session")
def oci_registry_token(
    tmp_path_factory: pytest.TempPathFactory, chart_packager: ChartPackager
) -> Iterator[OciRegistry]:
    """Registry using the bearer-token flow (``registry.token_server``); helm is logged in already."""
    yield from _registry(tmp_path_factory, chart_packager, "token")
