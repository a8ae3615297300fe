"""Parsing a Helm chart repository's ``index.yaml``.

Owns: the ``ChartVersion`` record and the pure ``parse_index`` that turns index text into chart
versions per chart name. Malformed YAML or structure raises ``CatalogIndexInvalid`` with a located
message (``<source>:LINE:COL: ...``). Must not: fetch anything (HTTP, OCI and local readers call
this), resolve versions, or put credentials into messages (callers pass a credential-free label).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from controller.errors import CatalogIndexInvalid


@dataclass(frozen=True)
class ChartVersion:
    """One published version of a chart, as listed by a repository."""

    version: str
    urls: tuple[str, ...] = ()
    digest: str | None = None
    created: str | None = None


def parse_index(text: str, source_label: str) -> dict[str, list[ChartVersion]]:
    """Chart name -> versions (in index order) from ``index.yaml`` text.

    ``source_label`` names the index in error messages (a path or a URL without userinfo)."""
    try:
        # The pure-Python parser: with ruamel.yaml.clib installed the safe loader would use libyaml, which reads
        # YAML 1.1 (a flow list of URLs with "https:" in it is an error there). Positions: syntax errors only.
        document: Any = YAML(typ="safe", pure=True).load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source_label}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source_label
        raise CatalogIndexInvalid(f"{where}: malformed index.yaml: {exc.problem or exc.context}") from exc
    except (YAMLError, ValueError, TypeError, RecursionError) as exc:  # e.g. a control character (ReaderError)
        detail = " ".join(str(exc).split("\n")[0].split()) if isinstance(exc, YAMLError) else type(exc).__name__
        raise CatalogIndexInvalid(f"{source_label}: malformed index.yaml: {detail}") from exc
    entries: Any = (document.get("entries") or {}) if isinstance(document, dict) else None
    if not isinstance(entries, dict):
        raise CatalogIndexInvalid(
            f"{source_label}: malformed index.yaml: expected a mapping with 'entries' (chart name -> versions)"
        )
    charts: dict[str, list[ChartVersion]] = {}
    for chart_name, versions in entries.items():
        if not isinstance(versions, list):
            raise CatalogIndexInvalid(f"{source_label}: malformed index.yaml: entries.{chart_name} must be a list")
        charts[str(chart_name)] = [
            _chart_version(entry, f"entries.{chart_name}[{position}]", source_label)
            for position, entry in enumerate(versions)
        ]
    return charts


def _chart_version(entry: Any, field: str, source_label: str) -> ChartVersion:
    if not isinstance(entry, dict) or entry.get("version") in (None, ""):
        raise CatalogIndexInvalid(f"{source_label}: malformed index.yaml: {field} has no version")
    urls = entry.get("urls") or []
    if not isinstance(urls, list):
        raise CatalogIndexInvalid(f"{source_label}: malformed index.yaml: {field}.urls must be a list")
    digest = entry.get("digest")
    return ChartVersion(
        version=str(entry["version"]),
        urls=tuple(str(url) for url in urls),
        digest=str(digest) if digest is not None else None,
        created=_timestamp_text(entry.get("created")),
    )


def _timestamp_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    return str(value)
