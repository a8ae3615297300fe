"""The engine: one pass of source → manifests → desired → observed → plan → apply → status."""

from controller.engine.sequencer import Engine, EngineParts, PassResult, ReconcileSettings

__all__ = ["Engine", "EngineParts", "PassResult", "ReconcileSettings"]
