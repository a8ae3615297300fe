"""Options and wiring shared by ``run``, ``reconcile``, ``plan`` and ``preview --cluster``.

Owns: the common flags (source, apply mode, concurrency, readiness/drift/adoption, logging) and turning
them into an ``Engine`` wired to the edge modules for one mode (apply, plan, offline). Must not:
implement any phase itself.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from controller.apply import ChartDownloads, Executor
from controller.catalog import CatalogService
from controller.commands._cluster import add_cluster_options, cluster_scope
from controller.commands._credentials import repository_credentials
from controller.commands._flags import duration, fraction, integer
from controller.commands._options import _env_default, add_kube_options, add_log_options
from controller.commands._source import add_source_options, git_auth
from controller.desired import OfflineProtectedReader, ProtectedSettingsReader
from controller.engine import Engine, EngineParts, ReconcileSettings
from controller.helm import HelmClient, HelmRunner, HelmSettings
from controller.logs import configure
from controller.manifests.cache import ParseCache
from controller.models.manifests import DriftMode
from controller.observe import NullObserver, ReleaseObserver
from controller.observe.drift import DriftChecker, DriftSchedule
from controller.source import open_source
from controller.state import NullStateStore, StateStore
from controller.status.publisher import NullStatusPublisher, StatusPublisher


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"true", "1", "yes", "on"}:
        return True
    if lowered in {"false", "0", "no", "off"}:
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    add_source_options(parser)
    group = parser.add_argument_group("cluster and helm")
    add_kube_options(group)
    group.add_argument("--instance", default=_env_default("EXTCTL_INSTANCE", "default"),
                       help="name of this extctl instance; it only ever changes releases labelled with it, so "
                            "several instances (one per Git source) can share a cluster (env EXTCTL_INSTANCE)")
    add_cluster_options(parser)
    group.add_argument("--concurrency", type=integer(1), default=4, help="helm actions run at once (default: 4)")
    group.add_argument("--helm-timeout", type=duration, default=300.0, metavar="DURATION",
                       help="time per helm action, e.g. 5m or 300 (default 5m; passed as --timeout, the process gets "
                            "a hard deadline a little later)")
    group.add_argument("--helm-server-side", type=_bool, default=None,
                       help="true|false: helm's --server-side apply mode (env EXTCTL_HELM_SERVER_SIDE)")
    group.add_argument("--helm-openapi-validation", type=_bool, default=None,
                       help="true|false: validate rendered manifests against the server's OpenAPI "
                            "(env EXTCTL_HELM_OPENAPI_VALIDATION)")
    safety = parser.add_argument_group("safety and remediation")
    safety.add_argument("--remediation-retries", type=integer(0), default=3,
                        help="retries after a failed install/upgrade, with exponential backoff (default 3; "
                             "spec.remediation.retries overrides per extension)")
    safety.add_argument("--remediation-backoff", type=duration, default=10.0,
                        help="first retry delay after a failure; doubles per failure, capped at 10m (default 10s)")
    safety.add_argument("--pending-timeout", type=duration, default=48 * 3600.0,
                        help="how long an extension may wait for a missing protected-settings Secret before it "
                             "is Failed (default 48h, as in Arc)")
    safety.add_argument("--max-prune", type=fraction, default=0.5,
                        help="refuse a revision that would uninstall more than this share of the managed releases "
                             "(default 50%%; a revision with no extensions is always refused)")
    safety.add_argument("--allow-mass-prune", action="store_true",
                        help="accept a revision that trips the prune guard (or commit .extctl/allow-mass-prune)")
    group.add_argument("--catalog-ttl", type=duration, default=300.0,
                       help="how long a fetched chart repository index is used before it is checked again "
                            "(default 5m; a repository that is down then falls back to the last index)")
    safety.add_argument("--lock-timeout", type=duration, default=None,
                        help="a release left pending-* longer than this by a dead helm process is recovered "
                             "(default: --helm-timeout)")
    add_health_options(parser)
    add_log_options(parser)


def add_health_options(parser: argparse.ArgumentParser) -> None:
    """Readiness, drift and adoption (docs/health-and-drift.md); each extension's spec overrides them."""
    health = parser.add_argument_group("readiness, drift and adoption")
    health.add_argument("--wait", type=_bool, default=os.environ.get("EXTCTL_WAIT") or "true", metavar="true|false",
                        help="an install or upgrade succeeds only once the release's resources are ready (helm "
                             "--wait=watcher, Jobs completed), within spec.timeout or --helm-timeout; spec.wait "
                             "overrides it per extension (env EXTCTL_WAIT, default true)")
    health.add_argument("--drift-detection", choices=["enabled", "warn", "disabled"],
                        default=os.environ.get("EXTCTL_DRIFT_DETECTION") or "warn",
                        help="compare each release's objects with the cluster: enabled corrects drift with an "
                             "upgrade, warn reports it, disabled does not look; spec.driftDetection.mode "
                             "overrides it (env EXTCTL_DRIFT_DETECTION, default warn)")
    health.add_argument("--drift-interval", type=duration, default="10m",
                        help="how often each release's objects are compared with the cluster (remembered across "
                             "processes; 0: every pass; default 10m)")
    health.add_argument("--drift-batch", type=integer(0), default=100,
                        help="releases compared per pass at most, the most overdue first (0: no limit; default 100)")
    health.add_argument("--take-ownership", action="store_true",
                        help="adopt existing Helm releases that no extctl instance owns, for every extension of "
                             "this run (as spec.takeOwnership: true): an upgrade with helm --take-ownership")


