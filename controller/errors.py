"""The one exception hierarchy of extctl.

Owns: every error type extctl raises on purpose. Each carries a machine-readable ``reason`` and says
whether it is *transient* (retry with backoff: network, cluster, lock contention) or *permanent*
(needs a change in Git or in the cluster: bad manifest, unknown version, ownership conflict).
Must not: import anything but the standard library, or format secrets into messages. Third-party
errors are wrapped with ``raise SomeExtctlError(...) from exc`` at the edge that caught them.
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
    """One located manifest problem: rendered as ``file:LINE:COL: error: <field path>: <message>``."""

    location: Location
    field: str
    message: str

    def __str__(self) -> str:
        field = self.field or "<document>"
        return f"{self.location}: error: {field}: {self.message}"


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
    reason = "SourceAuthFailed"


class SourceBranchNotFound(SourceError):
    """The configured branch (or ref) does not exist on the remote (deleted or misspelt)."""

    reason = "BranchNotFound"


class SourcePathNotFound(SourceError):
    """``--path`` does not name a directory at the fetched revision (or the local directory is missing)."""

    reason = "PathNotFound"
    transient = False


class SourceInvalid(SourceError):
    """The ``--source`` value is neither a Git URL nor an existing directory, or git itself is missing."""

    reason = "SourceInvalid"
    transient = False


class HelmError(ExtctlError):
    """A helm invocation failed; subclasses map helm's stderr to a cause."""

    reason = "HelmFailed"


class HelmNotFound(HelmError):
    reason = "ReleaseNotFound"


class HelmOperationInProgress(HelmError, TransientError):
    reason = "OperationInProgress"


class HelmRenderError(HelmError, PermanentError):
    reason = "RenderFailed"


class HelmClusterUnreachable(HelmError, TransientError):
    reason = "ClusterUnreachable"


class HelmChartUnavailable(HelmError, TransientError):
    """helm could not download the chart (repository or registry down, version withdrawn)."""

    reason = "ChartUnavailable"


class HelmTimeout(HelmError, TransientError):
    reason = "Timeout"


class HelmBinaryMissing(HelmError, PermanentError):
    reason = "HelmBinaryMissing"


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


class LocalRepositoryMissing(CatalogError):
    """A local-directory chart repository is missing from the source tree or points outside it."""

    reason = "LocalRepositoryMissing"
    transient = False


class PreviewPostError(TransientError):
    """Posting a preview (e.g. a pull-request comment) failed; the preview itself was printed."""

    reason = "PreviewPostFailed"
