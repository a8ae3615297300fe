"""The protected-settings reader: Secrets → values and their HMAC, for one extension at a time.

Owns: reading the Secrets an extension's ``configurationProtectedSettings`` name (through
``controller.cluster``), registering every value with the log scrubber, and the HMAC that stands for
them in the values digest. The HMAC key lives in the Secret ``extctl-digest-key``; only an applying
pass creates it (``create_key=True``): a read-only ``plan`` that finds none reports "protected values
will be digested on first apply" and writes nothing. Must not: log, return or put values in messages.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any, Protocol

from controller.errors import ClusterError, SecretNotReady
from controller.logs import register_secret
from controller.models.desired import canonical_json
from controller.models.desired_state import ProtectedInput
from controller.models.manifests import Extension
from controller.models.plan import Hold, HoldKind

DIGEST_KEY_SECRET = "extctl-digest-key"  # noqa: S105 - a Secret name, not a secret
NO_KEY_DIGEST = "no-digest-key-yet"  # plan without a key: differs from any real HMAC, so it shows a change


class SecretBackend(Protocol):
    def read_secret_data(self, namespace: str, name: str) -> dict[str, str]: ...
    def read_digest_key(self, namespace: str, name: str) -> bytes | None: ...
    def ensure_digest_key(self, namespace: str, name: str) -> bytes: ...


class ProtectedSettingsReader:
    def __init__(self, cluster: SecretBackend, *, system_namespace: str, create_key: bool) -> None:
        self.cluster = cluster
        self.system_namespace = system_namespace
        self.create_key = create_key
        self._key: bytes | None = None
        self.key_missing = False

    async def read(self, extension: Extension, namespace: str) -> ProtectedInput:
        """Values and HMAC, or the hold that stops the extension (a missing Secret or key: pending;
        an unreadable cluster: error). Never raises for these."""
        try:
            values = await self._values(extension, namespace)
            digest = await self._hmac(values)
            digests = {path: await self._hmac({path: value}) for path, value in values.items()}
        except SecretNotReady as exc:
            return ProtectedInput(hold=Hold(HoldKind.PENDING, f"pending: {exc}"))
        except ClusterError as exc:
            return ProtectedInput(hold=Hold(HoldKind.ERROR, f"cannot read protected settings: {exc}"))
        return ProtectedInput(values=values, hmac=digest, digests=digests)

    async def _values(self, extension: Extension, namespace: str) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for ref in extension.spec.configuration_protected_settings:
            secret_namespace = ref.namespace or namespace
            try:
                data = await asyncio.to_thread(self.cluster.read_secret_data, secret_namespace, ref.secret_name)
            except SecretNotReady as exc:
                # Name the key too: the user has to create the Secret *with* it.
                needed = f"key {ref.key!r}" if ref.key is not None else "all of its keys"
                raise SecretNotReady(
                    f"Secret {secret_namespace}/{ref.secret_name} not found (needed for {needed})",
                    hint=f"create it: kubectl create secret generic {ref.secret_name} -n {secret_namespace} "
                         f"--from-literal={ref.key or 'KEY'}=VALUE") from exc
            if ref.key is not None:
                if ref.key not in data:
                    raise SecretNotReady(
                        f"key {ref.key!r} not found in Secret {secret_namespace}/{ref.secret_name}",
                        hint=f"add the key {ref.key!r} to Secret {secret_namespace}/{ref.secret_name}")
                items = {ref.target_path or ref.key: data[ref.key]}
            else:
                prefix = f"{ref.target_path}." if ref.target_path else ""
                items = {f"{prefix}{key}": value for key, value in data.items()}
            for path, value in items.items():
                register_secret(value)
                values[path] = value
        return values

    async def _hmac(self, values: Mapping[str, Any]) -> str:
        if self.key_missing:
            return NO_KEY_DIGEST
        if self._key is None:
            if self.create_key:
                self._key = await asyncio.to_thread(
                    self.cluster.ensure_digest_key, self.system_namespace, DIGEST_KEY_SECRET)
            else:
                self._key = await asyncio.to_thread(
                    self.cluster.read_digest_key, self.system_namespace, DIGEST_KEY_SECRET)
                if self._key is None:
                    self.key_missing = True
                    return NO_KEY_DIGEST
        return hmac.new(self._key, canonical_json(dict(values)).encode(), hashlib.sha256).hexdigest()


class OfflineProtectedReader:
    """Offline plans never read Secrets: the paths are known, the values are not."""

    key_missing = False

    async def read(self, extension: Extension, namespace: str) -> ProtectedInput:
        refs = extension.spec.configuration_protected_settings
        values = {ref.target_path or ref.key or ref.secret_name: "***" for ref in refs}
        return ProtectedInput(values=values, hmac="offline")
