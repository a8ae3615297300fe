"""Table tests of release-train version resolution (issue 3, rules 1-6)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from controller.errors import ResolutionError
from controller.models.manifests import DEFAULT_RELEASE_TRAINS, ChartRef, ExtensionType, ReleaseTrain
from controller.models.resolution import ResolutionRule, resolve_version, versions_for_train

STABLE = ReleaseTrain(name="stable")
PREVIEW = ReleaseTrain(name="preview", prerelease_identifiers=("preview", "rc", "beta", "alpha"))
RC = ReleaseTrain(name="rc", prerelease_identifiers=("rc",))
LTS = ReleaseTrain(name="lts", constraint=">=1.0.0, <1.1.0")
MONITORING = ("1.0.0", "1.4.2", "2.0.0")


@dataclass(frozen=True)
class Case:
    id: str
    versions: tuple[str, ...]
    train: ReleaseTrain
    expected_version: str
    expected_rule: ResolutionRule
    pinned: str | None = None
    auto_upgrade: bool = True
    major: int | None = None
    installed: str | None = None
    newer_major: str | None = None
    explanation_contains: tuple[str, ...] = field(default=())


FIRST = ResolutionRule.LATEST_IN_TRAIN
IN_MAJOR = ResolutionRule.LATEST_IN_MAJOR
UPGRADE = ResolutionRule.UPGRADE_IN_INSTALLED_MAJOR
CURRENT = ResolutionRule.UP_TO_DATE
KEEP = ResolutionRule.KEEP_INSTALLED
PINNED = ResolutionRule.PINNED

CASES = [
    # Rule 1: candidates and SemVer precedence.
    Case("stable-skips-prereleases", ("1.0.0", "1.1.0", "1.2.0-preview.1"), STABLE, "1.1.0", FIRST),
    Case("preview-admits-listed-prerelease", ("1.0.0", "1.1.0", "1.2.0-preview.1"), PREVIEW, "1.2.0-preview.1", FIRST),
    Case("prerelease-numeric-identifiers", ("1.2.0-preview.2", "1.2.0-preview.10", "1.1.0"), PREVIEW,
         "1.2.0-preview.10", FIRST),
    Case("release-above-its-prereleases", ("1.2.0-preview.10", "1.2.0", "1.2.0-rc.1"), PREVIEW, "1.2.0", FIRST),
    Case("rc-train-only-rc", ("1.0.0", "1.1.0-beta.1", "1.1.0-rc.1"), RC, "1.1.0-rc.1", FIRST),
    Case("unlisted-identifier-skipped", ("1.0.0", "1.1.0-nightly.1"), PREVIEW, "1.0.0", FIRST),
    Case("only-first-identifier-counts", ("1.0.0", "1.1.0-x.preview"), PREVIEW, "1.0.0", FIRST),
    Case("identifier-case-insensitive", ("1.0.0", "1.1.0-Preview.1"), PREVIEW, "1.1.0-Preview.1", FIRST),
    Case("build-metadata-ignored-for-order", ("1.0.0+build.9", "1.0.1+build.1"), STABLE, "1.0.1+build.1", FIRST),
    Case("build-metadata-tie-is-deterministic", ("1.0.0+b", "1.0.0+a"), STABLE, "1.0.0+b", FIRST),
    Case("invalid-tags-ignored", ("v2.0.0", "latest", "1.0.0", "1.1"), STABLE, "1.0.0", FIRST),
    Case("constraint-narrows-train", ("1.0.0", "1.0.5", "1.1.0", "2.0.0"), LTS, "1.0.5", FIRST),
    Case("only-prereleases-on-preview", ("1.0.0-preview.1", "1.0.0-preview.2"), PREVIEW, "1.0.0-preview.2", FIRST),
    # Rule 3: first install inside majorVersion.
    Case("major-version-caps-first-install", MONITORING, STABLE, "1.4.2", IN_MAJOR, major=1, newer_major="2.0.0",
         explanation_contains=("majorVersion 1", "newer major 2.0.0 is available")),
    Case("major-version-is-newest-major", MONITORING, STABLE, "2.0.0", IN_MAJOR, major=2),
    Case("major-version-zero", ("0.9.0", "0.10.0", "1.0.0"), STABLE, "0.10.0", IN_MAJOR, major=0, newer_major="1.0.0"),
    Case("first-install-no-major-takes-newest-major", MONITORING, STABLE, "2.0.0", FIRST),
    # Rule 4: upgrades stay in the installed major.
    Case("upgrade-within-installed-major", MONITORING, STABLE, "1.4.2", UPGRADE, installed="1.0.0",
         newer_major="2.0.0", explanation_contains=("1.0.0 -> 1.4.2", "never upgraded automatically")),
    Case("already-newest-in-major", MONITORING, STABLE, "1.4.2", CURRENT, installed="1.4.2", newer_major="2.0.0"),
    Case("major-version-ignored-once-installed", MONITORING, STABLE, "1.4.2", UPGRADE, installed="1.0.0", major=2,
         newer_major="2.0.0"),
    Case("preview-upgrade-to-rc-in-major", ("1.1.0", "1.2.0-rc.1", "2.0.0-rc.1"), PREVIEW, "1.2.0-rc.1", UPGRADE,
         installed="1.1.0", newer_major="2.0.0-rc.1"),
    Case("prerelease-to-its-release", ("1.0.0", "1.2.0-preview.1", "1.2.0"), STABLE, "1.2.0", UPGRADE,
         installed="1.2.0-preview.1"),
    Case("installed-build-metadata-same-precedence", ("1.4.2+new",), STABLE, "1.4.2+old", CURRENT,
         installed="1.4.2+old"),
    # Rule 5: never downgrade.
    Case("withdrawn-version-kept", ("1.0.0", "1.4.2"), STABLE, "1.5.0", KEEP, installed="1.5.0",
         explanation_contains=("never downgrades", "newest 1.4.2")),
    Case("train-switch-preview-to-stable-kept", ("1.0.0", "1.1.0", "1.2.0-preview.1"), STABLE, "1.2.0-preview.1",
         KEEP, installed="1.2.0-preview.1"),
    Case("installed-major-vanished", ("1.0.0", "2.0.0"), STABLE, "3.0.0", KEEP, installed="3.0.0",
         explanation_contains=("no version in major 3",)),
    Case("installed-major-absent-newer-exists", ("2.0.0",), STABLE, "1.0.0", KEEP, installed="1.0.0",
         newer_major="2.0.0"),
    # Rule 2: pins are exact.
    Case("pinned-exact", ("1.0.0", "1.1.0"), STABLE, "1.0.0", PINNED, pinned="1.0.0", auto_upgrade=False),
    Case("pinned-prerelease-outside-train", ("1.0.0", "1.2.0-preview.1"), STABLE, "1.2.0-preview.1", PINNED,
         pinned="1.2.0-preview.1", auto_upgrade=False, explanation_contains=("outside the stable train",)),
    Case("pinned-explicit-downgrade", ("1.0.0", "1.1.0"), STABLE, "1.0.0", PINNED, pinned="1.0.0",
         auto_upgrade=False, installed="1.1.0", explanation_contains=("replacing installed 1.1.0",)),
    Case("pinned-reports-newer-major", MONITORING, STABLE, "1.0.0", PINNED, pinned="1.0.0", auto_upgrade=False,
         newer_major="2.0.0"),
    Case("pinned-with-build-metadata", ("1.0.0+a", "1.0.0+b"), STABLE, "1.0.0+a", PINNED, pinned="1.0.0+a",
         auto_upgrade=False),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_resolution_table(case: Case) -> None:
    result = resolve_version(
        case.versions,
        case.train,
        pinned_version=case.pinned,
        auto_upgrade_minor_version=case.auto_upgrade,
        major_version=case.major,
        installed_version=case.installed,
    )
    assert (result.version, result.rule, result.newer_major_available) == (
        case.expected_version,
        case.expected_rule,
        case.newer_major,
    )
    assert result.train == case.train.name
    assert result.explanation.startswith(("keeping", "upgrade", "installed", result.version))
    assert "\n" not in result.explanation
    for fragment in case.explanation_contains:
        assert fragment in result.explanation


@dataclass(frozen=True)
class ErrorCase:
    id: str
    versions: tuple[str, ...]
    train: ReleaseTrain
    message: str
    hint: str | None = None
    pinned: str | None = None
    auto_upgrade: bool = True
    major: int | None = None
    installed: str | None = None


ERROR_CASES = [
    ErrorCase("empty-repository", (), STABLE, "the stable release train admits none of the repository's versions "
              "(the repository has no SemVer versions)"),
    ErrorCase("only-prereleases-on-stable", ("1.0.0-preview.1", "1.0.0-rc.1"), STABLE,
              "admits none of the repository's versions (available: 1.0.0-rc.1, 1.0.0-preview.1)",
              hint="the repository only has prereleases; choose a train that admits them, e.g. releaseTrain: preview"),
    ErrorCase("only-invalid-tags", ("latest", "v1.0.0"), STABLE, "the repository has no SemVer versions"),
    ErrorCase("empty-train-after-constraint", ("2.0.0", "3.0.0"), LTS, "the lts release train admits none"),
    ErrorCase("pinned-missing-lists-nearest", ("1.0.0", "1.1.0", "1.2.0", "1.4.0", "1.5.0", "2.0.0", "3.0.0"),
              STABLE, "pinned version 1.3.0 is not in the chart repository; "
              "nearest available: 1.1.0, 1.2.0, 1.4.0, 1.5.0, 2.0.0", pinned="1.3.0", auto_upgrade=False),
    ErrorCase("pinned-missing-above-all", ("1.0.0", "1.1.0"), STABLE,
              "pinned version 9.0.0 is not in the chart repository; nearest available: 1.0.0, 1.1.0",
              pinned="9.0.0", auto_upgrade=False),
    ErrorCase("pinned-not-semver", ("1.0.0",), STABLE, "v1 is not valid SemVer; available: 1.0.0", pinned="v1",
              auto_upgrade=False),
    ErrorCase("major-version-missing", MONITORING, STABLE,
              "the stable release train has no version with major 3 (majors available: 1, 2)", major=3),
    ErrorCase("auto-upgrade-off-without-pin", MONITORING, STABLE, "autoUpgradeMinorVersion is false but no version "
              "is pinned", auto_upgrade=False),
    ErrorCase("installed-not-semver", MONITORING, STABLE, "installed version 1.0 is not valid SemVer",
              installed="1.0"),
]


@pytest.mark.parametrize("case", ERROR_CASES, ids=[case.id for case in ERROR_CASES])
def test_resolution_errors(case: ErrorCase) -> None:
    with pytest.raises(ResolutionError) as raised:
        resolve_version(
            case.versions,
            case.train,
            pinned_version=case.pinned,
            auto_upgrade_minor_version=case.auto_upgrade,
            major_version=case.major,
            installed_version=case.installed,
        )
    assert case.message in raised.value.message
    if case.hint is not None:
        assert raised.value.hint == case.hint
    assert raised.value.reason == "VersionNotFound"


@pytest.mark.parametrize("requested", ["stable", "Stable", "STABLE", "Preview", "pReViEw"])
def test_train_names_match_case_insensitively(requested: str) -> None:
    extension_type = ExtensionType(name="contoso.x", chart=ChartRef(repository="charts", name="x"))
    train = extension_type.find_train(requested)
    assert train is not None
    assert train.name == requested.lower()
    assert extension_type.find_train("nightly") is None


def test_default_trains_are_stable_and_preview() -> None:
    assert [(t.name, t.prerelease_identifiers) for t in DEFAULT_RELEASE_TRAINS] == [
        ("stable", ()),
        ("preview", ("preview", "rc", "beta", "alpha")),
    ]


def test_versions_for_train_newest_first_with_ignored_tags() -> None:
    tags = ["1.0.0", "latest", "1.2.0-preview.2", "1.2.0-preview.10", "1.1.0", "1.2.0", "2.0.0-nightly.1", "v3"]
    preview = versions_for_train(tags, PREVIEW)
    assert preview.admitted == ("1.2.0", "1.2.0-preview.10", "1.2.0-preview.2", "1.1.0", "1.0.0")
    assert preview.ignored_tags == ("latest", "v3")
    assert versions_for_train(tags, STABLE).admitted == ("1.2.0", "1.1.0", "1.0.0")
    assert versions_for_train([], STABLE).admitted == ()


def test_resolution_reports_candidates_and_ignored_tags() -> None:
    result = resolve_version(["1.0.0", "bogus", "1.1.0", "1.2.0-rc.1"], STABLE)
    assert result.candidates == ("1.1.0", "1.0.0")
    assert result.ignored_tags == ("bogus",)
    assert result.installed_version is None
    assert result.changes_installed
