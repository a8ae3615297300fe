"""The ``extensions.extctl.dev`` CustomResourceDefinition: the cluster-side home of extctl's status.

Owns: the CRD extctl applies at start (and ``deploy/extctl.yaml`` ships, identical: a unit test compares
them): a namespaced ``Extension`` (the release namespace), a structural schema without defaults (so what
extctl writes is what it reads back and a steady state writes nothing), the status subresource, and the
printer columns that make ``kubectl get extensions -A`` read like ``helm list``.
Must not: talk to the API (``controller.cluster.extensions`` applies it).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from controller.models.extension_object import ANNOTATION_CRD, GROUP, KIND, PLURAL, VERSION

CRD_NAME = f"{PLURAL}.{GROUP}"
_STR = {"type": "string"}
_INT = {"type": "integer"}
_BOOL = {"type": "boolean"}
_READY = '.status.conditions[?(@.type=="Ready")]'

_SPEC: dict[str, Any] = {
    "type": "object",
    "description": "A read-only mirror of the Extension manifest in Git (protected settings as Secret references).",
    "properties": {
        "extensionType": _STR, "releaseTrain": _STR, "autoUpgradeMinorVersion": _BOOL, "version": _STR,
        "majorVersion": _INT, "suspend": _BOOL,
        "scope": {"type": "object", "properties": {
            "cluster": {"type": "object", "properties": {"releaseNamespace": _STR}},
            "namespace": {"type": "object", "properties": {"targetNamespace": _STR}}}},
        "configurationSettings": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        "configurationProtectedSettings": {"type": "array", "items": {"type": "object", "properties": {
            "secretName": _STR, "namespace": _STR, "key": _STR, "targetPath": _STR}}},
        "dependsOn": {"type": "array", "items": _STR},
        "remediation": {"type": "object", "properties": {
            "retries": _INT, "install": {"type": "object", "properties": {"strategy": _STR}},
            "upgrade": {"type": "object", "properties": {"strategy": _STR}}}},
    },
}
_CONDITION = {"type": "object", "required": ["type", "status"], "properties": {
    "type": _STR, "status": _STR, "reason": _STR, "message": _STR, "lastTransitionTime": _STR,
    "observedGeneration": _INT}}
_LAST_ACTION = {"type": "object", "properties": {
    "action": _STR, "outcome": _STR, "reason": _STR, "fromVersion": _STR, "toVersion": _STR, "message": _STR,
    "time": _STR}}
_STATUS: dict[str, Any] = {
    "type": "object",
    "description": "Written only by the extctl reconciler.",
    "properties": {
        "provisioningState": _STR, "installedVersion": _STR, "targetVersion": _STR, "newerMajorAvailable": _STR,
        "lastAppliedRevision": _STR, "lastAppliedTime": _STR, "lastAttemptedVersion": _STR, "failures": _INT,
        "message": _STR, "observedGeneration": _INT,
        "conditions": {"type": "array", "items": _CONDITION, "x-kubernetes-list-type": "map",
                       "x-kubernetes-list-map-keys": ["type"]},
        "lastActions": {"type": "array", "items": _LAST_ACTION},
    },
}
_COLUMNS = [
    {"name": "Type", "type": "string", "jsonPath": ".spec.extensionType"},
    {"name": "Train", "type": "string", "jsonPath": ".spec.releaseTrain"},
    {"name": "Installed", "type": "string", "jsonPath": ".status.installedVersion"},
    {"name": "Target", "type": "string", "jsonPath": ".status.targetVersion"},
    {"name": "State", "type": "string", "jsonPath": ".status.provisioningState"},
    {"name": "Ready", "type": "string", "jsonPath": f"{_READY}.status"},
    {"name": "Reason", "type": "string", "jsonPath": f"{_READY}.reason", "priority": 1},
    {"name": "Last Applied", "type": "date", "jsonPath": ".status.lastAppliedTime", "priority": 1},
    {"name": "Message", "type": "string", "jsonPath": ".status.message", "priority": 1},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]

EXTENSION_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": CRD_NAME, "labels": {"app.kubernetes.io/managed-by": "extctl"}},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {"kind": KIND, "listKind": f"{KIND}List", "plural": PLURAL, "singular": "extension",
                  "shortNames": ["ext"], "categories": ["extctl"]},
        "versions": [{
            "name": VERSION, "served": True, "storage": True,
            "subresources": {"status": {}},
            "additionalPrinterColumns": _COLUMNS,
            "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                "apiVersion": _STR, "kind": _STR, "metadata": {"type": "object"},
                "spec": _SPEC, "status": _STATUS}}},
        }],
    },
}

# What the CRD in the cluster says it was applied from: a fresh process reads the CRD once and applies
# it only when this differs (an upgrade of extctl), not on every start.
DIGEST_ANNOTATION = ANNOTATION_CRD  # also on every Extension object written under it
CRD_DIGEST = hashlib.sha256(json.dumps(EXTENSION_CRD["spec"], sort_keys=True).encode()).hexdigest()[:16]
EXTENSION_CRD["metadata"]["annotations"] = {DIGEST_ANNOTATION: CRD_DIGEST}


def is_current(live: dict[str, Any] | None) -> bool:
    """Was ``live`` (the CRD as the API server returns it) applied from this version's definition, and is
    it established (served)?"""
    if not live:
        return False
    annotations = (live.get("metadata") or {}).get("annotations") or {}
    conditions = (live.get("status") or {}).get("conditions") or []
    established = any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions
                      if isinstance(c, dict))
    return annotations.get(DIGEST_ANNOTATION) == CRD_DIGEST and established
