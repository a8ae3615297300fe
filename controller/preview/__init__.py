"""Pull-request previews: what a change to the manifests would do to the cluster, before merge.

Owns: ``Previewer`` (desired state at two refs, plan head against base or the live cluster, render
and diff what changes), the report formats (markdown for PR comments, text, JSON), redaction, and
posting a sticky GitHub comment. Layering: sits between ``controller.commands`` and
``controller.reconciler``; the diffing, redaction and report modules are pure.
"""

from controller.preview.build import Previewer, PreviewRequest, protected_input
from controller.preview.github import GitHubClient, GitHubTarget, resolve_target
from controller.preview.model import ExtensionChange, OtherAction, PreviewResult
from controller.preview.report import DEFAULT_MAX_BYTES, MARKER, render_json, render_markdown, render_text

__all__ = [
    "DEFAULT_MAX_BYTES",
    "MARKER",
    "ExtensionChange",
    "GitHubClient",
    "GitHubTarget",
    "OtherAction",
    "PreviewRequest",
    "PreviewResult",
    "Previewer",
    "protected_input",
    "render_json",
    "render_markdown",
    "render_text",
    "resolve_target",
]
