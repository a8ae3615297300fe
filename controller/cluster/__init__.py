"""The only place extctl talks to the Kubernetes API (release namespaces, protected-setting Secrets, the
digest-key Secret, the state ConfigMap); every failure surfaces as ``ClusterError``/``SecretNotReady``."""

from controller.cluster.kube import KubeCluster

__all__ = ["KubeCluster"]
