"""The one input model of every command that reads manifests: ``--source`` (a Git URL or a directory)
and ``--path`` (the manifests directory inside it), with ``--branch``, ``--cache-dir``,
``--ssh-known-hosts`` and ``--repo-credentials``.

Owns: those flags (``validate``, ``resolve``, ``catalog versions``, ``fleet status``, ``plan``,
``reconcile``, ``run``; ``preview`` adds its refs), the Git credentials of ``EXTCTL_GIT_*``, and
``open_snapshot``, which hands a read-only command the manifests directory and the source root of the
current revision through ``controller.source`` (a local directory is used as it is, a Git URL is
cloned into the cache). Local chart repositories are then relative to the manifests directory
(``catalog.local.LOCAL_RULE``), the same for every command.
Must not: touch Git or the filesystem itself (``controller.source`` does), or parse manifests.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from controller.source import GitAuth, LocalSource, Snapshot, open_source
from controller.source.locations import display_location


def default_cache_dir() -> Path:
    """``$EXTCTL_CACHE_DIR``, else ``~/.cache/extctl``."""
    return Path(os.environ.get("EXTCTL_CACHE_DIR") or Path.home() / ".cache" / "extctl")


def add_source_options(parser: argparse.ArgumentParser, *, required: bool = True, credentials: bool = True) -> None:
    """``--source``/``--path``/``--branch``/``--cache-dir``/``--ssh-known-hosts`` and (unless ``credentials``
    is False: ``validate`` reads no chart repository) ``--repo-credentials``. ``required=False``:
    ``--source`` defaults to the current directory (the read-only commands)."""
    group = parser.add_argument_group("source")
    group.add_argument("--source", required=required, default=None if required else ".", metavar="URL|DIR",
                       help="Git URL (https, ssh, git@host:path, file://) or a local directory"
                            + ("" if required else " (default: .)"))
    group.add_argument("--path", default=None, metavar="DIR",
                       help="the manifests directory inside the source (default: its root); local chart "
                            "repositories are relative to it")
    group.add_argument("--branch", default="main", help="branch to follow for a Git URL (default: main)")
    group.add_argument("--cache-dir", type=Path, default=default_cache_dir(),
                       help="where Git clones and parsed manifests are cached (default: ~/.cache/extctl, or "
                            "$EXTCTL_CACHE_DIR)")
    add_ssh_known_hosts_option(group)
    if credentials:
        from controller.commands._credentials import add_credentials_option  # noqa: PLC0415 - loads the catalog

        add_credentials_option(parser)


def add_ssh_known_hosts_option(group: Any) -> None:
    group.add_argument("--ssh-known-hosts", metavar="FILE", default=None,
                       help="known_hosts file with the host keys of SSH Git remotes; required for ssh:// and "
                            "git@host:path sources, no key is trusted on first use (env EXTCTL_SSH_KNOWN_HOSTS; "
                            "create it with ssh-keyscan HOST and check the fingerprints)")


def git_auth(args: Any) -> GitAuth | None:
    """Git credentials from ``EXTCTL_GIT_*`` plus ``--ssh-known-hosts`` (else ``EXTCTL_SSH_KNOWN_HOSTS``)."""
    return GitAuth.from_env(os.environ, known_hosts=getattr(args, "ssh_known_hosts", None))


def open_snapshot(args: Any, *, digest: bool = False) -> Snapshot:
    """The current revision of ``--source`` at ``--path``: ``root`` is the manifests directory,
    ``repo_root`` the source's root. A local directory is hashed only with ``digest`` (a command that
    shows no revision needs none); a Git URL is fetched into ``--cache-dir``."""
    source = open_source(args.source, branch=args.branch, path=args.path, cache_dir=args.cache_dir,
                         auth=git_auth(args))
    return source.fetch(digest=digest) if isinstance(source, LocalSource) else source.fetch()


def source_label(args: Any) -> str:
    """How messages name the manifests: ``sample-repo``, ``./sample-repo`` or ``https://host/repo.git (path x)``."""
    if isinstance(args.path, str) and args.path.strip("/") not in ("", "."):
        if "://" in args.source or not os.path.isdir(args.source):
            return f"{display_location(args.source)} (path {args.path})"
        return (Path(args.source) / args.path.strip("/")).as_posix()
    return display_location(args.source)
