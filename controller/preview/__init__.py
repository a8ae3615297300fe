"""Pull-request previews: what a change to the manifests would do to the cluster, before merge.

Owns: ``Previewer`` (desired state at two refs, plan head against base or the live cluster, render
and diff what changes), the report formats (markdown for PR comments, text, JSON), and redaction
(posting the sticky comment is ``controller.github``). Layering: sits between ``controller.commands``
and ``controller.engine``; the diffing, redaction and report modules are pure.
"""

from controller.preview.build import Previewer, PreviewRequest
from controller.preview.compare import protected_input
from controller.preview.model import ExtensionChange, OtherAction, PreviewResult
from controller.preview.report import DEFAULT_MAX_BYTES, MARKER, render_json, render_markdown, render_text

__all__ = [
    "DEFAULT_MAX_BYTES",
    "MARKER",
    "ExtensionChange",
    "OtherAction",
    "PreviewRequest",
    "PreviewResult",
    "Previewer",
    "protected_input",
    "render_json",
    "render_markdown",
    "render_text",
]
