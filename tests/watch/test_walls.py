"""The watch reports and never judges, and the product never depends on the simulator for it."""

from __future__ import annotations

from tests.test_layering import ROOT, crossing, modules


def test_the_watch_reports_and_never_judges():
    forbidden = ("attest.appraise", "attest.verdict", "attest.egress", "attest.fleet", "attest.drivers",
                 "attest.transport", "attest.sim", "attest.collect")
    assert crossing(modules("watch"), forbidden) == []


def test_judging_egress_needs_no_network_code():
    assert crossing([ROOT / "egress.py"], ("attest.watch", "attest.fleet", "attest.drivers", "attest.sim")) == []
