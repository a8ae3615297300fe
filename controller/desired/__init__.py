"""Inputs of the desired state that live outside Git: protected settings (Kubernetes Secrets)."""

from controller.desired.protected import DIGEST_KEY_SECRET, OfflineProtectedReader, ProtectedSettingsReader

__all__ = ["DIGEST_KEY_SECRET", "OfflineProtectedReader", "ProtectedSettingsReader"]
