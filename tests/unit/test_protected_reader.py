"""The protected-settings reader: a Secret extctl may not read (RBAC 403) or cannot reach blocks only
that extension, and the read-only ``plan`` never creates the digest key (issue 9).

The backend is a small in-memory stand-in for ``controller.cluster.KubeCluster``'s three methods (the
real class is tested against the emulator in tests/integration/test_cluster_errors.py)."""

from __future__ import annotations

import asyncio

from controller.desired import ProtectedSettingsReader
from controller.desired.protected import NO_KEY_DIGEST
from controller.errors import ClusterError, SecretNotReady
from controller.models.manifests import Extension, ExtensionSpec, ProtectedSettingRef
from controller.models.plan import HoldKind


class Backend:
    def __init__(self, *, key: bytes | None = b"k" * 32, forbid_key: bool = False) -> None:
        self.key, self.forbid_key = key, forbid_key
        self.created = 0

    def read_secret_data(self, namespace: str, name: str) -> dict[str, str]:
        if name == "missing":
            raise SecretNotReady(f"Secret {namespace}/{name} not found")
        return {"token": "s3cr3t-value"}

    def read_digest_key(self, namespace: str, name: str) -> bytes | None:
        if self.forbid_key:
            raise ClusterError(f"Kubernetes API forbids reading Secret {namespace}/{name} (HTTP 403)",
                               reason="Forbidden")
        return self.key

    def ensure_digest_key(self, namespace: str, name: str) -> bytes:
        if self.forbid_key:
            raise ClusterError(f"Kubernetes API forbids reading Secret {namespace}/{name} (HTTP 403)",
                               reason="Forbidden")
        if self.key is None:
            self.created += 1
            self.key = b"new" * 11
        return self.key


def extension(secret: str = "creds") -> Extension:
    spec = ExtensionSpec(extension_type="demo.agent",
                         configuration_protected_settings=(ProtectedSettingRef(secret_name=secret, key="token"),))
    return Extension(name="agent", spec=spec)


def read(backend: Backend, *, create_key: bool, secret: str = "creds") -> object:
    reader = ProtectedSettingsReader(backend, system_namespace="extctl-system", create_key=create_key)
    return asyncio.run(reader.read(extension(secret), "ns")), reader


def test_a_forbidden_digest_key_blocks_the_extension_instead_of_failing_the_pass() -> None:
    found, _reader = read(Backend(forbid_key=True), create_key=True)
    assert found.hold is not None and found.hold.kind is HoldKind.ERROR
    assert "forbids reading Secret extctl-system/extctl-digest-key" in found.hold.reason
    assert "s3cr3t-value" not in found.hold.reason


def test_a_missing_secret_is_pending() -> None:
    found, _reader = read(Backend(), create_key=True, secret="missing")
    assert found.hold is not None and found.hold.kind is HoldKind.PENDING
    assert "Secret ns/missing not found (needed for key 'token')" in found.hold.reason


def test_plan_never_creates_the_digest_key() -> None:
    backend = Backend(key=None)
    found, reader = read(backend, create_key=False)
    assert found.hold is None and found.hmac == NO_KEY_DIGEST and reader.key_missing
    assert backend.created == 0


def test_an_applying_pass_creates_the_key_once_and_digests_with_it() -> None:
    backend = Backend(key=None)
    first, _ = read(backend, create_key=True)
    second, _ = read(backend, create_key=True)
    assert backend.created == 1
    assert first.hmac == second.hmac and first.hmac != NO_KEY_DIGEST and len(first.hmac) == 64
    assert first.values == {"token": "s3cr3t-value"}
