"""Render a ``PreviewResult`` as markdown (PR comment), plain text (terminal) or JSON (machines).

Owns: the three formats, the sticky-comment marker, and fitting markdown under ``--max-bytes`` by
truncating the per-extension sections fairly (small sections stay whole, large ones are cut) with a
note on how to see everything. The JSON layout is documented in ``docs/preview.md``
(``schema: extctl.dev/preview/v1``). Must not: do I/O or show anything not already redacted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from controller.preview.model import ExtensionChange, PreviewResult
from controller.preview.render import ResourceDiff

MARKER = "<!-- extctl-preview -->"
JSON_SCHEMA = "extctl.dev/preview/v1"
DEFAULT_MAX_BYTES = 60000
NONE = "none"
_DIGEST_REASON = re.compile(r"values digest changed \S+ → \S+")
_SETTINGS_REASON = re.compile(r"settings changed: [^;]+")  # the keys have a column of their own
_BACKTICKS = re.compile(r"`+")
FULL_OUTPUT_HINT = ("run `extctl preview` with the same `--source`/`--base`/`--head` and `--max-bytes 0` "
                    "(or `--output text`) to see the full output")


# ---------------------------------------------------------------------------------------------- shared
def version_span(from_version: str | None, to_version: str | None) -> str:
    if from_version and to_version and from_version == to_version:
        return to_version
    return f"{from_version or NONE} → {to_version or NONE}"


def short_reason(reasons: Sequence[str]) -> str:
    """The reasons for a summary line: digests replaced by words."""
    return "; ".join(_SETTINGS_REASON.sub("settings changed", _DIGEST_REASON.sub("values changed", r))
                     for r in reasons)


def invalid_headline(validation_errors: Sequence[object], base_validation_errors: Sequence[object]) -> str | None:
    """The headline of a preview whose manifests do not validate (either ref), else None."""
    count = len(validation_errors) + len(base_validation_errors)
    return f"invalid manifests ({count} error{'s' if count != 1 else ''})" if count else None


def headline(result: PreviewResult) -> str:
    invalid = invalid_headline(result.validation_errors, result.base_validation_errors)
    if invalid:
        return invalid
    if result.failed and not result.changes:
        return "error"
    n = len(result.changes)
    text = "no changes" if n == 0 else f"{n} extension{'s' if n != 1 else ''} change{'s' if n == 1 else ''}"
    return text + (" (with errors)" if result.failed else "")


def short_revision(revision: str | None, ref: str) -> str:
    """``feature@sha1:<40 hex>`` → ``feature@<12 hex>``."""
    if not revision:
        return ref
    name, _, sha = revision.rpartition("@sha1:")
    return f"{name}@{sha[:12]}" if name and sha else revision


def _against(result: PreviewResult, code: bool = False) -> str:
    on = f" (cluster {result.cluster})" if result.cluster else ""
    if result.compare == "cluster":
        return "the live cluster" + on
    text = short_revision(result.base_revision, result.base_ref)
    return f"base {_code(text) if code else text}{on}"


# ---------------------------------------------------------------------------------------------- JSON
def _diff_json(d: ResourceDiff) -> dict[str, Any]:
    return {"api_version": d.api_version, "kind": d.kind, "namespace": d.namespace, "name": d.name,
            "change": d.change, "diff": d.diff}


def _change_json(c: ExtensionChange) -> dict[str, Any]:
    return {
        "extension": c.extension, "namespace": c.namespace, "release": c.release, "action": c.action,
        "from_version": c.from_version, "to_version": c.to_version, "reasons": list(c.reasons),
        "chart": c.chart, "settings_changed": list(c.settings_changed), "waits_for": list(c.waits_for),
        "rendered": c.rendered, "resources": [_diff_json(d) for d in c.resources],
        "unchanged_resources": c.unchanged_resources,
        "notes": list(c.notes), "errors": list(c.errors),
    }


def render_json(result: PreviewResult) -> dict[str, Any]:
    return {
        "schema": JSON_SCHEMA,
        "exit_code": result.exit_code,
        "source": result.source,
        "path": result.path,
        "compare": result.compare,
        **({"cluster": result.cluster} if result.cluster else {}),
        "base": {"ref": result.base_ref, "revision": result.base_revision},
        "head": {"ref": result.head_ref, "revision": result.head_revision},
        "changes": [_change_json(c) for c in result.changes],
        "others": [{"extension": o.extension, "namespace": o.namespace, "action": o.action, "version": o.version,
                    "reasons": list(o.reasons), "drift": list(o.drift)} for o in result.others],
        "validation_errors": [
            {"side": side, "file": i.location.file, "line": i.location.line, "column": i.location.column,
             "field": i.field, "message": i.message, "text": str(i)}
            for side, issues in (("head", result.validation_errors), ("base", result.base_validation_errors))
            for i in issues],
        "errors": list(result.errors),
        "notices": [{"extension": n.extension, "kind": n.kind, "message": n.message} for n in result.notices],
        "stats": dict(sorted(result.stats.items())),
    }


# ---------------------------------------------------------------------------------------------- markdown
def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("<", "&lt;") or NONE


def _code(text: str) -> str:
    longest = max((len(m) for m in _BACKTICKS.findall(text)), default=0)
    tick = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{tick}{pad}{text}{pad}{tick}"


def _fence(text: str) -> str:
    longest = max((len(m) for m in _BACKTICKS.findall(text)), default=0)
    return "`" * max(3, longest + 1)


@dataclass
class _Section:
    """One ``<details>`` block: a head that is always kept, then blocks that may be cut."""

    head: list[str]
    blocks: list[tuple[str, str, list[str]]]  # (title line, fence, diff lines)
    tail: list[str]

    def full(self) -> str:
        lines = list(self.head)
        for title, fence, body in self.blocks:
            lines += [title, "", f"{fence}diff", *body, fence, ""]
        return "\n".join(lines + self.tail) + "\n"

    def size(self) -> int:
        return len(self.full().encode())

    def truncated(self, budget: int) -> str:
        closing = ["", "*… truncated to fit the size limit; " + FULL_OUTPUT_HINT + ".*", "", *self.tail]
        out = list(self.head)

        def size(lines: list[str]) -> int:
            return len(("\n".join(lines) + "\n").encode())

        if size(out + closing) > budget:
            return "\n".join([out[0], out[1], *closing]) + "\n"
        for title, fence, body in self.blocks:
            opening = [title, "", f"{fence}diff"]
            if size(out + opening + [fence] + closing) > budget:
                break
            out += opening
            for line in body:
                if size([*out, line, fence, *closing]) > budget:
                    out += [fence]
                    return "\n".join(out + closing) + "\n"
                out.append(line)
            out += [fence, ""]
        return "\n".join(out + closing) + "\n"


def _section(change: ExtensionChange) -> _Section:
    summary = (f"<summary><b>{_cell(change.extension)}</b> · {change.action} · "
               f"{_cell(version_span(change.from_version, change.to_version))} · "
               f"namespace {_cell(change.namespace)}</summary>")
    head = ["<details>", summary, ""]
    if change.chart:
        head.append(f"chart: {_code(change.chart)}")
        head.append("")
    head += [f"- {_cell(r)}" for r in change.reasons]
    if change.settings_changed:
        head += ["", "settings changed: " + ", ".join(_code(k) for k in change.settings_changed)]
    if change.waits_for:
        head += ["", "waits for: " + ", ".join(_code(k) for k in change.waits_for)]
    head += [f"> **error:** {_cell(e)}" for e in change.errors]
    head += [f"> note: {_cell(n)}" for n in change.notes]
    head.append("")
    blocks = []
    for d in change.resources:
        title = f"**{_cell(d.title)}** {d.change}"
        blocks.append((title, _fence(d.diff), d.diff.splitlines()))
    tail: list[str] = []
    if change.unchanged_resources:
        tail += [f"{change.unchanged_resources} rendered resource(s) unchanged.", ""]
    if change.rendered and not change.resources:
        tail += ["The rendered manifests are identical on both sides.", ""]
    elif not change.rendered and not change.errors:
        tail += ["Not rendered (see the note above).", ""]
    tail.append("</details>")
    return _Section(head, blocks, tail)


def _fit(sections: list[_Section], budget: int) -> tuple[list[str], int]:
    """Water-filling: every section gets an equal share of what is left; small ones stay whole."""
    sizes = [s.size() for s in sections]
    texts: list[str] = [""] * len(sections)
    remaining = budget
    cut = 0
    order = sorted(range(len(sections)), key=lambda i: sizes[i])
    for position, index in enumerate(order):
        share = max(0, remaining // (len(order) - position))
        if sizes[index] <= share:
            texts[index] = sections[index].full()
        else:
            texts[index] = sections[index].truncated(share)
            cut += 1
        remaining -= len(texts[index].encode())
    return texts, cut


def render_markdown(result: PreviewResult, *, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    head = [MARKER, f"### extctl preview: {headline(result)}", ""]
    where = f"source {_code(result.source)}" + (f", path {_code(result.path)}" if result.path else "")
    head += [f"head {_code(short_revision(result.head_revision, result.head_ref))} compared with "
             f"{_against(result, code=True)} ({where}).", ""]
    issues = [("head", i) for i in result.validation_errors] + [("base", i) for i in result.base_validation_errors]
    if issues:
        # Field names come from the head's YAML and may hold newlines and backticks: the fence outgrows them.
        lines = [f"{side}: {issue}" if side == "base" else str(issue) for side, issue in issues]
        fence = _fence("\n".join(lines))
        head += ["**Manifest errors** (nothing can be applied from this revision):", "", f"{fence}text", *lines,
                 fence, ""]
    for error in result.errors:
        head += [f"> **error:** {_cell(error)}", ""]
    if result.changes:
        head += ["| extension | action | version | reason | settings changed |", "|---|---|---|---|---|"]
        for c in result.changes:
            keys = ", ".join(_code(k) for k in c.settings_changed) or NONE
            head.append(f"| {_cell(c.extension)} | {c.action} | {_cell(version_span(c.from_version, c.to_version))}"
                        f" | {_cell(short_reason(c.reasons))} | {keys} |")
        head.append("")
    problems = [o for o in result.others if o.action != "noop"]
    if problems:
        head += ["**Not applied:**", ""]
        head += [f"- **{_cell(o.extension)}** {o.action}: {_cell('; '.join(o.reasons))}" for o in problems]
        head.append("")
    drifted = [o for o in result.others if o.drift]
    if drifted:
        head += ["**Drift in the cluster** (reported; `driftDetection: enabled` corrects it):", ""]
        head += [f"- **{_cell(o.extension)}**: {_cell('; '.join(o.drift))}" for o in drifted]
        head.append("")
    unchanged = sum(1 for o in result.others if o.action == "noop")
    if unchanged:
        head += [f"{unchanged} extension(s) unchanged (not rendered).", ""]
    for n in result.notices:
        head += [f"- note ({_cell(n.extension)}): {_cell(n.message)}"]
    if result.notices:
        head.append("")
    sections = [_section(c) for c in result.changes]
    footer = [f"<sub>extctl preview · {result.stats.get('helm_template_calls', 0)} chart render(s)</sub>", ""]
    head_text = "\n".join(head) + "\n"
    footer_text = "\n".join(footer)
    full = head_text + "".join(s.full() + "\n" for s in sections) + footer_text
    if max_bytes <= 0 or len(full.encode()) <= max_bytes:
        return full
    note = f"> **Output truncated** to {max_bytes} bytes: {FULL_OUTPUT_HINT}.\n\n"
    budget = max_bytes - len((head_text + note + footer_text).encode()) - len(sections)
    texts, _cut = _fit(sections, max(0, budget))
    return head_text + note + "".join(t + "\n" for t in texts) + footer_text


# ---------------------------------------------------------------------------------------------- text
def render_text(result: PreviewResult) -> str:
    lines = [f"extctl preview: {headline(result)}",
             f"head {short_revision(result.head_revision, result.head_ref)} compared with {_against(result)}",
             f"source {result.source}" + (f" path {result.path}" if result.path else ""), ""]
    for side, issues in (("head", result.validation_errors), ("base", result.base_validation_errors)):
        if issues:
            lines.append(f"manifest errors ({side}):")
            lines += [f"  {i}" for i in issues]
            lines.append("")
    lines += [f"error: {e}" for e in result.errors]
    rows = [("EXTENSION", "ACTION", "VERSION", "SETTINGS", "REASON")]
    for c in result.changes:
        rows.append((c.extension, c.action, version_span(c.from_version, c.to_version),
                     ",".join(c.settings_changed) or "-", short_reason(c.reasons)))
    for o in result.others:
        if o.action != "noop":
            rows.append((o.extension, o.action, o.version or "-", "-", "; ".join(o.reasons)))
    if len(rows) > 1:
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines += ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4] for row in rows]
        lines.append("")
    lines += [f"drift ({o.extension}): {'; '.join(o.drift)}" for o in result.others if o.drift]
    unchanged = sum(1 for o in result.others if o.action == "noop")
    if unchanged:
        lines += [f"{unchanged} extension(s) unchanged (not rendered)", ""]
    lines += [f"note ({n.extension}): {n.message}" for n in result.notices]
    for c in result.changes:
        lines += ["", f"=== {c.extension}: {c.action} {version_span(c.from_version, c.to_version)} "
                      f"(namespace {c.namespace})"]
        if c.chart:
            lines.append(f"chart: {c.chart}")
        lines += [f"  - {r}" for r in c.reasons]
        if c.settings_changed:
            lines.append("settings changed: " + ", ".join(c.settings_changed))
        if c.waits_for:
            lines.append("waits for: " + ", ".join(c.waits_for))
        lines += [f"error: {e}" for e in c.errors] + [f"note: {n}" for n in c.notes]
        for d in c.resources:
            lines += ["", f"--- {d.title}: {d.change}", d.diff]
        if c.unchanged_resources:
            lines.append(f"({c.unchanged_resources} rendered resource(s) unchanged)")
    lines += ["", f"{len(result.changes)} change(s); exit code {result.exit_code}"]
    return "\n".join(lines) + "\n"
