"""Parsing a Helm chart repository's ``index.yaml``.

Owns: the ``ChartVersion`` record and the pure ``parse_index`` that turns index text into chart
versions per chart name. Malformed YAML or structure raises ``CatalogIndexInvalid`` with a located
message (``<source>:LINE:COL: ...``). An index is read by libyaml's C scanner and parser where it reads the
text as ruamel's pure-Python one does (``controller.yaml_c``; 4x faster on a 500-version index, bench/README.md
P6), composed and constructed by ruamel's own Python composer and YAML 1.2 safe constructor, so the values
are the same; any failure there, or a declined text, is parsed again by the pure-Python parser, which words
every error. Must not: fetch anything (HTTP, OCI and local readers call
this), resolve versions, or put credentials into messages (callers pass a credential-free label).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer
from ruamel.yaml.constructor import SafeConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.resolver import VersionedResolver

from controller.errors import CatalogIndexInvalid
from controller.yaml_c import CParser, declined

_YAML_1_2 = (1, 2)
_FAILED = object()  # the fast path declined or failed: parse the pure-Python way


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
    document: Any = _load_fast(text)
    if document is not _FAILED:
        return _charts(document, source_label)
    try:
        # The pure-Python parser: ruamel's C-based safe loader would read YAML 1.1 with libyaml's composer (a
        # flow list of URLs with "https:" in it is an error there). Positions: syntax errors only.
        document = YAML(typ="safe", pure=True).load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source_label}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source_label
        raise CatalogIndexInvalid(f"{where}: malformed index.yaml: {exc.problem or exc.context}") from exc
    except (YAMLError, ValueError, TypeError, RecursionError) as exc:  # e.g. a control character (ReaderError)
        detail = " ".join(str(exc).split("\n")[0].split()) if isinstance(exc, YAMLError) else type(exc).__name__
        raise CatalogIndexInvalid(f"{source_label}: malformed index.yaml: {detail}") from exc
    return _charts(document, source_label)


def _charts(document: Any, source_label: str) -> dict[str, list[ChartVersion]]:
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


if CParser is not None:

    class _FastLoader(CParser, Composer, SafeConstructor, VersionedResolver):  # type: ignore[misc]
        """libyaml's events, ruamel's Python composer (so nesting is bounded by Python's recursion limit, not the
        C stack) and the safe constructor with the YAML 1.2 resolver: what ``YAML(typ="safe", pure=True)`` builds."""

        max_depth = 0  # YAML()'s default: no limit but the recursion limit

        def __init__(self, text: str) -> None:
            CParser.__init__(self, text)
            self._parser = self._composer = self._resolver = self
            Composer.__init__(self, loader=self)
            SafeConstructor.__init__(self, loader=self)
            VersionedResolver.__init__(self, version=_YAML_1_2, loadumper=self)

        @property
        def processing_version(self) -> Any:
            return _YAML_1_2

        check_node = Composer.check_node  # the Python composer's, not CParser's C one
        get_node = Composer.get_node
        get_single_node = Composer.get_single_node


def _load_fast(text: str) -> Any:
    """The document of ``text`` through libyaml, or ``_FAILED``: parse it the pure-Python way."""
    if declined(text):
        return _FAILED
    try:
        loader = _FastLoader(text)
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except Exception:  # noqa: BLE001 - any failure: the pure-Python path parses it again and words the error
        return _FAILED


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
