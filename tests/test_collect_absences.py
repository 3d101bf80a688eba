"""Which problems a bare host's check keeps: a port most rigs never open (Whatsminer API v3 on
4433, Braiins OS gRPC on 50051) refused is no finding once anything on the host answered or even
took a connection, and never the reason a technician reads first."""

from __future__ import annotations

from attest.address import HostTarget, PortProfile
from attest.appraise import appraise
from attest.collect import _drop_expected_absences, endpoints_for
from attest.credentials import Credentials
from attest.evidence import Evidence, Problem
from attest.policy import Policy

HOST = "10.0.4.9"
ENDPOINTS = endpoints_for(HostTarget(HOST), PortProfile(), Credentials())
LABEL = {ep.kind: ep.label for ep in ENDPOINTS}


def refused(kind: str) -> Problem:
    return Problem("UNREACHABLE", LABEL[kind], "connection refused")


def test_a_hung_api_is_the_reason_not_the_ports_the_rig_never_opens():
    problems = [refused("whatsminer3"), Problem("TIMEOUT", LABEL["api"], "version: no reply within 5 s"),
                Problem("TIMEOUT", LABEL["web"], "no complete reply"), Problem("TIMEOUT", LABEL["ssh"], "no banner"),
                refused("grpc")]
    kept = _drop_expected_absences([], problems, ENDPOINTS)
    assert [p.code for p in kept] == ["TIMEOUT", "TIMEOUT", "TIMEOUT"]
    a = appraise(Evidence(HOST, (), tuple(kept)), [], Policy())
    assert a.top_reason.code == "TIMEOUT" and a.top_reason.detail.startswith(LABEL["api"])


def test_when_nothing_listens_every_refusal_is_kept():
    problems = [refused(kind) for kind in LABEL]
    assert _drop_expected_absences([], problems, ENDPOINTS) == problems
