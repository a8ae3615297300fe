"""Host-bound repository credentials: the file and environment forms, the precedence rule, the
transport rule, preview trust, the userinfo validation error, local index confinement and helm's argv.

Pure checks (no servers): what reaches the network is tested in tests/integration/test_credentials.py.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from controller.apply import chart_locator
from controller.catalog import CredentialStore, RepoCredentials, load_credentials
from controller.catalog.credentials import Binding
from controller.catalog.credentials_file import parse_credentials_text, parse_host
from controller.catalog.index import ChartVersion
from controller.catalog.local import local_chart_archive
from controller.errors import CatalogAuthError, CatalogIndexInvalid, CredentialsInvalid, InternalError, ManifestError
from controller.helm import ChartLocator, HelmClient, HelmRunner, HelmSettings, ReleaseRequest
from controller.logs import redact_text
from controller.manifests import parse_documents
from controller.models.manifests import ChartRef
from controller.preview.trust import preview_credentials

REPO_ROOT = Path(__file__).resolve().parents[2]
SECRET = "Pl4nted-unit-s3cret"


def store(*bindings: tuple[str, RepoCredentials], insecure: bool = False) -> CredentialStore:
    made = []
    for index, (host, creds) in enumerate(bindings):
        name, port, prefix = parse_host(host)
        made.append(Binding(name, port, prefix, creds, insecure=insecure, origin=f"test[{index}]"))
    return CredentialStore(made)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# ------------------------------------------------------------------------------------------ hosts
@pytest.mark.parametrize(("text", "expected"), [
    ("charts.example.com", ("charts.example.com", None, ())),
    ("Charts.Example.COM:8443", ("charts.example.com", 8443, ())),
    ("ghcr.io/contoso/", ("ghcr.io", None, ("contoso",))),
    ("127.0.0.1:5000/a//b", ("127.0.0.1", 5000, ("a", "b"))),
    ("[::1]:8080/x", ("::1", 8080, ("x",))),
])
def test_parse_host(text: str, expected: tuple[str, int | None, tuple[str, ...]]) -> None:
    assert parse_host(text) == expected


@pytest.mark.parametrize(("text", "problem"), [
    ("https://charts.example.com", "without a scheme"),
    ("user:pw@charts.example.com", "'@'"),
    ("charts.example.com:99999", "host[:port][/path]"),
    ("charts.example.com/../x", "'..'"),
    (":443", "with a host name"),
    ("charts.example.com?x=1", "'?'"),
])
def test_bad_hosts_are_refused(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        parse_host(text)


# ------------------------------------------------------------------------------------------ precedence
def test_longest_prefix_wins_then_explicit_port() -> None:
    host_wide, private, ported, ported_private = (RepoCredentials(token=f"t-{n}") for n in range(4))
    found = store(("charts.example", host_wide), ("charts.example/private", private),
                  ("charts.example:443", ported), ("charts.example:8443/private", ported_private))
    assert found.for_url("https://charts.example/index.yaml") is ported  # explicit port beats none
    assert found.for_url("https://charts.example:9000/index.yaml") is host_wide
    assert found.for_url("https://charts.example/private/index.yaml") is private
    assert found.for_url("https://charts.example:8443/private/x/y.tgz") is ported_private
    assert found.for_url("https://charts.example/privateer/index.yaml") is ported  # whole segments only
    assert found.for_url("https://CHARTS.example/private/") is private  # host names are case-insensitive
    assert found.for_url("https://other.example/private/index.yaml") is None
    assert found.for_url("https://charts.example.evil.test/index.yaml") is None


def test_oci_bindings_match_repository_names() -> None:
    contoso = RepoCredentials("bot", "pw-contoso")
    found = store(("ghcr.io/contoso", contoso))
    assert found.binding("ghcr.io", 443, "/contoso/charts/agent") is not None
    assert found.binding("ghcr.io", 443, "/fabrikam/charts/agent") is None
    assert found.binding("ghcr.io", 443, "/contoso-evil/agent") is None


def test_plain_http_only_to_loopback_or_insecure_bindings() -> None:
    creds = RepoCredentials("u", SECRET)
    remote = store(("charts.example", creds))
    with pytest.raises(CatalogAuthError, match=r"credentials for charts\.example \(test\[0\]\) are only sent over "
                                               r"https") as refused:
        remote.for_url("http://charts.example/index.yaml")
    assert SECRET not in str(refused.value)
    assert remote.allowed_for_url("http://charts.example/index.yaml") is None  # redirects: silently not sent
    assert store(("charts.example", creds), insecure=True).for_url("http://charts.example/x") is creds
    for loopback in ("127.0.0.1", "127.3.4.5", "localhost", "[::1]"):
        assert store((loopback, creds)).for_url(f"http://{loopback}:8080/index.yaml") is creds


def test_the_same_binding_twice_is_an_error() -> None:
    creds = RepoCredentials(token="t")
    with pytest.raises(CredentialsInvalid, match=r"test\[1\]: host 'h\.example/p' is already bound by test\[0\]"):
        store(("h.example/p/", creds), ("H.example/p", creds))


def test_secrets_are_registered_with_the_redactor() -> None:
    RepoCredentials("someone", "registered-pw-123")
    RepoCredentials(token="registered-token-456")
    assert redact_text("a registered-pw-123 b registered-token-456") == "a *** b ***"


# ------------------------------------------------------------------------------------------ the file
def docs_example(tmp_path: Path) -> str:
    """The credentials file example of docs/credentials.md, its secret paths moved under ``tmp_path``."""
    text = (REPO_ROOT / "docs" / "credentials.md").read_text()
    example = re.search(r"```yaml\n(# /etc/extctl/repositories\.yaml\n.*?)```", text, re.S)
    assert example is not None, "docs/credentials.md lost its credentials file example"
    return example.group(1).replace("/var/run/secrets/", f"{tmp_path}/secrets/")


def test_the_documented_example_validates(tmp_path: Path) -> None:
    for name in ("contoso-charts/password", "contoso-private/token", "ghcr/token", "registry-user",
                 "registry-password"):
        write(tmp_path / "secrets" / name, f"value-of-{name.replace('/', '-')}\n")
    bindings = parse_credentials_text(docs_example(tmp_path), "repositories.yaml", tmp_path)
    labels = [(b.label, b.insecure, b.credentials.describe()) for b in bindings]
    assert labels == [
        ("charts.contoso.example", False, "basic credentials for user 'extctl-reader'"),
        ("charts.contoso.example/private", False, "a bearer token"),
        ("ghcr.io/contoso", False, "basic credentials for user 'contoso-bot'"),
        ("registry.internal.example:5000", True, "basic credentials for user 'value-of-registry-user'"),
    ]
    assert bindings[0].credentials.password == "value-of-contoso-charts-password"


@pytest.mark.parametrize(("text", "message"), [
    ("credentials:\n  - host: h.example\n    password: hunter2\n",
     "f.yaml:3:5: credentials[0].password: secret values do not belong in this file"),
    ("credentials:\n  - username: u\n    passwordFile: pw\n", "credentials[0].host: missing"),
    ("credentials:\n  - host: h.example\n", "credentials[0].host: no credential"),
    ("credentials:\n  - host: h.example\n    tokenFile: tok\n    username: u\n",
     "give either tokenFile or username + passwordFile"),
    ("credentials:\n  - host: h.example\n    passwordFile: pw\n", "a password needs a username"),
    ("credentials:\n  - host: h.example\n    tokenFile: missing-file\n", "cannot read"),
    ("credentials:\n  - host: h.example\n    tokenFile: tok\n    insecure: yes-please\n", "expected true or false"),
    ("credentials:\n  - host: https://h.example\n    tokenFile: tok\n", "write the host without a scheme"),
    ("credentials:\n  - host: h.example\n    tokenFile: tok\n    color: red\n", "unknown field"),
    ("credential:\n  - host: h.example\n", "f.yaml:1:1: unknown field 'credential'"),
    ("kind: Secret\ncredentials: []\n", "kind must be 'RepositoryCredentials'"),
    ("credentials: {host: x}\n", "credentials must be a list"),
    ("credentials:\n  - just-a-string\n", "f.yaml:2:5: credentials[0]: expected a mapping"),
    ("credentials: [\n", "f.yaml:2:1: not valid YAML"),
    ("- a\n- b\n", "expected a mapping with a 'credentials' list"),
])
def test_file_errors_are_located_and_never_show_values(tmp_path: Path, text: str, message: str) -> None:
    write(tmp_path / "pw", "hunter2\n")
    write(tmp_path / "tok", f"{SECRET}\n")
    with pytest.raises(CredentialsInvalid) as raised:
        parse_credentials_text(text, "f.yaml", tmp_path)
    assert message in str(raised.value)
    assert "hunter2" not in str(raised.value) and SECRET not in str(raised.value)


def test_secret_files_must_hold_one_line(tmp_path: Path) -> None:
    write(tmp_path / "tok", f"{SECRET}\nsecond line\n")
    with pytest.raises(CredentialsInvalid, match="must hold exactly one non-empty line") as raised:
        parse_credentials_text("credentials:\n  - host: h\n    tokenFile: tok\n", "f.yaml", tmp_path)
    assert SECRET not in str(raised.value)


def test_file_from_flag_or_env_and_combined_with_the_env_form(tmp_path: Path) -> None:
    write(tmp_path / "tok", "file-token\n")
    config = write(tmp_path / "creds.yaml", "credentials:\n  - host: a.example\n    tokenFile: tok\n")
    env = {"EXTCTL_REPO_CREDENTIALS_FILE": str(config), "EXTCTL_REPO_HOST": "b.example",
           "EXTCTL_REPO_TOKEN": "env-token"}
    found = load_credentials(environ=env)
    assert found.for_url("https://a.example/x") == RepoCredentials(token="file-token")
    assert found.for_url("https://b.example/x") == RepoCredentials(token="env-token")
    assert load_credentials(config, environ={}).for_url("https://a.example/x") == RepoCredentials(token="file-token")
    with pytest.raises(CredentialsInvalid, match=r"EXTCTL_REPO_HOST: host 'a\.example' is already bound by "
                                                 r"credentials file .*creds\.yaml, credentials\[0\]"):
        load_credentials(config, environ={"EXTCTL_REPO_HOST": "a.example", "EXTCTL_REPO_TOKEN": "x-token"})
    with pytest.raises(CredentialsInvalid, match="cannot read the repository credentials file"):
        load_credentials(tmp_path / "missing.yaml", environ={})


# ------------------------------------------------------------------------------------------ env form
@pytest.mark.parametrize("env", [
    {"EXTCTL_REPO_USERNAME": "u", "EXTCTL_REPO_PASSWORD": SECRET},
    {"EXTCTL_REPO_TOKEN": SECRET},
])
def test_old_variables_without_a_host_are_refused_saying_what_to_add(env: dict[str, str]) -> None:
    with pytest.raises(CredentialsInvalid) as raised:
        load_credentials(environ=env)
    message = str(raised.value)
    assert "but EXTCTL_REPO_HOST is not" in message and "add EXTCTL_REPO_HOST=" in message
    assert "--repo-credentials" in message and SECRET not in message


def test_env_form_binds_one_host(tmp_path: Path) -> None:
    write(tmp_path / "pw", f"{SECRET}\n")
    found = load_credentials(environ={"EXTCTL_REPO_HOST": "charts.example:8443/team", "EXTCTL_REPO_USERNAME": "ci",
                                      "EXTCTL_REPO_PASSWORD_FILE": str(tmp_path / "pw")})
    assert found.for_url("https://charts.example:8443/team/index.yaml") == RepoCredentials("ci", SECRET)
    assert found.for_url("https://charts.example/team/index.yaml") is None
    assert found.for_url("https://charts.example:8443/other/index.yaml") is None
    with pytest.raises(CredentialsInvalid, match="EXTCTL_REPO_HOST is set but no credential is"):
        load_credentials(environ={"EXTCTL_REPO_HOST": "charts.example"})
    insecure = load_credentials(environ={"EXTCTL_REPO_HOST": "h.example", "EXTCTL_REPO_TOKEN": "tok-1",
                                         "EXTCTL_REPO_INSECURE": "true"})
    assert insecure.for_url("http://h.example/x") == RepoCredentials(token="tok-1")


# ------------------------------------------------------------------------------------------ previews
def _catalog(*repositories: str) -> dict[str, str]:
    return {f"catalog/t{i}.yaml": (f"apiVersion: extctl.dev/v1alpha1\nkind: ExtensionType\nmetadata:\n  name: t{i}\n"
                                   f"spec:\n  chart:\n    repository: {repo}\n    name: agent\n")
            for i, repo in enumerate(repositories)}


def test_a_preview_only_uses_credentials_for_hosts_the_base_catalog_names() -> None:
    trusted, registry, other = RepoCredentials(token="a-1"), RepoCredentials(token="b-2"), RepoCredentials(token="c-3")
    configured = store(("charts.trusted.example", trusted), ("registry.example:5000/org", registry),
                       ("attacker.example", other))
    base = parse_documents(_catalog("https://charts.trusted.example/stable", "oci://registry.example:5000/org/x",
                                    "charts"))
    allowed = preview_credentials(configured, base)
    assert [b.label for b in allowed.bindings] == ["charts.trusted.example", "registry.example:5000/org"]
    # The head adds a type pointing at a host only it names: no credential goes there.
    assert allowed.for_url("https://attacker.example/index.yaml") is None
    assert allowed.for_url("https://charts.trusted.example/other/index.yaml") is trusted
    assert preview_credentials(configured, parse_documents(_catalog("charts"))).bindings == ()
    assert preview_credentials(None, base).bindings == ()
    # A base repository on another port of the same host does not admit a port-bound binding.
    assert not preview_credentials(configured, parse_documents(_catalog("oci://registry.example/org/x")))


def test_credentials_in_a_manifest_url_are_a_located_validation_error() -> None:
    files = _catalog(f"https://bob:{SECRET}@charts.example/stable")
    with pytest.raises(ManifestError) as raised:
        parse_documents(files)
    [issue] = raised.value.issues
    assert str(issue.location) == "catalog/t0.yaml:7:17"
    assert issue.field == "spec.chart.repository"
    assert "'https://charts.example/stable' carries credentials" in issue.message
    assert "secrets do not belong in Git" in issue.message and SECRET not in str(raised.value)


# ------------------------------------------------------------------------------------------ local indexes
@pytest.mark.parametrize(("url", "problem"), [
    ("../outside.tgz", "contains '..'"),
    ("sub/../../outside.tgz", "contains '..'"),
    ("/etc/passwd", "is absolute"),
    ("file:///etc/passwd", "is absolute"),
    ("https://charts.example/agent-1.0.0.tgz", "is absolute"),
    ("link.tgz", "resolves outside the repository directory"),
    ("linkdir/agent.tgz", "resolves outside the repository directory"),
])
def test_local_index_urls_that_leave_the_repository_are_refused(tmp_path: Path, url: str, problem: str) -> None:
    root = tmp_path / "src"
    (root / "charts").mkdir(parents=True)
    outside = write(tmp_path / "outside.tgz", "not for helm")
    (tmp_path / "elsewhere").mkdir()
    write(tmp_path / "elsewhere" / "agent.tgz", "not for helm")
    os.symlink(outside, root / "charts" / "link.tgz")
    os.symlink(tmp_path / "elsewhere", root / "charts" / "linkdir")
    listed = ChartVersion("1.0.0", urls=(url,))
    with pytest.raises(CatalogIndexInvalid) as raised:
        chart_locator(ChartRef("charts", "agent"), "1.0.0", repo_root=root, chart_versions=[listed])
    assert str(raised.value).startswith(f"charts/index.yaml: agent 1.0.0: archive URL {url!r} {problem}")


def test_a_symlink_inside_the_repository_is_fine(tmp_path: Path) -> None:
    write(tmp_path / "charts" / "real" / "agent-1.0.0.tgz", "archive")
    os.symlink(tmp_path / "charts" / "real" / "agent-1.0.0.tgz", tmp_path / "charts" / "agent-1.0.0.tgz")
    found = local_chart_archive(tmp_path, "charts", ChartVersion("1.0.0", urls=("agent-1.0.0.tgz",)), chart="agent")
    assert found == tmp_path / "charts" / "real" / "agent-1.0.0.tgz"


# ------------------------------------------------------------------------------------------ helm argv
def test_helm_argv_for_install_upgrade_and_template_never_carries_credentials(tmp_path: Path) -> None:
    RepoCredentials("extctl", SECRET)  # registered, as the controller would have it
    helm = HelmClient(HelmRunner(HelmSettings(binary="helm", server_side=False)))
    chart = chart_locator(ChartRef("https://extctl:pw@charts.example", "agent"), "1.0.0", repo_root=tmp_path,
                          chart_versions=[ChartVersion("1.0.0", urls=("agent-1.0.0.tgz",), digest="ab" * 32)])
    local = ChartLocator(ref=str(tmp_path / "agent-1.0.0.tgz"), version="1.0.0")
    request = ReleaseRequest(name="agent", namespace="ns", chart=chart, values={"k": "v"}, labels={"a": "b"})
    values = tmp_path / "values.json"
    argvs = [helm.install_args(request, local, values), helm.upgrade_args(request, local, values),
             helm.template_args(request, local, values)]
    for argv in argvs:
        text = " ".join(argv)
        for forbidden in (SECRET, "--password", "--username", "--repo", "charts.example", "pw", "oci://",
                          "--plain-http"):
            assert forbidden not in argv and (forbidden not in text or forbidden == "pw"), (forbidden, argv)
        assert argv[2] == str(local.ref)
    # A remote chart that was not downloaded cannot even produce an argv.
    for build in (helm.install_args, helm.upgrade_args, helm.template_args):
        with pytest.raises(InternalError, match="was not downloaded before running helm"):
            build(request, chart, values)


def test_a_helm_client_without_a_downloader_refuses_remote_charts(tmp_path: Path) -> None:
    import asyncio

    helm = HelmClient(HelmRunner(HelmSettings(binary=str(tmp_path / "no-helm"))))
    remote = ChartLocator(ref="agent", version="1.0.0", repository="https://charts.example")
    with pytest.raises(InternalError, match="no chart downloader is configured"):
        asyncio.run(helm.local_chart(remote))
    assert helm.runner.calls == 0
