"""The one exception hierarchy of extctl.

Owns: every error type extctl raises on purpose. Each carries a machine-readable ``reason`` and says
whether it is *transient* (retry with backoff: network, cluster, lock contention) or *permanent*
(needs a change in Git or in the cluster: bad manifest, unknown version, ownership conflict).
Must not: import anything but the standard library, or format secrets into messages. Third-party
errors are wrapped with ``raise SomeExtctlError(...) from exc`` at the edge that caught them.

``transient`` is a class property and the only truth about retrying: ``TransientError`` and
``PermanentError`` are convenient bases, but a subclass may override the flag (a catalog that answers
"authentication failed" is a ``CatalogError`` yet permanent). A ``reason=`` given to one instance
changes its label, never its transient flag: a different retry behaviour needs its own class.
"""

from __future__ import annotations

from dataclasses import dataclass


class ExtctlError(Exception):
    """Root of all expected extctl failures. The CLI prints these without a traceback."""

    reason: str = "Error"
    transient: bool = False

    def __init__(self, message: str, *, reason: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} (hint: {self.hint})" if self.hint else self.message


class TransientError(ExtctlError):
    """Retry with backoff: the world may fix itself (network, API server, a lock being released)."""

    reason = "Transient"
    transient = True


class PermanentError(ExtctlError):
    """Needs a change in Git or in the cluster; retrying the same input gives the same failure."""

    reason = "Permanent"
    transient = False


@dataclass(frozen=True)
class Location:
    """Where in the source a problem is: file (relative to the source root), 1-based line and column."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class ValidationIssue:
    """One located manifest problem: rendered as ``file:LINE:COL: error: <field path>: <message>``.
    ``severity="warning"``: a finding that does not reject the revision (``ManifestSet.warnings``)."""

    location: Location
    field: str
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        field = self.field or "<document>"
        return f"{self.location}: {self.severity}: {field}: {self.message}"


class ManifestError(PermanentError):
    """One or more manifests failed to parse or validate. The revision is rejected whole."""

    reason = "InvalidManifest"

    def __init__(self, issues: list[ValidationIssue]) -> None:
        self.issues = list(issues)
        count = len(self.issues)
        summary = f"{count} manifest error{'s' if count != 1 else ''}"
        super().__init__(summary + ":\n" + "\n".join(str(i) for i in self.issues))


class ResolutionError(PermanentError):
    """No chart version satisfies an extension's train/pin (the message lists what is available)."""

    reason = "VersionNotFound"


class CatalogError(TransientError):
    """A chart repository could not be read (down, auth failure, malformed index)."""

    reason = "CatalogUnavailable"


class CatalogAuthError(CatalogError):
    reason = "CatalogAuthFailed"
    transient = False


class CatalogIndexInvalid(CatalogError):
    reason = "CatalogIndexInvalid"
    transient = False


class CatalogRepositoryNotFound(CatalogError):
    """The server answered, but there is no chart repository at that URL (HTTP 404 for index.yaml)."""

    reason = "RepositoryNotFound"
    transient = False


class SourceError(TransientError):
    """The Git source (or local directory) could not be read."""

    reason = "SourceUnavailable"


class SourceAuthError(SourceError):
    """The Git server refused the credentials: only new credentials help (like ``CatalogAuthError``)."""

    reason = "SourceAuthFailed"
    transient = False


class SourceBranchNotFound(SourceError):
    """The configured branch (or ref) does not exist on the remote (deleted or misspelt). Transient: a
    deleted branch is usually pushed again, and the last good revision stays applied meanwhile."""

    reason = "BranchNotFound"
    transient = True


class SourcePathNotFound(SourceError):
    """``--path`` does not name a directory at the fetched revision (or the local directory is missing)."""

    reason = "PathNotFound"
    transient = False


class SourceInvalid(SourceError):
    """The ``--source`` value is neither a Git URL nor an existing directory, or git itself is missing."""

    reason = "SourceInvalid"
    transient = False


class HelmError(ExtctlError):
    """A helm invocation failed for a reason ``controller.helm.errors`` does not recognise: retried with
    backoff (an unknown failure is more often the cluster's than the chart's). Every subclass states its
    own ``transient`` flag, so a permanent subclass is never made transient by this base."""

    reason = "HelmFailed"
    transient = True


