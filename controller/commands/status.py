"""``extctl status [NAME]``: what is installed where, at which version, and is it healthy: read from the
cluster alone (the ``Extension`` objects the reconciler writes, and their Events).

A table like ``helm list`` (``-o wide`` adds the reason, the last attempted version, the failure count and
the message; ``-o json|yaml`` the objects' status), filtered by name, ``--state`` and ``--namespace``;
``extctl status NAME`` adds the conditions, the last actions and the Events. Exit 1 when any extension
shown is Failed or Stalled (or none matches a NAME), so scripts can gate on it; 0 otherwise. A fleet
member's objects carry its cluster's name and labels (``extctl.dev/cluster``): shown under the table.
Must not: write anything, or talk to helm or Git.
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from ruamel.yaml import YAML

from controller.commands import SUMMARIES
from controller.commands._options import _env_default, add_kube_options, add_log_options
from controller.engine.fleet import ANNOTATION_CLUSTER, ANNOTATION_CLUSTER_LABELS
from controller.errors import ExtctlError
from controller.logs import configure
from controller.models.extension_object import LiveObject
from controller.models.extension_status import ExtensionStatus, ProvisioningState

COLUMNS = ("NAME", "NAMESPACE", "TYPE", "TRAIN", "INSTALLED", "TARGET", "STATE", "READY", "UPDATED")
WIDE = ("REASON", "LAST-ATTEMPTED", "FAILURES", "MESSAGE")


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "status", help=SUMMARIES["status"])
    parser.add_argument("name", nargs="?", help="one extension: adds its conditions, last actions and Events")
    parser.add_argument("--namespace", "-n", default=None, help="only extensions in this (release) namespace")
    parser.add_argument("--state", default=None, type=str.lower,
                        help="only extensions in this provisioning state (Succeeded, Failed, Pending, …)")
    parser.add_argument("--instance", default=_env_default("EXTCTL_INSTANCE"),
                        help="only this extctl instance's extensions (default: every instance; env EXTCTL_INSTANCE)")
    parser.add_argument("--output", "-o", choices=["table", "wide", "json", "yaml"], default="table")
    add_kube_options(parser)
    add_log_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    configure(args.log_format, args.log_level, stream=sys.stderr)
    from controller.cluster import KubeCluster  # noqa: PLC0415 - the kubernetes client costs 0.5 s to import
    from controller.cluster.extensions import ExtensionObjects  # noqa: PLC0415 - same

    cluster = KubeCluster(kube_context=args.kube_context, kubeconfig=args.kubeconfig)
    cluster.check_config()
    objects = ExtensionObjects(cluster)
    found = [LiveObject.from_json(o) for o in objects.list_extensions(args.instance)]
    shown = [o for o in found if (args.name is None or o.name == args.name)
             and (args.namespace is None or o.namespace == args.namespace)
             and (args.state is None or _status(o).provisioning_state.lower() == args.state)]
    shown.sort(key=lambda o: (o.name, o.namespace))
    if args.name is not None and not shown:
        where = f" in namespace {args.namespace}" if args.namespace else ""
        raise ExtctlError(f"no Extension {args.name!r}{where} in the cluster",
                          hint="list them with `extctl status`; an extension appears after its first applied pass")
    events = {o.key: objects.list_events(o.namespace, o.name) for o in shown} if args.name is not None else {}
    if args.output in {"json", "yaml"}:
        document = {"extensions": [_as_json(o, events.get(o.key)) for o in shown]}
        if args.output == "json":
            print(json.dumps(document, indent=2, sort_keys=False))
        else:
            stream = io.StringIO()
            YAML(typ="safe", pure=True).dump(document, stream)
            print(stream.getvalue(), end="")
    elif args.name is not None:
        for obj in shown:
            print(describe(obj, events.get(obj.key, []), now=_now()))
    else:
        print(table(shown, wide=args.output == "wide", now=_now()))
        clusters = sorted({cluster_of(o) for o in shown} - {""})
        if clusters:
            print("\ncluster: " + "; ".join(clusters))
    return 1 if any(failing(_status(o)) for o in shown) else 0


def _now() -> datetime.datetime:
    return datetime.datetime.now(tz=datetime.UTC)


def _status(obj: LiveObject) -> ExtensionStatus:
    return ExtensionStatus.from_json(obj.status) or ExtensionStatus(provisioning_state="Unknown")


def failing(status: ExtensionStatus) -> bool:
    return status.provisioning_state == ProvisioningState.FAILED.value or status.stalled


def cluster_of(obj: LiveObject) -> str:
    """``east (env=prod,region=eu)`` from the annotations a fleet member's controller writes ('' when none)."""
    name = obj.annotations.get(ANNOTATION_CLUSTER, "")
    labels = obj.annotations.get(ANNOTATION_CLUSTER_LABELS, "")
    return f"{name} ({labels})" if name and labels else name


