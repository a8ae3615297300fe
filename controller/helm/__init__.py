"""The only place extctl spawns helm.

``runner`` execs the binary (argument lists, never a shell) with a hard deadline and maps stderr to
typed errors; ``client`` wraps helm actions (install, upgrade, rollback, uninstall, list, metadata,
history, template). Wrappers neither decide what to do nor record status: the reconciler does both.
"""

from controller.helm.client import ChartLocator, HelmClient, ReleaseRequest
from controller.helm.runner import HelmRunner, HelmSettings

__all__ = ["ChartLocator", "HelmClient", "HelmRunner", "HelmSettings", "ReleaseRequest"]
