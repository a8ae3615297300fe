"""The ``--repo-credentials`` option shared by every command that reads chart repositories.

Owns: the flag (and its help text naming the environment forms) and loading the host-bound
``CredentialStore`` from it (``controller.catalog.load_credentials``; docs/credentials.md).
Must not: read credentials itself or import the engine (``catalog`` and ``resolve`` stay cheap to start).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from controller.catalog import CredentialStore, load_credentials
from controller.catalog.credentials_file import FILE_ENV


def add_credentials_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repo-credentials", metavar="FILE", type=Path, default=None,
                        help="YAML file binding chart-repository credentials to hosts (env "
                             f"{FILE_ENV}; or EXTCTL_REPO_HOST + EXTCTL_REPO_USERNAME/_PASSWORD_FILE/"
                             "_TOKEN_FILE for one host); see docs/credentials.md")


def repository_credentials(args: Any) -> CredentialStore:
    """The host-bound credentials for this command (raises ``CredentialsInvalid`` naming the problem)."""
    return load_credentials(getattr(args, "repo_credentials", None))
