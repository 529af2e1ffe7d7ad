"""A domain plan built in network namespaces, with real pmip6d daemons in them.

`NamespaceDomain` does what containerlab and the lab's roles do for the
containers, from the same plan (src/pmipv6_lab/plan.py): one namespace per
node with the plan's sysctls, a veth pair per link (the MN's ends with its
MAC), the plan's addresses and routes, each MN's bridge over its access
links with only the first one up; then node configurations (the plan's part
plus what a test sets) and the daemons as real `pmip6d` processes. So what
is learnt here carries over to the lab, and back.

(Not to be confused with the in-memory domain of the core tests,
tests/core/domain.py: state machines wired together without a kernel.)
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv6Address
from pathlib import Path
from typing import Any, TypeVar

import yaml

from pmip6d import control
from pmipv6_lab.plan import DomainPlan, MobileNode
from pmipv6_lab.testbed.mobile_node import MobileNodeDriver
from pmipv6_lab.testbed.netns import CommandFailed, Namespaces, in_ns, run

PYTHON = sys.executable
T = TypeVar("T")


@dataclass
class Daemon:
    node: str
    config_path: Path
    log_path: Path
    process: subprocess.Popen | None = None


def merged(base: dict, extra: dict) -> dict:
    """`extra` over `base`, mapping by mapping (as Ansible's combine(recursive=true))."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


@dataclass
class NamespaceDomain:
    """The plan's domain (by default 2 MAGs, 1 MN) in namespaces under `workdir`.

    `buffering` switches the LMA's buffer and the MAGs' hold together;
    `extra_lma`, `extra_mag` and `extra_protocol` are merged into the node
    configurations; `authorized_mags` (MAG numbers) narrows the policy's MAGs.
    """

    workdir: Path
    mags: int = 2
    mns: int = 1
    plan: DomainPlan | None = None
    buffering: bool = True
    tunnel_driver: str = "auto"
    extra_lma: dict = field(default_factory=dict)
    extra_mag: dict = field(default_factory=dict)
    extra_protocol: dict = field(default_factory=dict)
    authorized_mags: list[int] | None = None
    daemons: dict[str, Daemon] = field(default_factory=dict)
    namespaces: Namespaces = field(default_factory=Namespaces)
    _drivers: dict[str, MobileNodeDriver] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.plan is None:
            self.plan = DomainPlan(self.mags, self.mns)
        self.mags, self.mns = self.plan.mags, self.plan.mns

    # -- naming ----------------------------------------------------------------

    @property
    def tag(self) -> str:
        return self.namespaces.tag

    def ns(self, node: str) -> str:
        return self.namespaces.ns(node)

    @property
    def mag_names(self) -> list[str]:
        return [mag.name for mag in self.plan.mag_list]

    def mobile_node(self, mn: str | None = None) -> MobileNode:
        """An MN of the plan by node name; the first one by default."""
        nodes = self.plan.mobile_nodes
        return nodes[0] if mn is None else next(m for m in nodes if m.name == mn)

    # -- running things inside nodes -----------------------------------------------

    def exec(self, node: str, *args: str, check: bool = True, timeout: float = 30):
        return in_ns(self.ns(node), *args, check=check, timeout=timeout)

    def popen(self, node: str, *args: str, **kwargs) -> subprocess.Popen:
        return subprocess.Popen(["ip", "netns", "exec", self.ns(node), *args], **kwargs)

    def ip(self, node: str, *args: str, check: bool = True):
        return run("ip", "-n", self.ns(node), *args, check=check)

    # -- building the topology ---------------------------------------------------------

    def build(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        for node in self.plan.nodes:
            self.namespaces.add(node.name, node.sysctls)
        for link in self.plan.links:
            self.namespaces.link(
                self.ns(link.a.node),
                link.a.interface,
                self.ns(link.b.node),
                link.b.interface,
                mac_a=link.a.mac,
                mac_b=link.b.mac,
            )
        for node in self.plan.nodes:
            for address in node.addresses:
                self.namespaces.address(self.ns(node.name), address.dev, str(address.address))
            for route in node.routes:
                self.namespaces.route(self.ns(node.name), str(route.to), str(route.via), route.dev)
        for mn in self.plan.mobile_nodes if self.plan.mn_nodes else []:
            self._bridge(mn)

    def _bridge(self, mn: MobileNode) -> None:
        """The MN keeps one address across MAGs: its access links are ports of one
        bridge with its MAC, and only the port toward its current MAG is up (the
        mn role does the same in the lab)."""
        self.ip(
            mn.name, "link", "add", mn.bridge, "address", mn.mac, "type", "bridge",
            "stp_state", "0", "forward_delay", "0", "mcast_snooping", "0",
        )  # fmt: skip
        for link in mn.access_links:
            # Only the bridge speaks IPv6 here; a port with a stack of its own would
            # solicit routers and configure addresses beside it.
            self.namespaces.sysctl(
                self.ns(mn.name), {f"net.ipv6.conf.{link.interface}.disable_ipv6": 1}
            )
            self.ip(mn.name, "link", "set", link.interface, "master", mn.bridge)
        self.ip(mn.name, "link", "set", mn.bridge, "up")
        for link in mn.access_links[1:]:
            self.ip(mn.name, "link", "set", link.interface, "down")

    # -- daemons -------------------------------------------------------------------------

    def write_configs(self) -> None:
        policy_path = self.workdir / "policy.yaml"
        policy = self.plan.policy(self.authorized_mags)
        policy_path.write_text(yaml.safe_dump(policy, sort_keys=False))
        for node in self.plan.daemon_nodes:
            if node != "lma" and not self.plan.node_config(node)["mag"]["access_interfaces"]:
                continue  # a MAG without MN links (mn_nodes=False): a fake MAG plays it
            path = self.workdir / f"{node}.yaml"
            path.write_text(yaml.safe_dump(self.node_config(node, policy_path), sort_keys=False))
            self.daemons[node] = Daemon(node, path, self.workdir / f"{node}.log")

    def node_config(self, node: str, policy_path: Path) -> dict[str, Any]:
        """The plan's configuration of `node`, with this domain's settings over it."""
        config = {
            **self.plan.node_config(node),
            "log_format": "json",
            "control_socket": str(self.control_socket(node)),
            "policy_file": str(policy_path),
            "tunnel_driver": self.tunnel_driver,
            "protocol": dict(self.extra_protocol),
        }
        if node == "lma":
            ours = {"lma": merged({"buffering": {"enabled": self.buffering}}, self.extra_lma)}
        else:
            ours = {"mag": merged({"hold_packets_on_detach": self.buffering}, self.extra_mag)}
        return merged(config, ours)

    def control_socket(self, node: str) -> Path:
        return self.workdir / f"{node}.sock"

    def start(self, node: str, wait: bool = True) -> None:
        daemon = self.daemons[node]
        # A killed daemon leaves its socket file; wait for the new one.
        self.control_socket(node).unlink(missing_ok=True)
        log = daemon.log_path.open("a")
        daemon.process = self.popen(
            node,
            PYTHON,
            "-m",
            "pmip6d.cli.pmip6d",
            "--config",
            str(daemon.config_path),
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        if wait:
            self.wait_for(lambda: self.control_socket(node).exists(), f"{node} control socket")

    def start_all(self) -> None:
        for node in self.daemons:
            self.start(node)
        for mn in self.plan.mobile_nodes if self.plan.mn_nodes else []:
            self.solicit(mn.name)

    def stop(self, node: str, sig: int = signal.SIGTERM, timeout: float = 10) -> int | None:
        """Stop a daemon; returns its exit status (None if it was not running)."""
        daemon = self.daemons[node]
        process, daemon.process = daemon.process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(sig)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait(timeout)

    def running(self) -> bool:
        """Every daemon still runs."""
        return all(
            d.process is not None and d.process.poll() is None for d in self.daemons.values()
        )

    def ctl(self, node: str, *args: str) -> dict:
        proc = self.exec(
            node,
            PYTHON,
            "-m",
            "pmip6d.cli.pmip6ctl",
            "--socket",
            str(self.control_socket(node)),
            *args,
            "--json",
        )
        return json.loads(proc.stdout)

    def log_events(self, node: str) -> list[dict]:
        events = []
        for line in self.daemons[node].log_path.read_text().splitlines():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return events

    def access_link_drops(self, mag: str, ifname: str | None = None) -> int:
        """Packets the kernel dropped on transmit at a MAG's access interface: a veth
        whose peer went down drops what was already past routing (the one loss at a
        link break that no buffer can reach, docs/buffering.md)."""
        ifname = ifname or self.plan.mag(int(mag.removeprefix("mag"))).access_interfaces[0]
        out = self.exec(mag, "cat", f"/sys/class/net/{ifname}/statistics/tx_dropped").stdout
        return int(out)

    # -- the mobile node --------------------------------------------------------------

    def mn_address(self, mn: str | None = None) -> IPv6Address | None:
        """The MN's global address from its home network prefix, once SLAAC made it."""
        node = self.mobile_node(mn)
        out = self.ip(
            node.name, "-6", "-j", "address", "show", "dev", node.bridge, "scope", "global"
        )
        for entry in json.loads(out.stdout or "[]"):
            for info in entry.get("addr_info", []):
                if "local" not in info:  # an entry of another family or a partial one
                    continue
                address = IPv6Address(info["local"])
                if address in node.home_prefix and not info.get("tentative"):
                    return address
        return None

    def mn_driver(self, mn: str | None = None) -> MobileNodeDriver:
        node = self.mobile_node(mn)
        if node.name not in self._drivers:
            process = self.popen(
                node.name,
                PYTHON,
                "-u",
                "-m",
                "pmipv6_lab.testbed.mobile_node",
                node.mac,
                node.bridge,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                bufsize=1,
            )
            self._drivers[node.name] = MobileNodeDriver(process)
        return self._drivers[node.name]

    def attach(self, mag_index: int, mn: str | None = None) -> None:
        """The MN's link to a MAG comes up and the MN solicits a router, as an
        arriving MN does (the bridge that keeps its address hides the port
        change from its kernel, so the driver sends that RS)."""
        link = self.mobile_node(mn).link_to(f"mag{mag_index}")
        self.mn_driver(mn).do(f"up {link.interface}")
        self.solicit(mn)

    def solicit(self, mn: str | None = None) -> None:
        self.mn_driver(mn).do("rs")

    def detach(self, mag_index: int, announced: bool = False, mn: str | None = None) -> None:
        """The MN leaves MAG<n>: its link goes down. `announced`: the access network
        reports the detach to the MAG first (`pmip6ctl detach`, as an access point
        reports a disassociation) and the link goes once the MAG has answered."""
        link = self.mobile_node(mn).link_to(f"mag{mag_index}")
        if announced:
            # Straight to the control socket: a pmip6ctl process would add its
            # start-up time to the handover.
            socket = self.control_socket(f"mag{mag_index}")
            control.request(socket, "detach", interface=link.mag_interface)
        self.mn_driver(mn).do(f"down {link.interface}")

    def handover(
        self, from_mag: int, to_mag: int, gap: float, announced: bool = False, mn: str | None = None
    ) -> None:
        """Link to the old MAG down, `gap` seconds without a link, link to the new MAG up."""
        self.detach(from_mag, announced, mn)
        time.sleep(gap)
        self.attach(to_mag, mn)

    # -- waiting -----------------------------------------------------------------------

    def wait_for(
        self, predicate: Callable[[], T], what: str, timeout: float = 15, interval: float = 0.05
    ) -> T:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            for daemon in self.daemons.values():
                if daemon.process is not None and daemon.process.poll() is not None:
                    raise CommandFailed(
                        f"{daemon.node} exited with {daemon.process.returncode} while waiting "
                        f"for {what}:\n{daemon.log_path.read_text()[-4000:]}"
                    )
            time.sleep(interval)
        raise TimeoutError(f"timed out after {timeout} s waiting for {what}")

    # -- teardown ----------------------------------------------------------------------

    def destroy(self) -> None:
        for driver in self._drivers.values():
            driver.close()
        self._drivers.clear()
        for node in list(self.daemons):
            try:
                self.stop(node)
            except Exception:  # noqa: BLE001 - teardown must reach the namespaces
                pass
        self.namespaces.destroy()

    def keep_logs(self, destination: Path) -> None:
        destination.mkdir(parents=True, exist_ok=True)
        for daemon in self.daemons.values():
            if daemon.log_path.exists():
                shutil.copy(daemon.log_path, destination / daemon.log_path.name)
