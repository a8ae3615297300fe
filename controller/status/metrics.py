"""Prometheus metrics of the controller (``prometheus-client``), fed once per pass by the status publisher.

Owns: the metric names, types, labels and help texts documented in docs/observability.md, kept in one
``CollectorRegistry`` per controller (not the process-global one, so tests and several registries never
collide): the pass duration by outcome, action counts by action/outcome/typed reason, one info series and
one ready series per extension (series of extensions that left Git are removed), source fetch errors by
reason, the last successful pass, and two values read at scrape time (helm processes started, catalog
index ages). Must not: put a value that is not a name, a version, a state or a typed reason into a label
(settings and messages never become labels), or do I/O (``controller.http`` serves ``exposition``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from controller.status.publisher import PassView

DURATION_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
INFO_LABELS = ("extension", "namespace", "type", "train", "version", "state")


class _ScrapeTimeValues(Collector):
    """``extctl_helm_calls_total`` and ``extctl_catalog_index_age_seconds``, read when scraped."""

    def __init__(self, helm_calls: Callable[[], int], catalog_ages: Callable[[], Mapping[str, float]]) -> None:
        self.helm_calls = helm_calls
        self.catalog_ages = catalog_ages

    def collect(self) -> Iterable[Metric]:
        calls = CounterMetricFamily("extctl_helm_calls", "helm processes the controller started (all kinds).")
        calls.add_metric([], float(self.helm_calls()))
        yield calls
        ages = GaugeMetricFamily("extctl_catalog_index_age_seconds",
                                 "Seconds since each chart repository last confirmed its index or tag list "
                                 "(grows while the repository is down and its last good copy is served).",
                                 labels=["repository"])
        for repository, age in sorted(self.catalog_ages().items()):
            ages.add_metric([repository], age)
        yield ages


class Metrics:
    """The controller's metrics; ``observe`` is a status-publisher observer."""

    def __init__(self, *, helm_calls: Callable[[], int] = lambda: 0,
                 catalog_ages: Callable[[], Mapping[str, float]] = dict,
                 clock: Callable[[], float] = time.time) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # no *_created series: unused, doubles counters
        self.registry = CollectorRegistry(auto_describe=True)
        self.clock = clock
        r = self.registry
        self.duration = Histogram("extctl_reconcile_duration_seconds", "Duration of reconcile passes, by outcome "
                                  "(applied, planned, rejected, source-error, cluster-error, internal-error).",
                                  ["outcome"], buckets=DURATION_BUCKETS, registry=r)
        self.actions = Counter("extctl_actions", "Actions of reconcile passes by action, outcome and typed reason.",
                               ["action", "outcome", "reason"], registry=r)
        self.info = Gauge("extctl_extension_info", "Always 1: one series per extension in Git with its release "
                          "namespace, type, train, installed version and provisioning state.", list(INFO_LABELS),
                          registry=r)
        self.ready = Gauge("extctl_extension_ready", "1 when the extension's Ready condition is True, else 0.",
                           ["extension"], registry=r)
        self.fetch_errors = Counter("extctl_source_fetch_errors", "Passes that could not fetch the Git source, "
                                    "by typed reason.", ["reason"], registry=r)
        self.last_success = Gauge("extctl_last_successful_reconcile_timestamp_seconds",
                                  "Unix time of the end of the last pass with outcome applied.", registry=r)
        r.register(_ScrapeTimeValues(helm_calls, catalog_ages))
        self._info_series: set[tuple[str, ...]] = set()
        self._ready_series: set[str] = set()

    def observe(self, view: PassView) -> None:
        self.duration.labels(view.outcome).observe(view.duration_s)
        for action, outcome, reason in view.actions:
            self.actions.labels(action, outcome, reason).inc()
        if view.outcome == "source-error":
            self.fetch_errors.labels(view.reason or "SourceUnavailable").inc()
        if view.outcome != "applied":
            return
        self.last_success.set(self.clock())
        info: set[tuple[str, ...]] = set()
        ready: set[str] = set()
        for ext in view.extensions:
            labels = (ext.name, ext.namespace, ext.extension_type, ext.train, ext.status.installed_version or "",
                      ext.status.provisioning_state)
            self.info.labels(*labels).set(1)
            self.ready.labels(ext.name).set(1 if ext.status.ready else 0)
            info.add(labels)
            ready.add(ext.name)
        for gone in self._info_series - info:
            self.info.remove(*gone)
        for gone_name in self._ready_series - ready:
            self.ready.remove(gone_name)
        self._info_series, self._ready_series = info, ready

    def exposition(self) -> tuple[bytes, str]:
        """The text format body and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
