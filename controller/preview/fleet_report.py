"""Render a ``FleetPreviewResult``: markdown (a pull-request comment), plain text, or JSON.

Owns: the fleet report's layout -- a headline, the summary matrix (one row per extension, one column per
cluster: ``install 1.2.0``, ``upgrade 1.1.0 → 1.2.0``, ``upgrade 1.2.0 (settings)``, ``uninstall``,
``unchanged``, ``-`` where the extension is placed on neither side), the counts per kind, the clusters
with their labels, then each cluster that changes in a collapsed ``<details>`` holding its
single-cluster preview (``report.render_markdown`` without its title and footer; the size budget is
shared fairly between clusters), its own sticky-comment marker, and the JSON layout
``extctl.dev/fleet-preview/v1`` (per cluster, the single-cluster JSON). Must not: do I/O, or show
anything not already redacted.
"""

from __future__ import annotations

from typing import Any

from controller.models.placement import format_labels
from controller.preview.fleet import NOT_PLACED, UNCHANGED, ClusterPreview, FleetPreviewResult
from controller.preview.report import (
    DEFAULT_MAX_BYTES,
    MARKER,
    _cell,
    _code,
    invalid_headline,
    render_json,
    render_markdown,
    render_text,
    short_revision,
)

FLEET_MARKER = "<!-- extctl-fleet-preview -->"
FLEET_SCHEMA = "extctl.dev/fleet-preview/v1"
KIND_ORDER = ("install", "upgrade", "downgrade", "reinstall", "uninstall", "fail", "skip", UNCHANGED, NOT_PLACED)


def headline(result: FleetPreviewResult) -> str:
    invalid = invalid_headline(result.validation_errors, result.base_validation_errors)
    if invalid:
        return invalid
    if result.errors and not result.clusters:
        return "error"
    changes = sum(len(c.result.changes) for c in result.clusters)
    changed = len(result.changed_clusters)
    text = "no changes on any cluster" if not changes else (
        f"{changes} change{'s' if changes != 1 else ''} on {changed} of {len(result.clusters)} clusters")
    return text + (" (with errors)" if result.failed else "")


def counts_line(result: FleetPreviewResult) -> str:
    counts = result.counts()
    kinds = [k for k in KIND_ORDER if counts.get(k)] + sorted(k for k in counts if k not in KIND_ORDER)
    return " · ".join(f"{kind} {counts[kind]}" for kind in kinds)


def _cluster_title(cluster: ClusterPreview) -> str:
    note = "" if cluster.in_base and cluster.in_head else (" (added by this change)" if cluster.in_head
                                                          else " (removed by this change)")
    return f"{cluster.name}{note}"


def _sides(result: FleetPreviewResult) -> tuple[str, str]:
    return (short_revision(result.head_revision, result.head_ref), short_revision(result.base_revision,
                                                                                  result.base_ref))


def render_fleet_json(result: FleetPreviewResult) -> dict[str, Any]:
    return {
        "schema": FLEET_SCHEMA,
        "exit_code": result.exit_code,
        "source": result.source,
        "path": result.path,
        "base": {"ref": result.base_ref, "revision": result.base_revision},
        "head": {"ref": result.head_ref, "revision": result.head_revision},
        "matrix": {extension: {c.name: result.cell(extension, c).text for c in result.clusters}
                   for extension in result.extensions},
        "counts": dict(sorted(result.counts().items())),
        "clusters": [{"name": c.name, "labels": dict(sorted(c.labels.items())), "in_base": c.in_base,
                      "in_head": c.in_head, "preview": render_json(c.result)} for c in result.clusters],
        "validation_errors": [
            {"side": side, "text": str(i)}
            for side, issues in (("head", result.validation_errors), ("base", result.base_validation_errors))
            for i in issues],
        "errors": list(result.errors),
        "stats": dict(sorted(result.stats.items())),
    }


def _body(cluster: ClusterPreview, max_bytes: int) -> list[str]:
    """The cluster's single-cluster markdown without its marker, title, comparison line and footer."""
    lines = render_markdown(cluster.result, max_bytes=max_bytes).splitlines()
    if lines and lines[0] == MARKER:
        lines = lines[4:]
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and (not lines[-1].strip() or lines[-1].startswith("<sub>extctl preview")):
        lines.pop()
    return lines


