"""extctl: a GitOps controller for Kubernetes cluster extensions (Helm-packaged add-ons)."""

__version__ = "0.1.0"
