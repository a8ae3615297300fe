"""Subcommands of the extctl CLI, one module each, each exposing ``register(subparsers)``."""
