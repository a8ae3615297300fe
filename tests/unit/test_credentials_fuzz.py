"""Property tests (hypothesis): URL, index and credentials-file parsing raise nothing but extctl's errors.

Whatever text a repository serves as ``index.yaml``, whatever a credentials file or ``EXTCTL_REPO_HOST``
holds and whatever URL a manifest, an index or a redirect names, the parsers answer with a value or an
``ExtctlError`` (the CLI prints those as one line); anything else would be a traceback for a user.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.catalog import CredentialStore, RepoCredentials, load_credentials
from controller.catalog.credentials import Binding
from controller.catalog.credentials_file import parse_credentials_text, parse_host
from controller.catalog.index import parse_index
from controller.catalog.local import local_chart_archive
from controller.catalog.oci import oci_repository, parse_challenge
from controller.errors import ExtctlError
from controller.urls import has_userinfo, is_loopback_url, join_url_path, sanitize_url

_SCALE = float(os.environ.get("EXTCTL_FUZZ_SCALE", "1"))
URL_ALPHABET = st.sampled_from([*"abcxyz019:/@[]?#%.-_~+ \\\t\n", "http://", "https://", "oci://", "::1",
                                 "127.0.0.1", "..", "user:pw@", ":99999"])
URLS = st.one_of(st.text(max_size=60), st.lists(URL_ALPHABET, max_size=20).map("".join))
YAML_TOKENS = st.sampled_from(["entries:", "credentials:", "\n", "  ", "- ", "host: ", "tokenFile: ", "username: ",
                               "passwordFile: ", "insecure: ", "version: ", "urls: ", "digest: ", "[", "]", "{", "}",
                               ",", ":", "&a ", "*a", "!!binary ", "!!python/object ", "1.0.0", "x", "'", '"', "~",
                               "null", "true", "0x1F", "- - -", "%YAML 1.2\n", "---\n", "\t", "\0", "\ufeff", "é"])
YAML_TEXT = st.one_of(st.text(max_size=200), st.lists(YAML_TOKENS, max_size=40).map("".join))


def fuzz(examples: int) -> settings:
    return settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
                    max_examples=max(1, int(examples * _SCALE)))


@fuzz(400)
@given(URLS)
def test_url_helpers_never_raise(url: str) -> None:
    sanitize_url(url)
    has_userinfo(url)
    is_loopback_url(url)
    # ValueError: urllib's own refusal of a malformed IPv6 host; callers only join validated repository URLs.
    with contextlib.suppress(ValueError):
        join_url_path(url, "index.yaml")


@fuzz(400)
@given(URLS, URLS)
def test_credential_lookups_answer_or_refuse_with_extctl_errors(url: str, host: str) -> None:
    bound = CredentialStore([Binding("charts.example", None, (), RepoCredentials(token="fuzz-token-1"))])
    with contextlib.suppress(ExtctlError):
        bound.for_url(url)
    bound.allowed_for_url(url)
    bound.restricted_to_hosts([url, host])
    # ValueError is turned into a located CredentialsInvalid by the callers (load_credentials, below).
    with contextlib.suppress(ValueError):
        parse_host(host)
    with contextlib.suppress(ExtctlError):
        load_credentials(environ={"EXTCTL_REPO_HOST": host, "EXTCTL_REPO_TOKEN": "fuzz-token-2"})


@fuzz(300)
@given(URLS, st.text(max_size=20))
def test_oci_references_and_challenges(repository: str, chart: str) -> None:
    # ValueError only for a reference that is not oci:// (a programming error, not user input).
    with contextlib.suppress(ExtctlError, ValueError):
        oci_repository("oci://" + repository, chart or "c")
    parse_challenge(repository)


@fuzz(400)
@given(YAML_TEXT)
def test_index_parsing_raises_only_extctl_errors(text: str) -> None:
    with contextlib.suppress(ExtctlError):
        parse_index(text, "charts/index.yaml")


@fuzz(400)
@given(YAML_TEXT)
def test_credentials_file_parsing_raises_only_extctl_errors(text: str) -> None:
    with tempfile.TemporaryDirectory(prefix="extctl-fuzz-") as directory:
        (Path(directory) / "x").write_text("fuzz-secret-value\n")
        with contextlib.suppress(ExtctlError):
            parse_credentials_text(text, "creds.yaml", Path(directory))


@fuzz(300)
@given(st.lists(URLS, min_size=1, max_size=2), st.text(max_size=10))
def test_local_index_urls_are_confined_or_refused(urls: list[str], version: str) -> None:
    from controller.catalog.index import ChartVersion

    with tempfile.TemporaryDirectory(prefix="extctl-fuzz-") as directory:
        root = Path(directory) / "src"
        (root / "charts").mkdir(parents=True)
        try:
            found = local_chart_archive(root, "charts", ChartVersion(version or "1", urls=tuple(urls)), chart="c")
        except ExtctlError:
            return
        assert found.resolve().is_relative_to((root / "charts").resolve())
