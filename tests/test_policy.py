from __future__ import annotations

import pytest

from attest.policy import Policy, PolicyError, load_policy, policy_from_dict


def test_pool_allow_list_matches_host_port_and_wildcards():
    policy = policy_from_dict({"pools": {"allow": ["stratum+tcp://pool.example.net:3333", "*.braiins.com"]}})
    assert policy.pool_allowed("stratum+tcp://pool.example.net:3333")
    assert not policy.pool_allowed("stratum+tcp://pool.example.net:4444")
    assert policy.pool_allowed("stratum2+tcp://v2.eu.braiins.com:3336")
    assert not policy.pool_allowed("stratum+tcp://198.51.100.66:4444")
    assert not policy.pool_allowed("not a url")


def test_no_allow_list_means_pools_are_not_judged():
    assert Policy().pool_allow is None
    assert Policy().pool_allowed("stratum+tcp://anything:1")


def test_origin_rules_follow_the_signed_origin():
    policy = policy_from_dict({"origin": {"countries": ["US"], "sites": ["Houston TX"]}})
    assert policy.origin_allowed({"assembled_in": "US", "site": "Houston TX"})
    assert not policy.origin_allowed({"assembled_in": "MY", "site": "Houston TX"})
    assert not policy.origin_allowed({})


@pytest.mark.parametrize("text, words", [
    ("[pools]\nallow = 'x'\n", "pools.allow"),
    ("[timeouts]\nrequest = -1\n", "timeouts.request"),
    ("[bogus]\n", "unknown policy section"),
    ("[measure]\nmax_bytes = 0\n", "measure.max_bytes"),
    ("not toml = = =", "not valid TOML"),
])
def test_bad_policy_files_say_which_setting(tmp_path, text, words):
    path = tmp_path / "policy.toml"
    path.write_text(text)
    with pytest.raises(PolicyError, match=words):
        load_policy(path)


def test_policy_digest_changes_with_content():
    assert policy_from_dict({"pools": {"allow": ["a:1"]}}).digest != policy_from_dict({}).digest


def test_measure_limits_default_to_the_collectors_and_can_be_set():
    from attest.drivers.base import CollectOptions

    default = policy_from_dict({})
    assert (default.measure_max_bytes, default.measure_timeout) == (CollectOptions().max_measured_bytes,
                                                                    CollectOptions().measure_timeout)
    set_ = policy_from_dict({"measure": {"max_bytes": 4096, "seconds": 9}})
    assert (set_.measure_max_bytes, set_.measure_timeout) == (4096, 9.0)
