"""The GitHub API edge: the sticky pull-request comment a preview posts (the only HTTP client outside the catalog)."""

from controller.github.comments import GitHubClient, GitHubTarget, resolve_target

__all__ = ["GitHubClient", "GitHubTarget", "resolve_target"]
