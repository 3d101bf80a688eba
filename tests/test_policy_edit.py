"""The app sets the pool allow-list in an operator's policy.toml and changes nothing else."""

from __future__ import annotations

import tomllib

import pytest

from attest.policy import PolicyError, load_policy
from attest.policy_edit import set_pool_allow, with_pool_allow

WRITTEN_BY_HAND = """\
# Warehouse 3 intake policy -- keep the comments
[credentials]
allow_vendor_defaults = false   # we change factory logins on arrival

[pools]
allow = [
  "stratum+tcp://old.example:3333",   # the old pool
  "*.braiins.com",
]

[timeouts]
request = 7.5
"""


def test_the_allow_list_is_replaced_and_every_comment_and_setting_kept():
    text = with_pool_allow(WRITTEN_BY_HAND, ["stratum+tcp://pool.example-mining.net:3333", "*.braiins.com"])
    assert "# Warehouse 3 intake policy -- keep the comments" in text
    assert "# we change factory logins on arrival" in text
    data = tomllib.loads(text)
    assert data["pools"]["allow"] == ["stratum+tcp://pool.example-mining.net:3333", "*.braiins.com"]
    assert data["credentials"] == {"allow_vendor_defaults": False} and data["timeouts"] == {"request": 7.5}


def test_a_policy_without_pools_gets_a_pools_section(tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text("[timeouts]\nrequest = 3.0\n")
    set_pool_allow(path, ["pool.example-mining.net:3333"])
    policy = load_policy(path)
    assert policy.pool_allow == ("pool.example-mining.net:3333",) and policy.request_timeout == 3.0


def test_a_missing_policy_file_is_created(tmp_path):
    path = tmp_path / "config" / "policy.toml"
    set_pool_allow(path, ["*.example-mining.net"])
    assert load_policy(path).pool_allow == ("*.example-mining.net",)


@pytest.mark.parametrize("rules", [["two words"], [""]])
def test_a_bad_rule_is_refused_and_nothing_is_written(tmp_path, rules):
    path = tmp_path / "policy.toml"
    path.write_text(WRITTEN_BY_HAND)
    with pytest.raises(PolicyError):
        set_pool_allow(path, rules)
    assert path.read_text() == WRITTEN_BY_HAND


def test_a_layout_that_cannot_be_edited_safely_is_left_alone(tmp_path):
    inline = 'pools = { allow = ["a.example"] }\n'
    path = tmp_path / "policy.toml"
    path.write_text(inline)
    with pytest.raises(PolicyError, match="by hand"):
        set_pool_allow(path, ["b.example"])
    assert path.read_text() == inline
