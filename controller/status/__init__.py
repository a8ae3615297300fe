"""Status: the canonical log lines of a pass (one per action, one summary per pass)."""

from controller.status.lines import log_action, log_manifest_errors, log_notices, log_summary

__all__ = ["log_action", "log_manifest_errors", "log_notices", "log_summary"]
