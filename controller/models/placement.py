"""The fleet vocabulary: cluster identities, inventory entries, label selectors, placements and overrides.

Owns: Kubernetes label-selector semantics (``matchLabels`` and ``matchExpressions`` with ``In``,
``NotIn``, ``Exists``, ``DoesNotExist``, all ANDed; an empty selector selects every cluster; ``NotIn``
and ``DoesNotExist`` also select a cluster without the key), ``Placement`` (a cluster is selected when
its name is listed in ``clusters`` **or** its labels match ``clusterSelector``), ``Override`` (a
targeted change of settings, train or pin), ``ClusterEntry`` (one ``kind: Cluster`` of the inventory),
``ClusterIdentity`` (who a controller is: name and labels, and where they came from), the ``k=v,…``
label-list syntax and Kubernetes label key/value syntax. Must not: do I/O, or know about manifest files
and views (``controller.models.fleet`` applies all this to a ``ManifestSet``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from controller.errors import Location

_NO_LOCATION = Location(file="<unknown>", line=0, column=0)
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class Operator(StrEnum):
    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


@dataclass(frozen=True)
class Requirement:
    """One ``matchExpressions`` entry."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator is Operator.IN:
            return self.key in labels and labels[self.key] in self.values
        if self.operator is Operator.NOT_IN:
            return self.key not in labels or labels[self.key] not in self.values
        if self.operator is Operator.EXISTS:
            return self.key in labels
        return self.key not in labels

    def describe(self) -> str:
        """kubectl's selector syntax: ``env in (prod,staging)``, ``env notin (dev)``, ``gpu``, ``!legacy``."""
        if self.operator is Operator.EXISTS:
            return self.key
        if self.operator is Operator.DOES_NOT_EXIST:
            return f"!{self.key}"
        word = "in" if self.operator is Operator.IN else "notin"
        return f"{self.key} {word} ({','.join(self.values)})"


@dataclass(frozen=True)
class LabelSelector:
    match_labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    match_expressions: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(key) == value for key, value in self.match_labels.items()) and all(
            requirement.matches(labels) for requirement in self.match_expressions)

    def describe(self) -> str:
        parts = [f"{key}={value}" for key, value in sorted(self.match_labels.items())]
        parts += [requirement.describe() for requirement in self.match_expressions]
        return ",".join(parts) or "(every cluster)"


@dataclass(frozen=True)
class Placement:
    """Which clusters something applies to: listed by name, or selected by labels (either is enough)."""

    cluster_selector: LabelSelector | None = None
    clusters: tuple[str, ...] = ()

    def selects(self, name: str | None, labels: Mapping[str, str]) -> bool:
        if name is not None and name in self.clusters:
            return True
        return self.cluster_selector is not None and self.cluster_selector.matches(labels)

    def describe(self) -> str:
        parts = []
        if self.cluster_selector is not None:
            parts.append(f"clusterSelector {self.cluster_selector.describe()}")
        if self.clusters:
            parts.append("clusters " + ",".join(self.clusters))
        return " or ".join(parts) or "no cluster"


@dataclass(frozen=True)
class Override:
    """One ``spec.overrides`` entry: what changes on the clusters ``target`` selects. ``None`` leaves a field
    as the spec (or an earlier override) has it; ``index`` is the entry's position, for messages."""

    target: Placement
    configuration_settings: Mapping[str, object] | None = field(default=None, hash=False)
    release_train: str | None = None
    version: str | None = None
    auto_upgrade_minor_version: bool | None = None
    index: int = 0

    def describe(self) -> str:
        changed = [name for name, value in (("configurationSettings", self.configuration_settings),
                                            ("releaseTrain", self.release_train), ("version", self.version),
                                            ("autoUpgradeMinorVersion", self.auto_upgrade_minor_version))
                   if value is not None]
        return f"overrides[{self.index}] ({self.target.describe()}: {', '.join(changed) or 'nothing'})"


@dataclass(frozen=True)
class ClusterEntry:
    """One cluster of the inventory (``kind: Cluster`` in Git)."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    location: Location = field(default=_NO_LOCATION, compare=False)


@dataclass(frozen=True)
class ClusterIdentity:
    """Who a controller is. ``source`` says where the name came from (flag, env, ConfigMap, ``--cluster``)."""

    name: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    source: str = "flags"

    @property
    def labels_text(self) -> str:
        return format_labels(self.labels)


def format_labels(labels: Mapping[str, str]) -> str:
    """``{"env": "prod", "region": "eu"}`` → ``env=prod,region=eu`` (sorted)."""
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


def parse_labels(text: str) -> dict[str, str]:
    """``env=prod, region=eu`` → a dict; raises ``ValueError`` saying which entry is wrong and why."""
    labels: dict[str, str] = {}
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            continue
        key, separator, value = entry.partition("=")
        key, value = key.strip(), value.strip()
        if not separator:
            raise ValueError(f"{entry!r} is not key=value")
        problem = label_key_problem(key) or label_value_problem(value)
        if problem is not None:
            raise ValueError(f"{entry!r}: {problem}")
        if key in labels and labels[key] != value:
            raise ValueError(f"label {key!r} is given twice")
        labels[key] = value
    return labels


def label_key_problem(key: str) -> str | None:
    """Kubernetes label key syntax: ``[prefix/]name``, name at most 63 characters."""
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        return f"label key {key!r} has an invalid prefix (expected a DNS subdomain like example.com/)"
    if not name or len(name) > 63 or not _LABEL_NAME.match(name):
        return (f"label key {key!r} is invalid (at most 63 letters, digits, '-', '_' or '.', starting and ending "
                "with a letter or digit, optionally after a DNS prefix and '/')")
    return None


def label_value_problem(value: str) -> str | None:
    if value and (len(value) > 63 or not _LABEL_NAME.match(value)):
        return (f"label value {value!r} is invalid (empty, or at most 63 letters, digits, '-', '_' or '.', "
                "starting and ending with a letter or digit)")
    return None


def merge_identity(given: ClusterIdentity | None, stored: ClusterIdentity | None) -> ClusterIdentity | None:
    """Per field: a name or labels given by flag or env win over the ConfigMap's; ``None`` when neither names
    anything (a controller without an identity)."""
    if given is None:
        return stored
    if stored is None:
        return given if given.name is not None or given.labels else None
    name, source = (given.name, given.source) if given.name is not None else (stored.name, stored.source)
    return ClusterIdentity(name, dict(given.labels) if given.labels else dict(stored.labels), source)


def selected_clusters(target: Placement, inventory: Iterable[ClusterEntry]) -> list[str]:
    """The names of the inventory's clusters that ``target`` selects (in inventory order)."""
    return [entry.name for entry in inventory if target.selects(entry.name, entry.labels)]
