"""``extctl plan``: what a pass would do against the live cluster (or an empty one with ``--offline``).

Read-only: the same decision path as ``reconcile`` (release state → action), but nothing is created or
written in the cluster and no helm action other than ``list``, ``get metadata`` and ``history`` runs.
``--cluster NAME`` plans as the inventory's cluster NAME would (its placements and overrides; offline
unless ``--kube-context`` names the cluster to read).
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
from controller.models.fleet import ClusterView
from controller.models.placement import format_labels
from controller.models.plan import PlannedAction, ReleaseState


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "plan", help=SUMMARIES["plan"])
    add_engine_options(parser)
    parser.add_argument("--offline", action="store_true", help="plan against an empty cluster (no cluster access)")
    parser.add_argument("--cluster", metavar="NAME", default=None,
                        help="plan as the inventory's cluster NAME (kind: Cluster in Git) would: its placements and "
                             "overrides; offline unless --kube-context or --kubeconfig is given")
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


def cluster_json(view: ClusterView | None) -> dict[str, Any] | None:
    if view is None or view.identity is None:
        return None
    return {"name": view.name, "labels": dict(sorted(view.identity.labels.items())), "in_inventory": view.known,
            "not_placed": list(view.not_placed), "overrides": {k: list(v) for k, v in sorted(view.overrides.items())}}


def refused_prunes(result: PassResult) -> tuple[list[PlannedAction], list[PlannedAction]]:
    """The plan's actions split into (shown as actions, uninstalls the prune guard refused): the refused ones
    share one reason, said once in their own section rather than on every row."""
    actions = list(result.plan.actions) if result.plan is not None else []
    refused = [a for a in actions if a.state is ReleaseState.PRUNE_REFUSED]
    return [a for a in actions if a.state is not ReleaseState.PRUNE_REFUSED], refused


def _own_reasons(action: PlannedAction, guard_reason: str) -> list[str]:
    return [r for r in action.reasons if r != guard_reason]


def result_json(result: PassResult, view: ClusterView | None = None) -> dict[str, Any]:
    actions, refused = refused_prunes(result)
    return {
        "revision": result.revision,
        "cluster": cluster_json(view),
        "outcome": result.outcome,
        "error": result.error,
        "reason": result.reason,
        "manifest_errors": list(result.manifest_errors),
        "notes": list(result.notes),
        "actions": [action_json(a) for a in actions],
        "prune_refused": {
            "count": len(refused), "reason": result.prune_reason or None,
            "releases": [{"extension": a.extension, "namespace": a.namespace, "release": a.release,
                          "version": a.from_version, "reasons": _own_reasons(a, result.prune_reason)}
                         for a in refused],
        },
        "summary": {"changes": result.changes, "prune_refused": len(refused), **result.summary.as_dict()},
    }


def render_text(result: PassResult, view: ClusterView | None = None) -> str:
    lines = [f"revision: {result.revision or '-'}"]
    cluster = cluster_json(view)
    if cluster is not None:
        lines.append(f"cluster: {cluster['name']} ({format_labels(cluster['labels']) or 'no labels'})"
                     + ("" if cluster["in_inventory"] else ", not in the inventory"))
        lines += [f"  {name}: {', '.join(used)}" for name, used in cluster["overrides"].items()]
        if cluster["not_placed"]:
            lines.append("  not placed here: " + ", ".join(cluster["not_placed"]))
    if result.error:
        lines.append(f"error: {result.error}")
        lines.extend(f"  {e}" for e in result.manifest_errors)
    if result.plan is not None:
        actions, refused = refused_prunes(result)
        rows = [("EXTENSION", "ACTION", "NAMESPACE", "VERSION", "REASON")]
        for a in actions:
            version = a.to_version or a.from_version or "-"
            if a.from_version and a.to_version and a.from_version != a.to_version:
                version = f"{a.from_version} → {a.to_version}"
            rows.append((a.extension, a.kind.value, a.namespace or "-", version, a.reason))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        for row in rows:
            lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4])
        if refused:
            lines += ["", f"uninstalls refused by the prune guard ({len(refused)}):",
                      f"  {result.prune_reason}" if result.prune_reason else "  (no reason recorded)"]
            lines += [f"  {a.namespace}/{a.release}" + (f" {a.from_version}" if a.from_version else "")
                      + (f": {'; '.join(own)}" if (own := _own_reasons(a, result.prune_reason)) else "")
                      for a in refused]
            lines.append("")
        lines.append(f"{len(result.plan.changes)} change(s) planned"
                     + (f", {len(refused)} uninstall(s) refused by the prune guard" if refused else ""))
    lines.extend(f"note: {note}" for note in result.notes)
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    offline = args.offline or (args.cluster is not None and args.kube_context is None and args.kubeconfig is None)
    engine = build_engine(args, mode="offline" if offline else "plan", log_stream=sys.stderr)
    result = asyncio.run(engine.run_pass())
    view = engine.parts.scope.view
    if args.output == "json":
        print(json.dumps(result_json(result, view), indent=2))
    else:
        print(render_text(result, view))
    return exit_code(result)


def exit_code(result: PassResult) -> int:
    """As helmfile's ``--detailed-exitcode``: 0 no change, 2 changes, 1 errors, blocked or pending
    extensions, or uninstalls refused by the prune guard."""
    if not result.ok:
        return 1
    return 2 if result.changes else 0
