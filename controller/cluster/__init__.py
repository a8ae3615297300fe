"""The only place extctl talks to the Kubernetes API (namespaces, protected-setting Secrets)."""

from controller.cluster.kube import KubeCluster

__all__ = ["KubeCluster"]
