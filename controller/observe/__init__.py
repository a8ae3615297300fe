"""Observed state: what is deployed in the cluster (helm releases), read through ``controller.helm``."""

from controller.observe.releases import NullObserver, ReleaseObserver, parse_helm_time

__all__ = ["NullObserver", "ReleaseObserver", "parse_helm_time"]
