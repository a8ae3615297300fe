"""``extctl preview``: what merging a pull request would change, with rendered-manifest diffs.

Builds the desired state at ``--base`` and ``--head``, plans head against base (or against the live
cluster with ``--cluster``), renders every changing extension on both sides with ``helm template``
and prints a report (markdown by default, ``text`` or ``json``) to stdout; logs go to stderr.
``--cluster NAME`` compares both sides as the inventory's cluster NAME sees them; ``--fleet`` does that
for every cluster of the inventory and prints one report with a matrix (``preview/fleet.py``).
``--post github`` also creates or updates one sticky comment on the pull request.
Exit codes: 0 nothing changes, 2 changes, 1 error (invalid manifests at head included).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from controller.commands import SUMMARIES
from controller.commands._credentials import add_credentials_option, repository_credentials
from controller.commands._flags import duration, integer
from controller.commands._options import _env_default, add_kube_options, add_log_options
from controller.commands._source import add_ssh_known_hosts_option, default_cache_dir, git_auth
from controller.errors import ExtctlError
from controller.github import GitHubClient, resolve_target
from controller.helm import HelmClient, HelmRunner, HelmSettings
from controller.logs import configure, get_logger
from controller.models.placement import ClusterIdentity
from controller.preview import (
    DEFAULT_MAX_BYTES,
    MARKER,
    Previewer,
    PreviewRequest,
    render_json,
    render_markdown,
    render_text,
)
from controller.preview.fleet import FleetPreviewer
from controller.preview.fleet_report import FLEET_MARKER, render_fleet_json, render_fleet_markdown, render_fleet_text


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "preview", help=SUMMARIES["preview"],
        description="Compare the extensions at --head with --base (or the live cluster) and show the rendered "
                    "manifest diff of every extension that changes. Exit 0: no changes, 2: changes, 1: error.")
    parser.add_argument("--source", required=True, help="Git URL or a local Git working tree")
    parser.add_argument("--base", required=True, help="base ref: branch, tag, full ref or sha (e.g. origin/main)")
    parser.add_argument("--head", required=True, help="head ref: branch, tag, full ref or sha")
    parser.add_argument("--path", default=None, help="subdirectory of the repository holding the manifests")
    parser.add_argument("--cache-dir", type=Path, default=default_cache_dir(),
        help="where Git clones and parsed manifests are cached (default: ~/.cache/extctl, or $EXTCTL_CACHE_DIR)")
    add_ssh_known_hosts_option(parser)
    parser.add_argument("--cluster", nargs="?", const="", default=None, metavar="NAME",
                        help="without NAME: plan head against the live cluster's releases instead of base (needs kube "
                             "access; never reads Secrets or release values; the cluster's view per its "
                             "--cluster-name, EXTCTL_CLUSTER_NAME or ConfigMap). With NAME: compare both sides as the "
                             "inventory's cluster NAME sees them (offline, unless --kube-context or --kubeconfig is "
                             "given)")
    parser.add_argument("--fleet", action="store_true",
                        help="preview every cluster of the inventory (kind: Cluster): a matrix of extension x cluster, "
                             "then each changing cluster's details (docs/fleet.md)")
    add_kube_options(parser)
    parser.add_argument("--instance", default=_env_default("EXTCTL_INSTANCE", "default"),
                        help="extctl instance whose releases count as deployed (env EXTCTL_INSTANCE)")
    parser.add_argument("--output", "-o", choices=["markdown", "json", "text"], default="markdown")
    parser.add_argument("--max-bytes", type=integer(0), default=DEFAULT_MAX_BYTES,
                        help=f"truncate the markdown report per extension to this size (default {DEFAULT_MAX_BYTES}; "
                             "0 = no limit)")
    parser.add_argument("--concurrency", type=integer(1), default=4, help="charts rendered at once (default: 4)")
    parser.add_argument("--helm-timeout", type=duration, default=120.0, metavar="DURATION",
                        help="time per helm template, e.g. 2m or 120 (default 2m)")
    parser.add_argument("--post", choices=["github"], default=None,
                        help="also create or update a sticky comment on the pull request")
    parser.add_argument("--github-repository", default=None, help="owner/name (default: $GITHUB_REPOSITORY)")
    parser.add_argument("--github-pr", type=integer(1), default=None,
                        help="pull request number (default: from $GITHUB_EVENT_PATH)")
    parser.add_argument("--github-token-env", default="GITHUB_TOKEN",
                        help="environment variable holding the token (default: GITHUB_TOKEN)")
    parser.add_argument("--github-comment-author", default=None, metavar="LOGIN",
                        help="the login the token posts as; only a marked comment by this login is updated (default: "
                             "GET /user, or github-actions[bot] for an installation token such as Actions' "
                             "GITHUB_TOKEN)")
    parser.add_argument("--github-api-url", default=None, help="API base URL (default: $GITHUB_API_URL or "
                        "https://api.github.com)")
    add_credentials_option(parser)
    add_log_options(parser)
    parser.set_defaults(handler=run)


def _engine(args: argparse.Namespace) -> Any:
    # Imported here: only --cluster needs the engine, and importing it costs a preview 0.05-0.1 s.
    from controller.commands._engine import add_engine_options, build_engine  # noqa: PLC0415

    # The engine's own defaults for every option it knows, so new engine options need no change here.
    engine_parser = argparse.ArgumentParser(add_help=False)
    add_engine_options(engine_parser)
    engine_args = engine_parser.parse_args(["--source", args.source])
    for name in ("path", "cache_dir", "ssh_known_hosts", "kubeconfig", "kube_context", "instance", "concurrency",
                 "helm_timeout", "log_format", "log_level"):
        setattr(engine_args, name, getattr(args, name))
    return build_engine(engine_args, mode="plan", log_stream=sys.stderr)


def run(args: argparse.Namespace) -> int:
    configure(args.log_format, args.log_level, stream=sys.stderr)
    if args.fleet and args.cluster is not None:
        raise ExtctlError("--fleet previews every cluster of the inventory; drop --cluster (or drop --fleet to "
                          "preview one cluster)", reason="UsageError")
    named = ClusterIdentity(args.cluster, {}, source="--cluster") if args.cluster else None
    live = args.cluster == "" or (named is not None and (args.kube_context or args.kubeconfig) is not None)
    request = PreviewRequest(
        source=args.source, base=args.base, head=args.head, cache_dir=args.cache_dir, path=args.path,
        instance=args.instance, concurrency=args.concurrency, auth=git_auth(args),
        credentials=repository_credentials(args), cluster=named)
    # helm only renders here (``helm template``): it gets no kubeconfig, even with --cluster, so a chart's
    # ``lookup`` stays empty. --cluster reads releases through the engine's own helm client.
    helm = HelmClient(HelmRunner(HelmSettings.from_env(timeout_s=args.helm_timeout, cluster_access=False)))
    target = None
    if args.post == "github":  # fail before the (slow) preview when posting cannot work
        target = resolve_target(repository=args.github_repository, pull_request=args.github_pr,
                                token_env=args.github_token_env, api_url=args.github_api_url,
                                comment_author=args.github_comment_author)
    if args.fleet:
        fleet = asyncio.run(FleetPreviewer(request, helm).run_fleet())
        markdown, marker, exit_code = render_fleet_markdown(fleet, max_bytes=args.max_bytes), FLEET_MARKER, \
            fleet.exit_code
        document, text = render_fleet_json(fleet), render_fleet_text(fleet)
    else:
        engine = _engine(args) if live else None
        previewer = Previewer(request, helm, observe=engine.observe_cluster if engine else None,
                              identify=engine.parts.scope.resolve if engine and named is None else None)
        result = asyncio.run(previewer.run())
        markdown, marker, exit_code = render_markdown(result, max_bytes=args.max_bytes), MARKER, result.exit_code
        document, text = render_json(result), render_text(result)
    if args.output == "json":
        print(json.dumps(document, indent=2, ensure_ascii=False))
    elif args.output == "text":
        print(text, end="")
    else:
        print(markdown, end="")
    sys.stdout.flush()
    if target is not None:
        try:
            what, comment_id = GitHubClient(target, marker=marker).upsert(markdown)
        except ExtctlError as exc:
            get_logger().error("preview.post_failed", error=str(exc), reason=exc.reason)
            print(f"extctl: error: {exc}", file=sys.stderr)
            return 1
        print(f"extctl: preview comment {what} (id {comment_id}) on {target.repository}#{target.pull_request}",
              file=sys.stderr)
    return exit_code
