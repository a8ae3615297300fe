"""The engine: one pass of source → manifests → desired → observed → plan → apply → status."""

from controller.engine.parts import EngineParts, PassResult, ReconcileSettings
from controller.engine.sequencer import Engine

__all__ = ["Engine", "EngineParts", "PassResult", "ReconcileSettings"]
