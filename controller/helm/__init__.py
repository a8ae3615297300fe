"""The only place extctl spawns helm.

``runner`` execs the binary (argument lists, never a shell) with a hard deadline; ``errors`` maps helm's
stderr to typed errors (``classify``); ``client`` wraps helm actions (install, upgrade, rollback,
uninstall, list, metadata, history, template) and parses their JSON output. Wrappers neither decide
what to do nor record status: the engine does both.
"""

from controller.helm.client import ChartLocator, HelmClient, ReleaseRequest, parse_json_output
from controller.helm.errors import classify
from controller.helm.runner import HelmResult, HelmRunner, HelmSettings

__all__ = [
    "ChartLocator",
    "HelmClient",
    "HelmResult",
    "HelmRunner",
    "HelmSettings",
    "ReleaseRequest",
    "classify",
    "parse_json_output",
]
