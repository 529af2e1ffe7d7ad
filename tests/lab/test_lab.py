"""The deployed lab: containers, sysctls from the topology, interfaces,
addresses and static routes from playbooks/site.yml, and no lab traffic via
the management eth0. (Daemon and binding checks come with the handover
tests.)"""

from __future__ import annotations

import ipaddress
import json
import subprocess

import pytest

from .conftest import NODES, container

LAB_NET = ipaddress.ip_network("2001:db8::/32")
ROUTERS = ["lma", "mag1", "mag2"]

SYSCTLS = {
    **{
        (r, key): value
        for r in ROUTERS
        for key, value in {
            "net.ipv6.conf.all.forwarding": 1,
            "net.ipv6.conf.default.forwarding": 1,
            "net.ipv6.conf.all.seg6_enabled": 1,
            "net.ipv6.conf.default.seg6_enabled": 1,
            "net.ipv6.conf.eth1.seg6_enabled": 1,
            "net.ipv6.conf.eth1.forwarding": 1,
            "net.ipv6.conf.all.disable_ipv6": 0,
            "net.ipv6.conf.eth1.accept_dad": 0,
        }.items()
    },
    # MAG hold design: a route on an access link without carrier is ignored.
    **{
        (m, key): 1
        for m in ("mag1", "mag2")
        for key in (
            "net.ipv6.conf.all.ignore_routes_with_linkdown",
            "net.ipv6.conf.default.ignore_routes_with_linkdown",
            "net.ipv6.conf.eth2.ignore_routes_with_linkdown",
        )
    },
    ("mn", "net.ipv6.conf.all.forwarding"): 0,
    ("mn", "net.ipv6.conf.default.accept_ra"): 1,
    ("mn", "net.ipv6.conf.br0.accept_ra"): 1,
    ("mn", "net.ipv6.conf.br0.forwarding"): 0,
    ("cn", "net.ipv6.conf.all.forwarding"): 0,
    ("cn", "net.ipv6.conf.eth1.disable_ipv6"): 0,
}

DATA_INTERFACES = {
    "cn": ["eth1"],
    "lma": ["eth1", "eth2", "eth3"],
    "mag1": ["eth1", "eth2"],
    "mag2": ["eth1", "eth2"],
    "mn": ["eth1", "eth2"],
}

ADDRESSES = [
    ("lma", "lo", "2001:db8:ffff::1/128"),
    ("lma", "eth1", "2001:db8:c::1/64"),
    ("lma", "eth2", "2001:db8:a:1::1/64"),
    ("lma", "eth3", "2001:db8:a:2::1/64"),
    ("mag1", "lo", "2001:db8:ffff::11/128"),
    ("mag1", "eth1", "2001:db8:a:1::2/64"),
    ("mag2", "lo", "2001:db8:ffff::12/128"),
    ("mag2", "eth1", "2001:db8:a:2::2/64"),
    ("cn", "eth1", "2001:db8:c::10/64"),
]

ROUTES = [
    ("lma", "2001:db8:ffff::11", "2001:db8:a:1::2", "eth2"),
    ("lma", "2001:db8:ffff::12", "2001:db8:a:2::2", "eth3"),
    ("mag1", "2001:db8:ffff::1", "2001:db8:a:1::1", "eth1"),
    ("mag2", "2001:db8:ffff::1", "2001:db8:a:2::1", "eth1"),
    ("cn", "2001:db8:1::/48", "2001:db8:c::1", "eth1"),
]


def ip_json(host, *args: str):
    return json.loads(host.check_output("ip -json " + " ".join(args)) or "[]")


@pytest.mark.parametrize("node", NODES)
def test_container_running(lab, node):
    out = subprocess.run(
        [
            "docker",
            "inspect",
            "-f",
            "{{.State.Running}} {{.HostConfig.Privileged}}",
            container(node),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["true", "false"], "running and not privileged"


@pytest.mark.parametrize(("node", "key"), sorted(SYSCTLS), ids=lambda v: str(v))
def test_sysctl(hosts, node, key):
    assert hosts[node].sysctl(key) == SYSCTLS[(node, key)]


@pytest.mark.parametrize(
    ("node", "ifname"), [(n, i) for n, ifs in DATA_INTERFACES.items() for i in ifs]
)
def test_data_interface_present(hosts, node, ifname):
    assert hosts[node].interface(ifname).exists


@pytest.mark.parametrize(("node", "ifname", "address"), ADDRESSES)
def test_address(hosts, node, ifname, address):
    (link,) = ip_json(hosts[node], "-6 addr show dev", ifname)
    present = {f"{a['local']}/{a['prefixlen']}" for a in link["addr_info"]}
    assert address in present


@pytest.mark.parametrize(("node", "dst", "via", "dev"), ROUTES)
def test_static_route(hosts, node, dst, via, dev):
    routes = ip_json(hosts[node], "-6 route show exact", dst)
    assert any(r.get("gateway") == via and r.get("dev") == dev for r in routes), routes


@pytest.mark.parametrize("node", NODES)
def test_no_lab_route_via_mgmt(hosts, node):
    for r in ip_json(hosts[node], "-6 route show table all"):
        dst = r.get("dst", "")
        if r.get("dev") != "eth0" or dst in ("default", "") or dst.startswith("fe80"):
            continue
        net = ipaddress.ip_network(dst if "/" in dst else dst + "/128", strict=False)
        assert not net.overlaps(LAB_NET), f"lab route via eth0: {r}"


@pytest.mark.parametrize("node", ["cn", "lma", "mag1", "mag2"])
def test_lab_space_never_leaves_via_mgmt(hosts, node):
    """Any lab destination without a specific route hits the unreachable guard."""
    routes = ip_json(hosts[node], "-6 route show exact 2001:db8::/32")
    assert any(r.get("type") == "unreachable" for r in routes), routes
    out = hosts[node].run("ip -6 route get 2001:db8:dead::1")
    assert "eth0" not in out.stdout


def test_mn_has_no_mgmt_default(hosts):
    assert ip_json(hosts["mn"], "-6 route show default dev eth0") == []


def test_mn_bridge(hosts):
    links = {li["ifname"]: li for li in ip_json(hosts["mn"], "link show")}
    assert links["br0"]["address"] == "02:00:00:00:01:01"
    assert links["eth1"].get("master") == "br0"
    assert links["eth2"].get("master") == "br0"
    up = [i for i in ("eth1", "eth2") if "UP" in links[i]["flags"]]
    assert len(up) == 1, f"exactly one access link up, got {up}"
