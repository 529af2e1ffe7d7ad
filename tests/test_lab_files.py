"""The domain plan and the lab files generated from it.

The committed default lab (lab/pmipv6.clab.yml, inventory.ini, examples/) is
what the plan generates, to the byte; the inventory gives Ansible the plan's
values as they are; scripts/generate-lab is a front end to the plan.
"""

from __future__ import annotations

import ast
import shlex
import subprocess
import sys
from ipaddress import IPv6Address, IPv6Network
from pathlib import Path

import pytest
import yaml

from pmip6d.config import parse_node_config, parse_policy
from pmipv6_lab import lab_files
from pmipv6_lab.plan import DomainPlan, PlanError, mn_mac

REPO = Path(__file__).resolve().parent.parent
GENERATE = REPO / "scripts" / "generate-lab"


@pytest.mark.parametrize("path", sorted(lab_files.default_files()))
def test_the_committed_default_lab_is_what_the_plan_generates(path):
    committed = (REPO / path).read_text(encoding="utf-8")
    assert committed == lab_files.default_files()[path], (
        f"{path} differs from the domain plan; run {lab_files.REGENERATE}"
    )


# --- the plan ------------------------------------------------------------------------


def test_the_default_domain_has_the_documented_addresses():
    plan = lab_files.DEFAULT
    assert [node.name for node in plan.nodes] == ["cn", "lma", "mag1", "mag2", "mn"]
    assert [str(m.proxy_coa) for m in plan.mag_list] == ["2001:db8:ffff::11", "2001:db8:ffff::12"]
    mn = plan.mobile_node()
    assert (mn.nai, mn.mac, str(mn.home_prefix)) == (
        "mn1@pmipv6.lab",
        "02:00:00:00:01:01",
        "2001:db8:1:1::/64",
    )
    assert [(a.interface, a.mag, a.mag_interface) for a in mn.access_links] == [
        ("eth1", "mag1", "eth2"),
        ("eth2", "mag2", "eth2"),
    ]
    lma = plan.node("lma")
    assert [(a.dev, str(a.address)) for a in lma.addresses] == [
        ("lo", "2001:db8:ffff::1/128"),
        ("eth1", "2001:db8:c::1/64"),
        ("eth2", "2001:db8:a:1::1/64"),
        ("eth3", "2001:db8:a:2::1/64"),
    ]


def test_a_ring_domain_links_each_mn_to_two_neighbouring_mags():
    plan = DomainPlan(mags=3, mns=4)
    links = {
        mn.name: [(a.mag, a.mag_interface) for a in mn.access_links] for mn in plan.mobile_nodes
    }
    assert links == {
        "mn1": [("mag1", "eth2"), ("mag2", "eth2")],
        "mn2": [("mag2", "eth3"), ("mag3", "eth2")],
        "mn3": [("mag3", "eth3"), ("mag1", "eth3")],
        "mn4": [("mag1", "eth4"), ("mag2", "eth4")],
    }
    assert plan.mag(1).access_interfaces == ("eth2", "eth3", "eth4")
    assert len(DomainPlan(mags=1, mns=2).mobile_node(2).access_links) == 1


def test_every_mn_gets_its_own_mac_and_prefix_in_the_whole_range():
    plan = DomainPlan(mags=4, mns=0xFFFF, mn_nodes=False)
    macs = {mn.mac for mn in plan.mobile_nodes}
    prefixes = {mn.home_prefix for mn in plan.mobile_nodes}
    assert len(macs) == len(prefixes) == 0xFFFF
    assert mn_mac(1) == "02:00:00:00:01:01" and mn_mac(0xFFFF) == "02:00:00:01:00:ff"
    assert all(p.subnet_of(IPv6Network("2001:db8:1::/48")) for p in prefixes)
    # Without MN nodes the MNs are in the policy, not in the topology.
    assert [node.kind for node in plan.nodes] == ["cn", "lma", "mag", "mag", "mag", "mag"]
    assert len(plan.links) == 5
    assert len(parse_policy(DomainPlan(4, 1000, mn_nodes=False).policy()).mobile_nodes) == 1000


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"mags": 0, "mns": 1}, "1 to 200 MAGs"),
        ({"mags": 2, "mns": 0x10000}, "1 to 65535 mobile nodes"),
        ({"mags": 2, "mns": 1, "name": "a b"}, "letters, digits and '-'"),
    ],
)
def test_a_domain_the_plan_cannot_lay_out_is_one_line_of_error(kwargs, fragment):
    with pytest.raises(PlanError, match=fragment) as caught:
        DomainPlan(**kwargs)
    assert "\n" not in str(caught.value)


