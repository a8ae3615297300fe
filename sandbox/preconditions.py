"""Optimistic concurrency for the sandbox emulator, as the API server does it.

Owns: the ``resourceVersion`` precondition. A replace (PUT) or a patch whose body names
``metadata.resourceVersion`` is refused with 409 ``Conflict`` ("the object has been modified") when the
stored object is at another version; a write that names none is unconditional, as in Kubernetes. Leader
election (``controller/cluster/lease.py``) depends on it: of two replicas replacing the same Lease read at
the same version, exactly one wins. Must not: be imported by ``controller/``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kmock import KubernetesError

CONFLICT = "Conflict"


def check_resource_version(stored: Mapping[str, Any] | None, body: Any, *, plural: str, group: str,
                           name: str) -> None:
    """Raise 409 Conflict when ``body`` names a resourceVersion that ``stored`` is not at."""
    if stored is None or not isinstance(body, dict):
        return
    wanted = (body.get("metadata") or {}).get("resourceVersion") if isinstance(body.get("metadata"), dict) else None
    if not wanted:
        return
    current = (stored.get("metadata") or {}).get("resourceVersion")
    if str(wanted) == str(current):
        return
    resource = f"{plural}.{group}" if group else plural
    raise KubernetesError(status=409, reason=CONFLICT, message=(
        f'Operation cannot be fulfilled on {resource} "{name}": the object has been modified; please apply '
        f"your changes to the latest version and try again"))