def render_fleet_markdown(result: FleetPreviewResult, *, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    head_text, base_text = _sides(result)
    out = [FLEET_MARKER, f"### extctl fleet preview: {headline(result)}", ""]
    where = f"source {_code(result.source)}" + (f", path {_code(result.path)}" if result.path else "")
    out += [f"head {_code(head_text)} compared with base {_code(base_text)} on every cluster of the inventory "
            f"({where}).", ""]
    issues = [f"head: {i}" for i in result.validation_errors] + [f"base: {i}" for i in result.base_validation_errors]
    if issues:
        out += ["**Manifest errors** (nothing can be applied from this revision):", "", "```text", *issues, "```", ""]
    out += [f"> **error:** {_cell(e)}" for e in result.errors]
    if result.errors:
        out.append("")
    if result.clusters:
        out += ["| extension | " + " | ".join(_cell(c.name) for c in result.clusters) + " |",
                "|---|" + "---|" * len(result.clusters)]
        for extension in result.extensions:
            cells = [result.cell(extension, c) for c in result.clusters]
            shown = [f"**{_cell(c.text)}**" if c.kind not in {UNCHANGED, NOT_PLACED} else _cell(c.text) for c in cells]
            out.append(f"| {_cell(extension)} | " + " | ".join(shown) + " |")
        out += ["", f"Cells: {counts_line(result)}. `-`: not placed on that cluster at base or head.", "",
                "Clusters: " + " · ".join(f"**{_cell(_cluster_title(c))}** {_cell(format_labels(c.labels)) or '-'}"
                                          for c in result.clusters), ""]
    changed = [c for c in result.clusters if c.result.changes or c.result.failed]
    budget = 0 if max_bytes <= 0 else max(2000, (max_bytes - len("\n".join(out).encode())) // max(1, len(changed)))
    for cluster in changed:
        count = len(cluster.result.changes)
        out += ["<details>", f"<summary><b>{_cell(_cluster_title(cluster))}</b> · "
                f"{_cell(format_labels(cluster.labels)) or 'no labels'} · {count} change{'s' if count != 1 else ''}"
                f"{' · errors' if cluster.result.failed else ''}</summary>", "", *_body(cluster, budget), "",
                "</details>", ""]
    out += [f"<sub>extctl fleet preview · {len(result.clusters)} cluster(s) · "
            f"{result.stats.get('helm_template_calls', 0)} chart render(s) for "
            f"{result.stats.get('renders_requested', 0)} requested</sub>", ""]
    return "\n".join(out)


def render_fleet_text(result: FleetPreviewResult) -> str:
    head_text, base_text = _sides(result)
    lines = [f"extctl fleet preview: {headline(result)}", f"head {head_text} compared with base {base_text} on "
             f"every cluster of the inventory", f"source {result.source}" + (f" path {result.path}" if result.path
                                                                             else ""), ""]
    lines += [f"manifest error (head): {i}" for i in result.validation_errors]
    lines += [f"manifest error (base): {i}" for i in result.base_validation_errors]
    lines += [f"error: {e}" for e in result.errors]
    if result.clusters:
        rows = [["EXTENSION", *(c.name for c in result.clusters)]]
        rows += [[e, *(result.cell(e, c).text for c in result.clusters)] for e in result.extensions]
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines += ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]
        lines += ["", f"cells: {counts_line(result)}",
                  "clusters: " + "; ".join(f"{_cluster_title(c)} {format_labels(c.labels) or '-'}"
                                           for c in result.clusters)]
    for cluster in result.clusters:
        if cluster.result.changes or cluster.result.failed:
            lines += ["", f"##### cluster {_cluster_title(cluster)} ({format_labels(cluster.labels) or 'no labels'})",
                      render_text(cluster.result).rstrip()]
    lines += ["", f"{len(result.changed_clusters)} of {len(result.clusters)} cluster(s) change; "
                  f"exit code {result.exit_code}"]
    return "\n".join(lines) + "\n"