def test_the_node_configurations_and_the_policy_load_in_the_daemon():
    plan = DomainPlan(mags=3, mns=4)
    policy = parse_policy(plan.policy())
    assert [str(m.address) for m in policy.authorized_mags] == [
        "2001:db8:ffff::11",
        "2001:db8:ffff::12",
        "2001:db8:ffff::13",
    ]
    assert parse_policy(plan.policy(authorized_mags=[2])).authorized_mags[0].name == "mag2"
    for node in plan.daemon_nodes:
        config = parse_node_config({**plan.node_config(node), "policy_file": "policy.yaml"})
        assert config.node_name == node
    assert parse_node_config(
        {**plan.node_config("mag2"), "policy_file": "p"}
    ).mag.access_interfaces == ("eth2", "eth3", "eth4")  # fmt: skip
    with pytest.raises(PlanError, match="runs no pmip6d"):
        plan.node_config("cn")


# --- the files ---------------------------------------------------------------------


def test_the_topology_says_what_the_plan_says():
    plan = DomainPlan(mags=3, mns=4, name="pmipv6-3x4")
    topology = yaml.safe_load(lab_files.topology(plan))
    assert topology["name"] == "pmipv6-3x4"
    nodes = topology["topology"]["nodes"]
    assert list(nodes) == [node.name for node in plan.nodes]
    assert all(nodes[node.name]["sysctls"] == node.sysctls for node in plan.nodes)
    links = topology["topology"]["links"]
    assert len(links) == len(plan.links)
    assert links[0] == {"endpoints": ["cn:eth1", "lma:eth1"]}
    access = [link for link in links if link.get("type") == "veth"]
    assert access[2]["endpoints"] == [
        {"node": "mag2", "interface": "eth3"},
        {"node": "mn2", "interface": "eth1", "mac": "02:00:00:00:01:02"},
    ]


def inventory_hosts(text: str) -> dict[str, dict]:
    """Host lines as Ansible's ini plugin reads them: shell words, each value a
    Python literal when it is one, a string otherwise."""
    hosts = {}
    for line in text.splitlines():
        if not line.startswith("clab-"):
            continue
        name, *pairs = shlex.split(line)
        variables = {}
        for pair in pairs:
            key, value = pair.split("=", 1)
            try:
                variables[key] = ast.literal_eval(value)
            except (ValueError, SyntaxError):
                variables[key] = value
        hosts[name] = variables
    return hosts


def test_the_inventory_carries_every_address_and_the_policy_explicitly():
    plan = DomainPlan(mags=3, mns=4, name="pmipv6-3x4")
    text = lab_files.inventory(plan)
    hosts = inventory_hosts(text)
    mag2 = hosts["clab-pmipv6-3x4-mag2"]
    assert mag2["pmipv6_node_config"] == plan.node_config("mag2")
    assert mag2["common_addresses"] == [
        {"dev": "lo", "address": "2001:db8:ffff::12/128"},
        {"dev": "eth1", "address": "2001:db8:a:2::2/64"},
    ]
    assert mag2["common_routes"] == [
        {"to": "2001:db8:ffff::1/128", "via": "2001:db8:a:2::1", "dev": "eth1"}
    ]
    mn3 = hosts["clab-pmipv6-3x4-mn3"]
    assert (mn3["mn_nai"], mn3["mn_mac"], mn3["mn_links"]) == (
        "mn3@pmipv6.lab",
        "02:00:00:00:01:03",
        ["eth1", "eth2"],
    )
    assert mn3["mn_link_mags"] == ["clab-pmipv6-3x4-mag3:eth3", "clab-pmipv6-3x4-mag1:eth3"]
    (policy_line,) = [line for line in text.splitlines() if line.startswith("pmipv6_policy=")]
    assert ast.literal_eval(policy_line.split("=", 1)[1]) == plan.policy()
    assert all(IPv6Address(h["cn_address"]) for h in hosts.values() if "cn_address" in h)


def test_generate_lab_writes_what_the_plan_generates(tmp_path):
    done = subprocess.run(
        [sys.executable, str(GENERATE), "--mags", "3", "--mns", "4", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    expected = lab_files.files(DomainPlan(mags=3, mns=4, name="pmipv6-3x4"))
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == expected


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--mags", "0", "--mns", "1", "--out", "x"], "--mags must be between 1 and 200"),
        (["--mags", "2"], "the following arguments are required: --mns, --out"),
        (["--default", "--mags", "2"], "--default takes no other option"),
        (["--mags", "2", "--mns", "2", "--out", "x", "--name", "a b"], "--name: a domain name"),
        (["--mags", "two"], "argument --mags: invalid int value"),
    ],
)
def test_generate_lab_errors_are_one_line(argv, message, tmp_path):
    done = subprocess.run(
        [sys.executable, str(GENERATE), *argv], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 2
    assert (
        done.stderr.startswith(f"generate-lab: error: {message}") and done.stderr.count("\n") == 1
    )
