"""Manifest loading and validation: YAML with positions, JSON Schema, semantic checks.

Owns: the public entry points ``load_directory`` and ``parse_documents`` (both return a validated
``ManifestSet`` or raise ``ManifestError`` with every located issue), ``select_manifest_files`` and
``effective_namespace``. Must not: fetch charts, resolve versions or talk to the cluster.
"""

from controller.manifests.loader import (
    load_directory,
    parse_documents,
    read_manifest_files,
    select_manifest_files,
)
from controller.models.manifests import ManifestSet, effective_namespace

__all__ = [
    "ManifestSet",
    "effective_namespace",
    "load_directory",
    "parse_documents",
    "read_manifest_files",
    "select_manifest_files",
]