class HelmNotFound(HelmError, PermanentError):
    """The release (or the revision asked for) does not exist: ``release: not found``."""

    reason = "ReleaseNotFound"
    transient = False


class HelmOperationInProgress(HelmError, TransientError):
    """Another helm action holds the release (``pending-install``/``-upgrade``/``-rollback``)."""

    reason = "OperationInProgress"
    transient = True


class HelmRenderError(HelmError, PermanentError):
    """The chart's templates do not render with these values (template syntax, ``fail``/``required``,
    nil pointers, rendered text that is not YAML): only a new chart version or new values fix it."""

    reason = "RenderFailed"
    transient = False


class HelmValidationFailed(HelmError, PermanentError):
    """The chart rendered but was rejected: ``values.schema.json``, OpenAPI validation, or the API server
    (422 Invalid, an admission webhook denying the request)."""

    reason = "ValidationFailed"
    transient = False


class HelmNamespaceNotFound(HelmError, TransientError):
    """The release namespace does not exist (yet): created by someone else, or deleted meanwhile."""

    reason = "NamespaceNotFound"
    transient = True


class HelmClusterUnreachable(HelmError, TransientError):
    reason = "ClusterUnreachable"
    transient = True


class HelmChartUnavailable(HelmError, TransientError):
    """helm could not download the chart (repository or registry down, version withdrawn)."""

    reason = "ChartUnavailable"
    transient = True


class HelmTimeout(HelmError, TransientError):
    """helm's own ``--timeout`` or extctl's hard deadline ran out."""

    reason = "Timeout"
    transient = True


class HelmNotReady(HelmTimeout):
    """The release was applied but its resources did not become ready (``--wait=watcher``, kstatus) within its
    timeout. A failed action like any other: remediation, retries and backoff apply. ``resources`` names
    each unready resource and why, as helm read it from the resource's status."""

    reason = "NotReady"
    transient = True
    resources: tuple[str, ...] = ()


class HelmOutputInvalid(HelmError, TransientError):
    """helm exited 0 but printed something that is not the JSON extctl asked for (a helm bug, a wrapper
    script, a truncated write); the next call usually answers properly."""

    reason = "HelmOutputInvalid"
    transient = True


class HelmBinaryMissing(HelmError, PermanentError):
    """The helm binary does not exist where ``HELM_BIN``/``PATH`` says: needs an installation."""

    reason = "HelmBinaryMissing"
    transient = False


class ClusterError(TransientError):
    """The Kubernetes API could not be reached or refused a request."""

    reason = "ClusterUnavailable"


class ConflictError(PermanentError):
    """A release extctl does not own already uses the name and namespace an extension wants."""

    reason = "Conflict"


class SecretNotReady(TransientError):
    """A protected setting refers to a Secret or key that does not exist (yet)."""

    reason = "SecretNotFound"


class ChartNotFound(CatalogError):
    """The repository was read, but it does not list the chart (or the version's archive is missing)."""

    reason = "ChartNotFound"
    transient = False


class CredentialsInvalid(CatalogAuthError):
    """The repository credentials configuration (file or ``EXTCTL_REPO_*``) cannot be used as given."""

    reason = "CredentialsInvalid"
    transient = False


class ChartDownloadFailed(CatalogError):
    """A chart archive listed by its repository could not be downloaded (down, 404, 5xx): retry."""

    reason = "ChartUnavailable"
    transient = True


class ChartDigestMismatch(CatalogError):
    """A downloaded chart archive does not match the digest its index or manifest promised."""

    reason = "ChartDigestMismatch"
    transient = True


class LocalRepositoryMissing(CatalogError):
    """A local-directory chart repository is missing from the source tree or points outside it."""

    reason = "LocalRepositoryMissing"
    transient = False


class PreviewPostError(TransientError):
    """Posting a preview (e.g. a pull-request comment) failed; the preview itself was printed."""

    reason = "PreviewPostFailed"


class InternalError(ExtctlError):
    """An unexpected exception (a bug in extctl), wrapped so that it is reported as one line with a reason
    and retried with backoff instead of ending the controller."""

    reason = "InternalError"
    transient = True
