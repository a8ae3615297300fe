"""``extctl plan``: what a pass would do against the live cluster (or an empty one with ``--offline``).

Nothing is applied: no helm action other than ``list`` and ``get metadata`` runs. The plan goes to
stdout (text or ``--output json``); logs go to stderr so the JSON stays machine-readable.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from controller.commands._engine import add_engine_options, build_reconciler
from controller.models.plan import PlannedAction
from controller.reconciler import PassResult


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "plan", help="show what a reconcile would change, without changing anything")
    add_engine_options(parser)
    parser.add_argument("--offline", action="store_true", help="plan against an empty cluster (no cluster access)")
    parser.add_argument("--output", "-o", choices=["text", "json"], default="text")
    parser.set_defaults(handler=run)


def action_json(action: PlannedAction) -> dict[str, Any]:
    data: dict[str, Any] = {
        "extension": action.extension, "action": action.kind.value, "namespace": action.namespace,
        "release": action.release, "from_version": action.from_version, "to_version": action.to_version,
        "reasons": list(action.reasons), "waits_for": list(action.waits_for),
    }
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
        "manifest_errors": list(result.manifest_errors),
        "actions": [action_json(a) for a in (result.plan.actions if result.plan else ())],
        "summary": {"changes": len(result.plan.changes) if result.plan else 0, **result.summary.as_dict()},
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
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    reconciler = build_reconciler(args, offline=args.offline, log_stream=sys.stderr)
    result = asyncio.run(reconciler.run_pass(apply=False))
    if args.output == "json":
        print(json.dumps(result_json(result), indent=2))
    else:
        print(render_text(result))
    return 0 if result.outcome == "planned" else 1
