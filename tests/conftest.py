"""Shared pytest fixtures: the real-component harness.

Fixtures live in ``tests/support/`` (one module per outside system) and are imported here so
that every test directory sees them. Nothing here fakes helm, git or the Kubernetes API.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.chart_repo import chart_packager, chart_repo, chart_repo_auth, chart_repo_factory  # noqa: F401
from tests.support.git_remote import git_remote, git_remote_factory  # noqa: F401
from tests.support.oci_registry import oci_registry, oci_registry_auth, oci_registry_token  # noqa: F401
from tests.support.sandbox import sandbox, unique_name  # noqa: F401


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-goldens", action="store_true", default=False,
                     help="rewrite tests/integration/golden/* from the current output (review the diff!)")


@pytest.fixture(autouse=True)
def _fresh_secret_registry() -> Iterator[None]:
    """Each test starts with the redaction registry of a fresh extctl process: a secret registered by an
    earlier test in the same worker (a fuzzed password such as ``t-1``) must not redact this test's output."""
    from controller import logs

    saved = set(logs._SECRETS)
    logs._SECRETS.clear()
    try:
        yield
    finally:
        logs._SECRETS.clear()
        logs._SECRETS.update(saved)
