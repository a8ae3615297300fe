"""``extctl run``: reconcile at start, then every ``--interval`` (with jitter), until SIGTERM/SIGINT.

A pass never ends the process: source, cluster and internal errors are pass outcomes, logged, and
retried with backoff (5s, 10s, 20s… up to the interval); a pass that unlocked a stuck release is
followed by another pass at once.

In local-directory mode a manifest change triggers a pass at once (watchfiles). On SIGTERM or
SIGINT a running pass is allowed to finish (up to ``--shutdown-grace``), so helm actions are never
cut off half-way in the normal case; then the process exits 0.

With ``--http-addr`` it serves ``/metrics`` (Prometheus), ``/healthz`` (the loop is alive) and ``/readyz``
(the first pass finished); see docs/observability.md. With ``--webhook-secret-file`` it also serves the
webhook routes (``controller/http/hooks.py``): an accepted push triggers a pass, coalesced with other
triggers (``controller/engine/triggers.py``). With ``--leader-elect`` only the holder of the Lease runs
passes (``controller/leader``); a replica that loses the Lease mid-pass starts no new helm action, lets the
running ones finish, writes no state, and steps down to follower (it campaigns again). On SIGTERM,
``/readyz`` fails first, the running pass finishes (``--shutdown-grace``), then the Lease is released.
See docs/operations.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import random
import signal
from pathlib import Path
from typing import Any

from controller.commands import SUMMARIES
from controller.commands._engine import add_engine_options, build_engine
from controller.commands._flags import INTERVAL_FLOOR_S, duration, interval_problem
from controller.commands._ha import Probes, add_ha_options, build_elector
from controller.engine import Engine
from controller.engine.triggers import Triggers, Wake
from controller.errors import ExtctlError
from controller.http import Health, HttpServer, Request, Response, Route
from controller.http.hooks import secret_file, webhook_routes
from controller.leader import LeaderElector
from controller.logs import get_logger
from controller.models.triggers import Coalescer
from controller.source import awatch_local
from controller.status.metrics import Metrics

JITTER_FRACTION = 0.1
ERROR_BACKOFF_BASE_S = 5.0
RETRYABLE_OUTCOMES = frozenset({"source-error", "cluster-error", "internal-error"})


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "run", help=SUMMARIES["run"])
    add_engine_options(parser)
    parser.add_argument("--interval", type=duration, default=60.0,
                        help="time between passes (default 60s; at least --min-interval; 0: passes only when a "
                             "webhook or a change of a local --source directory triggers them)")
    parser.add_argument("--min-interval", type=duration, default=INTERVAL_FLOOR_S, metavar="DURATION",
                        help="the shortest --interval accepted (default 5s; lower it for a lab or a test only)")
    parser.add_argument("--shutdown-grace", type=duration, default=330.0,
                        help="on SIGTERM, how long a running pass may take to finish (default 330s)")
    parser.add_argument("--http-addr", default=os.environ.get("EXTCTL_HTTP_ADDR") or None, metavar="HOST:PORT",
                        help="serve /metrics, /healthz and /readyz here, e.g. 127.0.0.1:8080 (in a pod 0.0.0.0:8080; "
                             "env EXTCTL_HTTP_ADDR; default: no HTTP server)")
    parser.add_argument("--liveness-deadline", type=duration, default=1800.0,
                        help="/healthz fails when a pass runs longer than this, or when no pass started this long "
                             "after --interval (default 30m)")
    add_ha_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_main(args))


async def _main(args: argparse.Namespace) -> int:
    local_dir = Path(args.source)
    local = "://" not in args.source and local_dir.is_dir()
    problem = interval_problem(args.interval, triggered=local or args.webhook_secret_file is not None,
                               floor_s=args.min_interval)
    if problem is not None:
        raise ExtctlError(problem, reason="InvalidArgument", hint="the default is 60s")
    engine = build_engine(args, mode="apply")
    log = get_logger()
    # --interval 0: no timer; a pass starts on a trigger only (the liveness idle check is then off).
    idle_s = args.interval * (1 + JITTER_FRACTION) if args.interval else math.inf
    health = Health(deadline_s=args.liveness_deadline, idle_s=idle_s)
    stop, leading = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()
    triggers = Triggers(Coalescer(quiet_s=args.trigger_quiet))
    secret = secret_file(args.webhook_secret_file)
    if secret is not None and not args.http_addr:
        raise ExtctlError("--webhook-secret-file needs --http-addr: webhooks are served by the HTTP server",
                          reason="InvalidArgument", hint="add --http-addr 0.0.0.0:8080")

    def acquired() -> None:  # called on the elector's thread
        loop.call_soon_threadsafe(leading.set)

    elector = build_elector(args, on_acquired=acquired, on_lost=engine.halt) if args.leader_elect else None
    probes = Probes(health, elector)

    def shutdown() -> None:
        probes.stopping = True  # /readyz fails from now on, before anything else happens
        stop.set()

    hooks = [] if secret is None else webhook_routes(secret, branch=args.branch, local_source=local,
                                                     trigger=triggers.notify_threadsafe, not_leading=probes.following)
    server = _serve(args.http_addr, engine, probes, hooks) if args.http_addr else None
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, shutdown)
    watcher = asyncio.create_task(_watch(local_dir, stop, triggers)) if local else None
    log.info("controller.started", source=engine.source.describe(), interval_s=args.interval,
             watch=watcher is not None, webhooks=secret is not None, leader_elect=elector is not None)
    stop_wait = asyncio.create_task(stop.wait())
    consecutive_errors = 0
    if elector is not None:
        elector.start()
    try:
        while not stop.is_set():
            if elector is not None:
                if not await _until_leading(elector, leading, stop):
                    break
                engine.resume()
            triggers.pass_started()
            health.started()
            current = asyncio.create_task(engine.run_pass())
            current.add_done_callback(lambda _task: health.finished())
            await asyncio.wait({current, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
            if not current.done():
                log.info("controller.stopping", waiting_for="running pass", grace_s=args.shutdown_grace)
                done, _ = await asyncio.wait({current}, timeout=args.shutdown_grace)
                if not done:
                    log.warning("controller.stopping", cancelled="running pass exceeded the shutdown grace")
                    current.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await current
                break
            if current.exception() is not None:  # run_pass never raises; this is the last safety net
                exc = current.exception()
                log.error("controller.internal_error", error=f"{type(exc).__name__}: {exc}", reason="InternalError")
                outcome, follow_up = "internal-error", False
            else:
                outcome, follow_up = current.result().outcome, current.result().follow_up
            consecutive_errors = consecutive_errors + 1 if outcome in RETRYABLE_OUTCOMES else 0
            if elector is not None and not elector.is_leader:
                log.info("controller.stepped_down", hint="the pass started no helm action after the Lease was "
                         "lost; this replica waits as a follower")
                continue
            if follow_up:
                continue  # an unlocked release is installed or upgraded again right away
            interval = args.interval or math.inf  # 0: until a trigger
            delay = interval
            if consecutive_errors:
                # Source or cluster unreachable: retry sooner, backing off 5s, 10s, 20s… up to the interval.
                delay = min(interval, ERROR_BACKOFF_BASE_S * 2 ** (consecutive_errors - 1))
                log.warning("controller.backoff", consecutive_errors=consecutive_errors, retry_in_s=round(delay, 1),
                            last_good_revision=engine.last_good_revision)
            delay *= 1 + random.uniform(-JITTER_FRACTION, JITTER_FRACTION)  # noqa: S311 - jitter, not crypto
            if await triggers.wait(delay, [stop]) is Wake.TRIGGER:
                log.info("controller.triggered", triggers=triggers.coalescer.pending)
    finally:
        stop_wait.cancel()
        probes.stopping = True
        if elector is not None:
            await asyncio.to_thread(elector.stop)  # releases the Lease: a follower takes over at once
        if server is not None:
            server.stop()
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
    log.info("controller.stopped")
    return 0


async def _until_leading(elector: LeaderElector, leading: asyncio.Event, stop: asyncio.Event) -> bool:
    """Wait until this replica holds the Lease (True) or is told to stop (False)."""
    while not elector.is_leader:
        leading.clear()
        if elector.is_leader:
            break
        waiters = [asyncio.ensure_future(e.wait()) for e in (leading, stop)]
        try:  # the timeout only guards against a missed wake-up; the elector sets ``leading``
            await asyncio.wait(waiters, timeout=elector.timings.retry_period_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        if stop.is_set():
            return False
    return not stop.is_set()


def _serve(address: str, engine: Engine, probes: Probes, hooks: list[Route]) -> HttpServer:
    """The HTTP endpoints: metrics, probes and the webhook routes (``/hooks/…``, when configured)."""
    metrics = Metrics(helm_calls=engine.parts.helm_calls,
                      catalog_ages=getattr(engine.parts.catalog, "index_ages", dict))
    engine.parts.status.observers.append(metrics.observe)

    def scrape(_request: Request) -> Response:
        body, content_type = metrics.exposition()
        return Response(200, body, content_type)

    def probe(check: Any) -> Any:
        def answer(_request: Request) -> Response:
            verdict = check()
            return Response.text(200 if verdict.ok else 503, ("ok: " if verdict.ok else "failed: ") + verdict.detail)
        return answer

    server = HttpServer(address, [Route("GET", "/metrics", scrape), Route("GET", "/healthz", probe(probes.live)),
                                  Route("GET", "/readyz", probe(probes.ready)), *hooks])
    server.start()
    get_logger().info("http.listening", address=f"{server.host}:{server.port}", port=server.port,
                      routes=[r.path for r in server.routes])
    return server


async def _watch(directory: Path, stop: asyncio.Event, triggers: Triggers) -> None:
    log = get_logger()
    async for changed in awatch_local(directory, stop):
        log.info("source.changed", files=sorted(changed)[:10])
        triggers.notify()