def build_engine(args: Any, *, mode: str, log_stream: Any = None) -> Engine:
    """``mode``: ``apply`` (reconcile, run), ``plan`` (read-only: reads the cluster, writes nothing) or
    ``offline`` (no cluster at all: an empty one is assumed). Null parts stand in for what a mode must
    not touch. Raises ``ClusterError`` at once when the Kubernetes configuration cannot be loaded."""
    configure(args.log_format, args.log_level, stream=log_stream)
    source = open_source(args.source, branch=args.branch, path=args.path, cache_dir=args.cache_dir,
                         auth=git_auth(args))
    helm_settings = HelmSettings.from_env(
        timeout_s=args.helm_timeout, server_side=args.helm_server_side,
        openapi_validation=args.helm_openapi_validation, kube_context=args.kube_context,
        kubeconfig=args.kubeconfig)
    credentials = repository_credentials(args)
    settings = ReconcileSettings(
        concurrency=args.concurrency, offline=mode == "offline", instance=args.instance,
        remediation_retries=args.remediation_retries, backoff_base_s=args.remediation_backoff,
        pending_timeout_s=args.pending_timeout, max_prune=args.max_prune, allow_mass_prune=args.allow_mass_prune,
        lock_timeout_s=args.lock_timeout if args.lock_timeout is not None else args.helm_timeout,
        reset=tuple(getattr(args, "reset", None) or ()), drift_mode=DriftMode(args.drift_detection),
        take_ownership=args.take_ownership)
    catalog = CatalogService(credentials=credentials, clock=time.monotonic, ttl_s=args.catalog_ttl)
    parse_cache = ParseCache(Path(args.cache_dir) / "manifests")
    if mode == "offline":
        parts = EngineParts(source, catalog, NullObserver(), NullStateStore(), OfflineProtectedReader(),
                            parse_cache=parse_cache, scope=cluster_scope(args))
        return Engine(parts, settings)
    from controller.cluster import KubeCluster  # noqa: PLC0415 - the kubernetes client costs 0.5 s to import
    from controller.cluster.extensions import ExtensionObjects  # noqa: PLC0415 - same
    from controller.cluster.live import LiveObjects  # noqa: PLC0415 - same

    cluster = KubeCluster(kube_context=args.kube_context, kubeconfig=args.kubeconfig)
    cluster.check_config()
    # Remote charts are downloaded by extctl (host-bound credentials, digest-verified) into the chart cache;
    # helm only ever gets a local archive.
    helm = HelmClient(HelmRunner(helm_settings),
                      charts=ChartDownloads(credentials, Path(args.cache_dir) / "charts") if mode == "apply" else None)
    store = StateStore(cluster, namespace=settings.system_namespace, instance=settings.instance, reset=settings.reset)
    applying = mode == "apply"
    parts = EngineParts(
        source, catalog, ReleaseObserver(helm, concurrency=settings.concurrency),
        store if applying else NullStateStore(store),
        ProtectedSettingsReader(cluster, system_namespace=settings.system_namespace, create_key=applying),
        executor=Executor(helm, cluster, wait=args.wait) if applying else None,
        drift=DriftChecker(helm, LiveObjects(cluster), concurrency=settings.concurrency, schedule=DriftSchedule(
            interval_s=args.drift_interval, batch=args.drift_batch if args.drift_batch > 0 else None)),
        helm_calls=lambda: helm.runner.calls, parse_cache=parse_cache,
        scope=cluster_scope(args, cluster, system_namespace=settings.system_namespace),
        status=StatusPublisher(ExtensionObjects(cluster), instance=settings.instance) if applying
        else NullStatusPublisher())
    return Engine(parts, settings)
