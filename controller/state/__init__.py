"""What the controller remembers between passes and processes (a ConfigMap in the system namespace)."""

from controller.state.store import NullStateStore, Remembered, StateStore

__all__ = ["NullStateStore", "Remembered", "StateStore"]
