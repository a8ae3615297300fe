"""Diff two ``helm template`` outputs resource by resource.

Owns: splitting rendered YAML into documents keyed by (apiVersion, kind, namespace, name), hiding
Secret values (``controller.preview.redact``), and unified diffs per resource (added and removed
resources are shown whole). Must not: run helm or do any other I/O.
"""

from __future__ import annotations

import difflib
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from controller.models.desired import changed_setting_keys, setting_digests
from controller.preview.redact import HIDDEN_SECRET, is_secret, redact_secret

ResourceKey = tuple[str, str, str, str]
_SEPARATOR = re.compile(r"^---[ \t]*(?:#.*)?$", re.MULTILINE)
_SOURCE_COMMENT = re.compile(r"^# Source: (?P<source>.+)$", re.MULTILINE)
_SECRET_KIND = re.compile(r"^kind:\s*[\"']?Secret[\"']?\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Resource:
    """One rendered document: its key, where it came from and its raw parsed form (None if unparseable)."""

    key: ResourceKey
    source: str
    text: str
    document: Any

    @property
    def secret(self) -> bool:
        return is_secret(self.document) or (self.document is None and bool(_SECRET_KIND.search(self.text)))


@dataclass(frozen=True)
class ResourceDiff:
    api_version: str
    kind: str
    namespace: str
    name: str
    change: str  # added | removed | changed
    diff: str

    @property
    def title(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where} ({self.api_version})"


def _yaml() -> YAML:
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    return yaml


def _dump(document: Any) -> str:
    stream = io.StringIO()
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.width = 4096
    yaml.dump(document, stream)
    return stream.getvalue().rstrip("\n")


def parse_rendered(text: str) -> dict[ResourceKey, Resource]:
    """Rendered manifests keyed by (apiVersion, kind, namespace, name); duplicates get ``#2``, ``#3``…"""
    resources: dict[ResourceKey, Resource] = {}
    yaml = _yaml()
    for index, chunk in enumerate(_SEPARATOR.split(text or "")):
        match = _SOURCE_COMMENT.search(chunk)
        source = match["source"].strip() if match else ""
        body = _SOURCE_COMMENT.sub("", chunk).strip("\n")
        if not body.strip() or all(line.lstrip().startswith("#") or not line.strip() for line in body.splitlines()):
            continue
        try:
            document = yaml.load(body)
        except YAMLError:
            document = None
        if document is not None and not isinstance(document, Mapping):
            document = None
        if isinstance(document, Mapping):
            raw_metadata = document.get("metadata")
            metadata: Mapping[str, Any] = raw_metadata if isinstance(raw_metadata, Mapping) else {}
            key: ResourceKey = (str(document.get("apiVersion", "")), str(document.get("kind", "")),
                                str(metadata.get("namespace") or ""), str(metadata.get("name") or ""))
        else:
            key = ("", "unparseable", "", f"document-{index}")
        base_name, suffix = key[3], 2
        while key in resources:
            key = (key[0], key[1], key[2], f"{base_name}#{suffix}")
            suffix += 1
        resources[key] = Resource(key, source, body, document)
    return resources


def _shown(resource: Resource, other: Resource | None, *, base: bool) -> str:
    if resource.secret:
        if resource.document is None:
            return HIDDEN_SECRET
        counterpart = other.document if other is not None and isinstance(other.document, Mapping) else None
        return _dump(redact_secret(resource.document, counterpart, base=base))
    return resource.text


def _label(key: ResourceKey) -> str:
    _api_version, kind, namespace, name = key
    return f"{kind}/{namespace + '/' if namespace else ''}{name}"


def diff_rendered(before: str | None, after: str | None, *, context: int = 3) -> tuple[list[ResourceDiff], int]:
    """Per-resource diffs between two renders (``None`` = nothing rendered on that side) and the
    number of resources that are identical on both sides."""
    old = parse_rendered(before or "")
    new = parse_rendered(after or "")
    diffs: list[ResourceDiff] = []
    unchanged = 0
    for key in sorted(set(old) | set(new), key=lambda k: (k[1], k[2], k[3], k[0])):
        a, b = old.get(key), new.get(key)
        a_text = _shown(a, b, base=True) if a is not None else None
        b_text = _shown(b, a, base=False) if b is not None else None
        if a_text is not None and b_text is not None:
            if a_text == b_text:
                unchanged += 1
                continue
            lines = difflib.unified_diff(a_text.splitlines(), b_text.splitlines(), fromfile=f"base/{_label(key)}",
                                         tofile=f"head/{_label(key)}", lineterm="", n=context)
            change, diff = "changed", "\n".join(lines)
        elif b_text is not None:
            change, diff = "added", "\n".join("+" + line for line in b_text.splitlines())
        else:
            assert a_text is not None  # noqa: S101 - the key came from one side
            change, diff = "removed", "\n".join("-" + line for line in a_text.splitlines())
        diffs.append(ResourceDiff(key[0], key[1], key[2], key[3], change, diff))
    return diffs, unchanged


def changed_setting_paths(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> list[str]:
    """Dotted paths of configurationSettings that were added, removed or changed (lists are leaves)."""
    return list(changed_setting_keys(setting_digests(before or {}), setting_digests(after or {})))
