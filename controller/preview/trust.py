"""Which repository credentials a preview of an untrusted pull-request head may use.

Owns: ``preview_credentials`` -- a preview renders the head of a pull request, whose ExtensionTypes
anyone who can open one may point at any host. Only the credentials bound to hosts that the *base*
revision's catalog (its ExtensionTypes' ``spec.chart.repository``) already names are kept: a host
that appears only at the head gets none, so a pull request cannot send the controller's credentials
to a server of its choosing.
Must not: fetch anything, or widen what the store would send (it only ever drops bindings).
"""

from __future__ import annotations

from controller.catalog import CredentialStore
from controller.models.manifests import ManifestSet


def preview_credentials(credentials: CredentialStore | None, base: ManifestSet) -> CredentialStore:
    """The bindings of ``credentials`` whose host (and port, when the binding names one) a repository
    of the base revision's catalog names; empty when there are none."""
    if not credentials:
        return CredentialStore()
    return credentials.restricted_to_hosts(t.chart.repository for t in base.types.values())
