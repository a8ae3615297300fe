"""Webhook requests → decisions (``controller.models.webhooks``): authentication first, then the event.

Tables cover every provider's answers; hypothesis covers the signature header parsing (any text is
parsed or refused, never raises) and that a signature verifies exactly when body and secret match.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from urllib.parse import quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.models.webhooks import Provider, authenticate, decide, parse_signature, sign

SECRET = b"s3cr3t-webhook"
SHA = "0123456789abcdef0123456789abcdef01234567"


def push(ref: str = "refs/heads/main", **extra: object) -> bytes:
    return json.dumps({"ref": ref, "after": SHA, **extra}).encode()


def github(event: str | None, body: bytes, *, secret: bytes = SECRET, signature: str | None = "auto",
           content_type: str = "application/json") -> dict[str, str]:
    headers = {"content-type": content_type}
    if event is not None:
        headers["x-github-event"] = event
    if signature == "auto":
        headers["x-hub-signature-256"] = sign(secret, body)
    elif signature is not None:
        headers["x-hub-signature-256"] = signature
    return headers


def gitlab(event: str | None, token: str | None = SECRET.decode()) -> dict[str, str]:
    headers = {"content-type": "application/json"}
    if event is not None:
        headers["x-gitlab-event"] = event
    if token is not None:
        headers["x-gitlab-token"] = token
    return headers


def generic(body: bytes, secret: bytes = SECRET) -> dict[str, str]:
    return {"x-extctl-signature-256": sign(secret, body)}


CASES = [
    # (id, provider, headers, body, expected status, triggers, message fragment)
    ("github push main", Provider.GITHUB, github("push", push()), push(), 202, True, "accepted"),
    ("github push other branch", Provider.GITHUB, github("push", push("refs/heads/dev")), push("refs/heads/dev"),
     200, False, "ignored: branch dev (extctl follows main)"),
    ("github tag", Provider.GITHUB, github("push", push("refs/tags/v1")), push("refs/tags/v1"), 200, False,
     "refs/tags/v1 is not a branch"),
    ("github ping", Provider.GITHUB, github("ping", b'{"zen": "x"}'), b'{"zen": "x"}', 200, False, "pong"),
    ("github other event", Provider.GITHUB, github("issues", b"{}"), b"{}", 200, False, "ignored: event 'issues'"),
    ("github no event header", Provider.GITHUB, github(None, push()), push(), 400, False, "X-GitHub-Event"),
    ("github not json", Provider.GITHUB, github("push", b"nope"), b"nope", 400, False, "not a JSON push payload"),
    ("github no signature", Provider.GITHUB, github("push", push(), signature=None), push(), 401, False,
     "missing X-Hub-Signature-256"),
    ("github empty signature", Provider.GITHUB, github("push", push(), signature=" "), push(), 401, False, "missing"),
    ("github wrong secret", Provider.GITHUB, github("push", push(), secret=b"other"), push(), 403, False,
     "does not match"),
    ("github sha1 only", Provider.GITHUB, github("push", push(), signature="sha1=" + "0" * 40), push(), 403, False,
     "does not match"),
    ("github body changed", Provider.GITHUB, github("push", push()), push(extra="x"), 403, False, "does not match"),
    ("github form encoded", Provider.GITHUB,
     github("push", b"payload=" + quote_plus(push().decode()).encode(),
            content_type="application/x-www-form-urlencoded"),
     b"payload=" + quote_plus(push().decode()).encode(), 202, True, "accepted"),
    ("gitlab push main", Provider.GITLAB, gitlab("Push Hook"), push(), 202, True, "accepted"),
    ("gitlab push other", Provider.GITLAB, gitlab("Push Hook"), push("refs/heads/feature/x"), 200, False,
     "ignored: branch feature/x"),
    ("gitlab tag push", Provider.GITLAB, gitlab("Tag Push Hook"), push("refs/tags/v1"), 200, False,
     "ignored: event 'Tag Push Hook'"),
    ("gitlab no token", Provider.GITLAB, gitlab("Push Hook", None), push(), 401, False, "missing X-Gitlab-Token"),
    ("gitlab wrong token", Provider.GITLAB, gitlab("Push Hook", "guess"), push(), 403, False, "does not match"),
    ("gitlab token prefix", Provider.GITLAB, gitlab("Push Hook", SECRET.decode()[:-1]), push(), 403, False, "match"),
    ("gitlab no event", Provider.GITLAB, gitlab(None), push(), 400, False, "X-Gitlab-Event"),
    ("generic empty body", Provider.GENERIC, generic(b""), b"", 202, True, "accepted"),
    ("generic text body", Provider.GENERIC, generic(b"deploy please"), b"deploy please", 202, True, "accepted"),
    ("generic branch field", Provider.GENERIC, generic(b'{"branch": "main"}'), b'{"branch": "main"}', 202, True, ""),
    ("generic other branch", Provider.GENERIC, generic(b'{"branch": "dev"}'), b'{"branch": "dev"}', 200, False,
     "ignored: branch dev"),
    ("generic no signature", Provider.GENERIC, {}, b"", 401, False, "missing X-Extctl-Signature-256"),
    ("generic github header is not enough", Provider.GENERIC, github("push", push()), push(), 401, False, "missing"),
    ("generic wrong", Provider.GENERIC, generic(b"x", b"bad"), b"x", 403, False, "does not match"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_decide(case: tuple[str, Provider, dict[str, str], bytes, int, bool, str]) -> None:
    _, provider, headers, body, status, triggers, fragment = case
    decision = decide(provider, headers, body, secret=SECRET, branch="main")
    assert (decision.status, decision.trigger) == (status, triggers), decision
    assert fragment in decision.message
    assert SECRET.decode() not in decision.message


def test_an_accepted_push_names_branch_and_commit() -> None:
    decision = decide(Provider.GITHUB, github("push", push()), push(), secret=SECRET, branch="main")
    assert (decision.event, decision.branch, decision.commit) == ("push", "main", SHA)


def test_a_local_source_accepts_an_authentic_push_as_a_no_op() -> None:
    decision = decide(Provider.GITHUB, github("push", push()), push(), secret=SECRET, branch="main", local_source=True)
    assert (decision.status, decision.trigger) == (202, False) and "no-op" in decision.message
    refused = decide(Provider.GITHUB, github("push", push(), secret=b"x"), push(), secret=SECRET, branch="main",
                     local_source=True)
    assert refused.status == 403, "authentication comes first, also for a local source"


def test_authentication_happens_before_the_body_is_read() -> None:
    """A bad signature on an unparseable body is 403, not 400: the body of a stranger is never looked at."""
    decision = decide(Provider.GITHUB, github("push", b"\xff\x00", secret=b"x"), b"\xff\x00", secret=SECRET,
                      branch="main")
    assert decision.status == 403


# --------------------------------------------------------------------------------------------- properties
@settings(max_examples=300, deadline=None)
@given(st.one_of(st.none(), st.text(max_size=80),
                 st.builds(lambda p, h: p + h, st.sampled_from(["sha256=", "SHA256=", " sha256=", "sha1=", ""]),
                           st.text(alphabet="0123456789abcdefABCDEFxyz ", max_size=70))))
def test_any_signature_header_is_parsed_or_refused(header: str | None) -> None:
    parsed = parse_signature(header)
    assert parsed is None or len(parsed) == 32


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=64), st.binary(max_size=512), st.sampled_from([str.lower, str.upper]),
       st.sampled_from(["", " ", "\t"]))
def test_a_signature_verifies_exactly_when_body_and_secret_match(secret: bytes, body: bytes, case: object,
                                                                 blank: str) -> None:
    digest = hmac.new(secret, body, hashlib.sha256).hexdigest()
    header = blank + "sha256=" + case(digest) + blank  # type: ignore[operator]
    assert parse_signature(header) == bytes.fromhex(digest)
    assert authenticate(Provider.GITHUB, {"x-hub-signature-256": header}, body, secret) is None
    assert authenticate(Provider.GENERIC, {"x-extctl-signature-256": header}, body, secret) is None
    assert authenticate(Provider.GITHUB, {"x-hub-signature-256": header}, body + b"!", secret) is not None
    assert authenticate(Provider.GITHUB, {"x-hub-signature-256": header}, body, secret + b"!") is not None


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["x-hub-signature-256", "x-github-event", "x-gitlab-token", "x-gitlab-event",
                                        "x-extctl-signature-256", "content-type"]),
                       st.text(max_size=40), max_size=6),
       st.binary(max_size=200), st.sampled_from(list(Provider)))
def test_any_request_gets_an_answer_and_only_an_authentic_one_triggers(headers: dict[str, str], body: bytes,
                                                                       provider: Provider) -> None:
    decision = decide(provider, headers, body, secret=SECRET, branch="main")
    assert decision.status in {200, 202, 400, 401, 403}
    if decision.trigger:
        assert authenticate(provider, headers, body, SECRET) is None
