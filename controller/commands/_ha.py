"""``extctl run``'s production options: leader election (``--leader-elect``), webhooks, trigger coalescing.

Owns: their flags and environment variables, checking them (a usage error names the flag), building the
``LeaderElector`` on the system namespace's Lease, and the answers of ``/readyz`` and ``/healthz`` for a
replica that may be a follower or shutting down: a follower is alive and not ready (it says who leads),
a replica shutting down is not ready from the moment the signal arrives.
Must not: run passes or serve HTTP (``commands/run.py`` and ``controller/http`` do).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from controller.commands._flags import duration
from controller.errors import ExtctlError
from controller.http.health import Health, Verdict
from controller.leader import LeaderElector, default_identity, lease_name
from controller.models.leader import Timings
from controller.models.triggers import DEFAULT_QUIET_S


def _env_bool(name: str) -> bool:
    return (os.environ.get(name) or "").strip().lower() in {"1", "true", "yes", "on"}


def add_ha_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("high availability and webhooks (docs/operations.md)")
    group.add_argument("--leader-elect", action="store_true", default=_env_bool("EXTCTL_LEADER_ELECT"),
                       help="run as one of several replicas: only the holder of the Lease extctl-leader-<instance> "
                            "reconciles, the others wait and report not-ready (env EXTCTL_LEADER_ELECT=true)")
    group.add_argument("--leader-election-namespace", default=os.environ.get("EXTCTL_LEADER_ELECTION_NAMESPACE")
                       or "extctl-system", metavar="NAMESPACE",
                       help="namespace of the Lease (default extctl-system; env EXTCTL_LEADER_ELECTION_NAMESPACE)")
    group.add_argument("--leader-election-lease-duration", type=duration, default=15.0, metavar="DURATION",
                       help="how long followers wait after the leader's last renewal before taking over (default 15s)")
    group.add_argument("--leader-election-renew-deadline", type=duration, default=10.0, metavar="DURATION",
                       help="how long the leader keeps trying to renew before it steps down (default 10s)")
    group.add_argument("--leader-election-retry-period", type=duration, default=2.0, metavar="DURATION",
                       help="time between renewals, and between a follower's attempts (default 2s)")
    group.add_argument("--webhook-secret-file", default=None, metavar="FILE",
                       help="enables POST /hooks/github, /hooks/gitlab and /hooks/generic on --http-addr, "
                            "authenticated with the secret in FILE (env EXTCTL_WEBHOOK_SECRET_FILE)")
    group.add_argument("--trigger-quiet", type=duration, default=DEFAULT_QUIET_S, metavar="DURATION",
                       help="a webhook or file change starts a pass once no other came for this long (at most 1s "
                            "after the first), so a burst gives one pass (default 100ms)")


def timings(args: Any) -> Timings:
    """The leader election timings, checked (a usage error names the flags)."""
    chosen = Timings(args.leader_election_lease_duration, args.leader_election_renew_deadline,
                     args.leader_election_retry_period)
    problem = chosen.problem()
    if problem is not None:
        raise ExtctlError(f"--leader-election-lease-duration/-renew-deadline/-retry-period: {problem}",
                          reason="InvalidArgument", hint="the defaults are 15s, 10s and 2s")
    return chosen


def build_elector(args: Any, *, on_acquired: Callable[[], None], on_lost: Callable[[str], None]) -> LeaderElector:
    from controller.cluster import KubeCluster  # noqa: PLC0415 - the kubernetes client costs 0.5 s to import
    from controller.cluster.lease import LeaseApi  # noqa: PLC0415 - same

    chosen = timings(args)
    cluster = KubeCluster(kube_context=args.kube_context, kubeconfig=args.kubeconfig)
    cluster.check_config()
    # A request never outlasts a retry period: a hung API server must not hold up the renew deadline.
    api = LeaseApi(cluster, args.leader_election_namespace, lease_name(args.instance),
                   timeout=max(0.5, chosen.retry_period_s))
    return LeaderElector(api, default_identity(), chosen, on_acquired=on_acquired, on_lost=on_lost)


@dataclass
class Probes:
    """``/healthz`` and ``/readyz`` of a replica that may follow (``elector``) or be shutting down."""

    health: Health
    elector: LeaderElector | None = None
    stopping: bool = False

    def following(self) -> str | None:
        """None when this replica leads (or runs alone); else who does."""
        if self.elector is None or self.elector.is_leader:
            return None
        holder = self.elector.holder
        return f"not the leader: {self.elector.api.described} is held by {holder}" if holder \
            else f"not the leader yet: campaigning for {self.elector.api.described}"

    def live(self) -> Verdict:
        if self.elector is not None and not self.elector.running:
            return Verdict(False, "leader election stopped")
        follower = self.following()
        if follower is not None:
            return Verdict(True, f"following ({follower})")
        return self.health.live()

    def ready(self) -> Verdict:
        if self.stopping:
            return Verdict(False, "shutting down")
        follower = self.following()
        if follower is not None:
            return Verdict(False, follower)
        return self.health.ready()