def _as_json(obj: LiveObject, events: Sequence[Mapping[str, Any]] | None) -> dict[str, Any]:
    data: dict[str, Any] = {"name": obj.name, "namespace": obj.namespace, "instance": obj.instance,
                            **({"cluster": obj.annotations[ANNOTATION_CLUSTER]}
                               if obj.annotations.get(ANNOTATION_CLUSTER) else {}),
                            "type": obj.spec.get("extensionType"), "train": obj.spec.get("releaseTrain"),
                            "status": dict(obj.status)}
    if events is not None:
        data["events"] = [{k: e.get(k) for k in ("type", "reason", "message", "count", "firstTimestamp",
                                                 "lastTimestamp")} for e in events]
    return data


def ago(timestamp: str | None, now: datetime.datetime) -> str:
    """``3m ago`` style age of an RFC 3339 timestamp ('-' when unknown)."""
    if not timestamp:
        return "-"
    try:
        then = datetime.datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    except ValueError:
        return timestamp
    seconds = max(0, int((now - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size * 2 or (unit == "m" and seconds >= 60):
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def _row(obj: LiveObject, wide: bool, now: datetime.datetime) -> list[str]:
    status = _status(obj)
    ready = status.condition("Ready")
    row = [obj.name, obj.namespace, str(obj.spec.get("extensionType") or "-"), str(obj.spec.get("releaseTrain") or "-"),
           status.installed_version or "-", status.target_version or "-", status.provisioning_state,
           ready.status if ready else "Unknown", ago(status.last_applied_time, now)]
    if wide:
        row += [ready.reason if ready else "-", status.last_attempted_version or "-", str(status.failures),
                status.message or "-"]
    return row


def table(objects: Sequence[LiveObject], *, wide: bool, now: datetime.datetime) -> str:
    header = list(COLUMNS) + (list(WIDE) if wide else [])
    rows = [header] + [_row(o, wide, now) for o in objects]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    lines = ["   ".join(cell.ljust(w) for cell, w in zip(r[:-1], widths, strict=True)) + "   " + r[-1] for r in rows]
    return "\n".join(line.rstrip() for line in lines)


def describe(obj: LiveObject, events: Sequence[Mapping[str, Any]], *, now: datetime.datetime) -> str:
    status = _status(obj)
    out = [f"Name:                {obj.name}", f"Namespace:           {obj.namespace}",
           f"Cluster:             {cluster_of(obj) or '-'}",
           f"Type:                {obj.spec.get('extensionType')}",
           f"Train:               {obj.spec.get('releaseTrain')}",
           f"State:               {status.provisioning_state}",
           f"Installed version:   {status.installed_version or '-'}",
           f"Target version:      {status.target_version or '-'}",
           f"Last attempted:      {status.last_attempted_version or '-'}",
           f"Newer major:         {status.newer_major_available or '-'}",
           f"Last applied:        {status.last_applied_revision or '-'} ({ago(status.last_applied_time, now)})",
           f"Failures:            {status.failures}",
           f"Message:             {status.message or '-'}",
           f"Source:              {obj.annotations.get('extctl.dev/source-file', '-')} at "
           f"{obj.annotations.get('extctl.dev/source-revision', '-')}",
           "", "Conditions:"]
    for c in status.conditions:
        out.append(f"  {c.type:<12} {c.status:<7} {c.reason:<24} {ago(c.last_transition_time, now):<9} {c.message}"
                   .rstrip())
    out += ["", "Last actions:"]
    for a in status.last_actions or ():
        versions = " → ".join(v for v in (a.from_version, a.to_version) if v)
        out.append(f"  {ago(a.time, now):<9} {a.action:<10} {a.outcome:<10} {versions:<20} {a.reason}: {a.message}")
    if not status.last_actions:
        out.append("  (none)")
    out += ["", "Events:"]
    for e in events:
        count = e.get("count") or 1
        out.append(f"  {ago(e.get('lastTimestamp'), now):<9} {e.get('type', ''):<8} {e.get('reason', ''):<22} "
                   f"x{count:<3} {e.get('message', '')}")
    if not events:
        out.append("  (none)")
    return "\n".join(out) + "\n"
