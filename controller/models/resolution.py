"""Release-train version resolution: which chart version an extension should run, and why.

Owns: the one pure function ``resolve_version`` implementing the resolution rules of issue 3, plus
``versions_for_train`` (which versions a train admits, newest first). Ordering and comparison are
SemVer 2.0 precedence from the ``semver`` library; build metadata never affects order.
Must not: fetch anything, log, read the clock or touch the cluster. Invalid SemVer tags are not
logged here: they are returned in ``ignored_tags`` so the caller can log them.

Rules:
1. candidates = versions the train admits, in SemVer order (invalid tags ignored);
2. a pinned ``version`` is the target exactly and must exist in the repository;
3. auto-upgrade, nothing installed: highest candidate (inside ``majorVersion`` when set);
4. auto-upgrade, installed: highest candidate with the installed major; newer majors are "available";
5. never an automatic downgrade: an installed version above every candidate is kept;
6. the result carries the version, the rule and a one-line explanation.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import semver

from controller.errors import ResolutionError
from controller.models.manifests import ReleaseTrain

NEAREST_VERSIONS_SHOWN = 5


class ResolutionRule(StrEnum):
    """Which rule chose the target (stable, machine-readable names for plan/preview output)."""

    PINNED = "pinned"
    LATEST_IN_TRAIN = "latest-in-train"
    LATEST_IN_MAJOR = "latest-in-major"
    UPGRADE_IN_INSTALLED_MAJOR = "latest-in-installed-major"
    UP_TO_DATE = "up-to-date"
    KEEP_INSTALLED = "keep-installed"


@dataclass(frozen=True)
class ParsedVersion:
    """A repository tag together with its parsed SemVer form (the tag string is what Helm needs)."""

    tag: str
    semver: semver.Version

    @property
    def major(self) -> int:
        return int(self.semver.major)


@dataclass(frozen=True)
class TrainVersions:
    """The versions one train admits, newest first, and the tags that are not valid SemVer."""

    train: ReleaseTrain
    admitted: tuple[str, ...]
    ignored_tags: tuple[str, ...]


@dataclass(frozen=True)
class Resolution:
    """The outcome of resolution: the target version, the rule that chose it and a one-line why."""

    version: str
    rule: ResolutionRule
    explanation: str
    train: str
    installed_version: str | None = None
    newer_major_available: str | None = None
    candidates: tuple[str, ...] = ()
    ignored_tags: tuple[str, ...] = ()

    @property
    def changes_installed(self) -> bool:
        return self.version != self.installed_version


@dataclass(frozen=True)
class _Context:
    """What every Resolution of one call shares."""

    train: str
    installed_version: str | None
    candidates: tuple[str, ...]
    ignored_tags: tuple[str, ...]

    def result(
        self, *, version: str, rule: ResolutionRule, explanation: str, newer_major_available: str | None = None
    ) -> Resolution:
        return Resolution(
            version=version,
            rule=rule,
            explanation=explanation,
            train=self.train,
            installed_version=self.installed_version,
            newer_major_available=newer_major_available,
            candidates=self.candidates,
            ignored_tags=self.ignored_tags,
        )


def _precedence(left: ParsedVersion, right: ParsedVersion) -> int:
    order = left.semver.compare(right.semver)
    if order != 0:
        return int(order)
    # Equal precedence (differs only in build metadata): order by tag text so results are deterministic.
    return (left.tag > right.tag) - (left.tag < right.tag)


def parse_versions(tags: Iterable[str]) -> tuple[list[ParsedVersion], list[str]]:
    """Parse tags as SemVer 2.0, ascending by precedence; returns (parsed, invalid tags).

    Memoised on the exact tag sequence: a pass resolves many extensions against the same catalog."""
    parsed, invalid = _parse_versions_cached(tuple(tags))
    return list(parsed), list(invalid)


@functools.lru_cache(maxsize=64)
def _parse_versions_cached(tags: tuple[str, ...]) -> tuple[tuple[ParsedVersion, ...], tuple[str, ...]]:
    parsed: list[ParsedVersion] = []
    invalid: list[str] = []
    for tag in dict.fromkeys(tags):
        try:
            parsed.append(ParsedVersion(tag=tag, semver=semver.Version.parse(tag)))
        except (ValueError, TypeError):
            invalid.append(tag)
    parsed.sort(key=functools.cmp_to_key(_precedence))
    return tuple(parsed), tuple(sorted(invalid))


@functools.lru_cache(maxsize=256)
def _admitted_cached(tags: tuple[str, ...], train: ReleaseTrain) -> tuple[ParsedVersion, ...]:
    """The versions of ``tags`` that ``train`` admits, ascending: 1000 extensions on one train check each
    version once, not 1000 times (``extctl resolve`` and every pass's desired state, bench/README.md P6)."""
    parsed, _ = _parse_versions_cached(tags)
    return tuple(v for v in parsed if train_admits(train, v.semver))


def train_admits(train: ReleaseTrain, version: semver.Version) -> bool:
    """Stable versions always (subject to the constraint); prereleases only when their first
    identifier is one of the train's ``prerelease_identifiers`` (compared case-insensitively)."""
    if version.prerelease is not None:
        first_identifier = str(version.prerelease).split(".", 1)[0].casefold()
        allowed = {identifier.casefold() for identifier in train.prerelease_identifiers}
        if first_identifier not in allowed:
            return False
    return all(version.match(comparator) for comparator in train.constraint_comparators())


def versions_for_train(available_versions: Iterable[str], train: ReleaseTrain) -> TrainVersions:
    """The versions ``train`` admits, newest first (what ``extctl catalog versions`` prints)."""
    parsed, invalid = parse_versions(available_versions)
    admitted = [v.tag for v in reversed(parsed) if train_admits(train, v.semver)]
    return TrainVersions(train=train, admitted=tuple(admitted), ignored_tags=tuple(invalid))


def resolve_version(
    available_versions: Iterable[str],
    train: ReleaseTrain,
    *,
    pinned_version: str | None = None,
    auto_upgrade_minor_version: bool = True,
    major_version: int | None = None,
    installed_version: str | None = None,
) -> Resolution:
    """Choose the chart version for one extension (rules 1-6 in the module docstring).

    Raises ``ResolutionError`` when no version fits; its message lists what is available.
    """
    tags = tuple(available_versions)
    parsed, invalid = parse_versions(tags)
    candidates = list(_admitted_cached(tags, train))
    common = _Context(
        train=train.name,
        installed_version=installed_version,
        candidates=tuple(v.tag for v in reversed(candidates)),
        ignored_tags=tuple(invalid),
    )

    # Rule 2: a pin is exact and wins over everything else.
    if pinned_version is not None:
        return _resolve_pinned(pinned_version, parsed, candidates, installed_version, common)

    if not auto_upgrade_minor_version:
        raise ResolutionError(
            "autoUpgradeMinorVersion is false but no version is pinned",
            hint="set spec.version to the exact chart version to install",
        )

    if installed_version is None:
        return _resolve_first_install(train, major_version, parsed, candidates, common)
    return _resolve_upgrade(train, installed_version, candidates, common)


def _resolve_pinned(
    pinned: str,
    parsed: Sequence[ParsedVersion],
    candidates: Sequence[ParsedVersion],
    installed: str | None,
    common: _Context,
) -> Resolution:
    exact = next((v for v in parsed if v.tag == pinned), None)
    if exact is None:
        raise ResolutionError(
            f"pinned version {pinned} is not in the chart repository; {_nearest_versions_text(pinned, parsed)}",
            hint="set spec.version to one of the available versions",
        )
    notes = []
    if exact not in candidates:
        notes.append(f"outside the {common.train} train")
    if installed is not None and installed != pinned:
        notes.append(f"replacing installed {installed}")
    suffix = f" ({'; '.join(notes)})" if notes else ""
    newer = _newer_major(exact, candidates)
    return common.result(
        version=exact.tag,
        rule=ResolutionRule.PINNED,
        explanation=f"{exact.tag} is pinned by spec.version with autoUpgradeMinorVersion: false{suffix}",
        newer_major_available=newer.tag if newer else None,
    )


def _resolve_first_install(
    train: ReleaseTrain,
    major_version: int | None,
    parsed: Sequence[ParsedVersion],
    candidates: Sequence[ParsedVersion],
    common: _Context,
) -> Resolution:
    if not candidates:
        raise ResolutionError(
            f"the {train.name} release train admits none of the repository's versions "
            f"({_describe_available(parsed)})",
            hint=_empty_train_hint(train, parsed),
        )
    if major_version is None:
        best = candidates[-1]
        return common.result(
            version=best.tag,
            rule=ResolutionRule.LATEST_IN_TRAIN,
            explanation=f"{best.tag} is the newest version the {train.name} train admits "
            f"({_count(candidates)}; first install, auto-upgrade on)",
        )
    in_major = [v for v in candidates if v.major == major_version]
    if not in_major:
        majors = sorted({v.major for v in candidates})
        raise ResolutionError(
            f"the {train.name} release train has no version with major {major_version} "
            f"(majors available: {', '.join(str(m) for m in majors)})",
            hint="change spec.majorVersion or spec.releaseTrain",
        )
    best = in_major[-1]
    newer = _newer_major(best, candidates)
    newer_text = f"; newer major {newer.tag} is available" if newer else ""
    return common.result(
        version=best.tag,
        rule=ResolutionRule.LATEST_IN_MAJOR,
        explanation=f"{best.tag} is the newest version the {train.name} train admits in majorVersion "
        f"{major_version} ({_count(in_major)}; first install){newer_text}",
        newer_major_available=newer.tag if newer else None,
    )


def _resolve_upgrade(
    train: ReleaseTrain,
    installed_tag: str,
    candidates: Sequence[ParsedVersion],
    common: _Context,
) -> Resolution:
    try:
        installed = ParsedVersion(tag=installed_tag, semver=semver.Version.parse(installed_tag))
    except ValueError as exc:
        raise ResolutionError(
            f"installed version {installed_tag} is not valid SemVer, so upgrades cannot be computed",
            hint="pin spec.version with autoUpgradeMinorVersion: false to move to a SemVer release",
        ) from exc
    in_major = [v for v in candidates if v.major == installed.major]
    newer = _newer_major(installed, candidates)
    newer_text = f"; newer major {newer.tag} is available (majors are never upgraded automatically)" if newer else ""
    newer_tag = newer.tag if newer else None

    if not in_major or in_major[-1].semver.compare(installed.semver) < 0:
        # Rule 5: never downgrade automatically.
        why = (
            f"the {train.name} train has no version in major {installed.major}"
            if not in_major
            else f"installed {installed.tag} is above every version the {train.name} train admits in major "
            f"{installed.major} (newest {in_major[-1].tag}; withdrawn version or train switch)"
        )
        return common.result(
            version=installed.tag,
            rule=ResolutionRule.KEEP_INSTALLED,
            explanation=f"keeping installed {installed.tag}: {why}; extctl never downgrades automatically{newer_text}",
            newer_major_available=newer_tag,
        )
    best = in_major[-1]
    if best.semver.compare(installed.semver) == 0:
        return common.result(
            version=installed.tag,
            rule=ResolutionRule.UP_TO_DATE,
            explanation=f"installed {installed.tag} is already the newest version the {train.name} train "
            f"admits in major {installed.major}{newer_text}",
            newer_major_available=newer_tag,
        )
    return common.result(
        version=best.tag,
        rule=ResolutionRule.UPGRADE_IN_INSTALLED_MAJOR,
        explanation=f"upgrade {installed.tag} -> {best.tag}: the newest version the {train.name} train admits "
        f"in installed major {installed.major}{newer_text}",
        newer_major_available=newer_tag,
    )


def _newer_major(reference: ParsedVersion, candidates: Sequence[ParsedVersion]) -> ParsedVersion | None:
    """The newest candidate whose major is above ``reference``'s, if any."""
    above = [v for v in candidates if v.major > reference.major]
    return above[-1] if above else None


def _count(versions: Sequence[ParsedVersion]) -> str:
    return f"{len(versions)} candidate{'s' if len(versions) != 1 else ''}"


def _describe_available(parsed: Sequence[ParsedVersion]) -> str:
    if not parsed:
        return "the repository has no SemVer versions"
    newest = [v.tag for v in reversed(parsed)][:NEAREST_VERSIONS_SHOWN]
    more = f", ... ({len(parsed)} in total)" if len(parsed) > NEAREST_VERSIONS_SHOWN else ""
    return f"available: {', '.join(newest)}{more}"


def _empty_train_hint(train: ReleaseTrain, parsed: Sequence[ParsedVersion]) -> str:
    if parsed and all(v.semver.prerelease is not None for v in parsed):
        return "the repository only has prereleases; choose a train that admits them, e.g. releaseTrain: preview"
    return "choose another spec.releaseTrain or publish a version this train admits"


def _nearest_versions_text(pinned: str, parsed: Sequence[ParsedVersion]) -> str:
    """Up to NEAREST_VERSIONS_SHOWN versions closest to ``pinned`` in SemVer order."""
    if not parsed:
        return "the repository has no SemVer versions"
    try:
        wanted = ParsedVersion(tag=pinned, semver=semver.Version.parse(pinned))
    except ValueError:
        return f"{pinned} is not valid SemVer; {_describe_available(parsed)}"
    position = sum(1 for v in parsed if _precedence(v, wanted) < 0)
    half = NEAREST_VERSIONS_SHOWN // 2
    start = max(0, min(position - half, len(parsed) - NEAREST_VERSIONS_SHOWN))
    nearest = parsed[start : start + NEAREST_VERSIONS_SHOWN]
    return f"nearest available: {', '.join(v.tag for v in nearest)}"
