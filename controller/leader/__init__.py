"""Leader election for ``extctl run --leader-elect``: one replica leads (fetches, plans, applies), the others wait."""

from controller.leader.elector import LeaderElector, default_identity, lease_name

__all__ = ["LeaderElector", "default_identity", "lease_name"]
