"""The GitHub API edge: the sticky pull-request comment a preview posts (the only HTTP client outside the catalog)."""

from controller.github.comments import (
    ACTIONS_BOT,
    GitHubClient,
    GitHubTarget,
    StickyMatch,
    resolve_target,
    select_sticky,
)

__all__ = ["ACTIONS_BOT", "GitHubClient", "GitHubTarget", "StickyMatch", "resolve_target", "select_sticky"]
