"""``extctl plan``: what a pass would do against the live cluster (or an empty one with ``--offline``).

Read-only: the same decision path as ``reconcile`` (release state → action), but nothing is created or
written in the cluster and no helm action other than ``list``, ``get metadata`` and ``history`` runs.
The plan goes to stdout (text or ``--output json``); logs go to stderr so the JSON stays
machine-readable. Exit codes as helmfile's ``--detailed-exitcode``: 0 no change, 2 changes, 1 errors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from controller.commands import SUMMARIES
from controller.commands._engine import add_engine_options, build_engine
from controller.engine import PassResult
from controller.models.plan import PlannedAction


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "plan", help=SUMMARIES["plan"])
    add_engine_options(parser)
    parser.add_argument("--offline", action="store_true", help="plan against an empty cluster (no cluster access)")
    parser.add_argument("--output", "-o", choices=["text", "json"], default="text")
    parser.set_defaults(handler=run)


def action_json(action: PlannedAction) -> dict[str, Any]:
    data: dict[str, Any] = {
        "extension": action.extension, "action": action.kind.value, "state": action.state.value,
        "namespace": action.namespace,
        "release": action.release, "from_version": action.from_version, "to_version": action.to_version,
        "reasons": list(action.reasons) + ([action.note] if action.note else []),
        "waits_for": list(action.waits_for),
    }
    if action.error_reason:
        data["error_reason"] = action.error_reason
    if action.unlock_to is not None:
        data["unlock_to"] = action.unlock_to
    if action.desired is not None:
        resolution = action.desired.resolution
        data["resolution"] = {"rule": resolution.rule.value, "explanation": resolution.explanation,
                              "train": resolution.train, "newer_major_available": resolution.newer_major_available}
        data["values_digest"] = action.desired.values_digest
    return data


def result_json(result: PassResult) -> dict[str, Any]:
    return {
        "revision": result.revision,
        "outcome": result.outcome,
        "error": result.error,
        "reason": result.reason,
        "manifest_errors": list(result.manifest_errors),
        "notes": list(result.notes),
        "actions": [action_json(a) for a in (result.plan.actions if result.plan else ())],
        "summary": {"changes": result.changes, **result.summary.as_dict()},
    }


def render_text(result: PassResult) -> str:
    lines = [f"revision: {result.revision or '-'}"]
    if result.error:
        lines.append(f"error: {result.error}")
        lines.extend(f"  {e}" for e in result.manifest_errors)
    if result.plan is not None:
        rows = [("EXTENSION", "ACTION", "NAMESPACE", "VERSION", "REASON")]
        for a in result.plan.actions:
            version = a.to_version or a.from_version or "-"
            if a.from_version and a.to_version and a.from_version != a.to_version:
                version = f"{a.from_version} → {a.to_version}"
            rows.append((a.extension, a.kind.value, a.namespace or "-", version, a.reason))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        for row in rows:
            lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4])
        lines.append(f"{len(result.plan.changes)} change(s) planned")
    lines.extend(f"note: {note}" for note in result.notes)
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    engine = build_engine(args, mode="offline" if args.offline else "plan", log_stream=sys.stderr)
    result = asyncio.run(engine.run_pass())
    if args.output == "json":
        print(json.dumps(result_json(result), indent=2))
    else:
        print(render_text(result))
    return exit_code(result)


def exit_code(result: PassResult) -> int:
    """As helmfile's ``--detailed-exitcode``: 0 no change, 2 changes, 1 errors, blocked or pending
    extensions, or uninstalls refused by the prune guard."""
    if not result.ok:
        return 1
    return 2 if result.changes else 0
