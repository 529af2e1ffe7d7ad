"""A PMIPv6 domain in network namespaces: cn - lma - mag1..magN - mn.

The same addressing plan as the containerlab lab (docs/lab.md), so what is
learnt here carries over. Each node is a network namespace joined by veth
pairs; the daemons run as real `pmip6d` processes inside them. The harness is
used by the integration tests (as a pytest fixture) and by the benchmarks.

The harness itself uses the `ip` command: it plays the part of the lab's
Ansible roles, not of the daemon, which does its own netlink work.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from ipaddress import IPv6Address, IPv6Network
from pathlib import Path

import yaml

from pmip6d import control

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable

LMA_ADDRESS = IPv6Address("2001:db8:ffff::1")
CN_ADDRESS = IPv6Address("2001:db8:c::10")
CN_LINK_LMA = IPv6Address("2001:db8:c::1")
HOME_PREFIXES = IPv6Network("2001:db8:1::/48")
ROUTER_LINK_LOCAL = IPv6Address("fe80::1")
ROUTER_LINK_LAYER = "02:00:5e:00:53:01"


def mag_address(index: int) -> IPv6Address:
    return IPv6Address(f"2001:db8:ffff::{0x10 + index:x}")


def core_link(index: int) -> IPv6Network:
    return IPv6Network(f"2001:db8:a:{index:x}::/64")


def mn_prefix(index: int) -> IPv6Network:
    return IPv6Network(f"2001:db8:1:{index:x}::/64")


def mn_link_layer(index: int) -> str:
    return f"02:00:00:00:01:{index:02x}"


def mn_identifier(index: int) -> str:
    return f"mn{index}@pmipv6.lab"


# The MN's own actions (links up and down, Router Solicitations) come from one
# long-lived process in its namespace, so a handover is not slowed down by a
# Python start-up per step.
MN_DRIVER = """
import socket, sys, time
from pyroute2 import IPRoute
mac = bytes.fromhex(sys.argv[1].replace(":", ""))
rs = bytes([133, 0, 0, 0, 0, 0, 0, 0, 1, 1]) + mac  # RS + source link-layer option
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
ipr = IPRoute()
bridge = socket.if_nametoindex("br0")
ra = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
ra.setblocking(False)
for line in sys.stdin:
    command, *args = line.split()
    if command in ("down", "up"):
        ipr.link("set", index=socket.if_nametoindex(args[0]), state=command)
    elif command == "rs":
        # An RS sent before br0 has its carrier back is dropped without an
        # error, so wait for the carrier first (at most 1 s; polled finely, as
        # every poll interval would add to the measured interruption).
        for _ in range(5000):
            with open("/sys/class/net/br0/carrier") as carrier:
                if carrier.read().strip() == "1":
                    break
            time.sleep(0.0002)
        # Like a host, solicit again until a router answers: a solicitation can
        # still be lost while the link settles (here at most 10 tries, 0.2 s apart).
        while True:
            try:
                ra.recv(2048)  # drop what came before this solicitation
            except BlockingIOError:
                break
        for attempt in range(10):
            try:
                s.sendto(rs, ("ff02::2", 0, 0, bridge))
            except OSError:
                time.sleep(0.005)
                continue
            deadline = time.monotonic() + 0.2
            answered = False
            while not answered and time.monotonic() < deadline:
                try:
                    answered = ra.recv(2048)[0] == 134
                except BlockingIOError:
                    time.sleep(0.001)
            if answered:
                break
    print("ok", flush=True)
"""


class MobileNodeDriver:
    """Sends `down ethN`, `up ethN` and `rs` to the MN_DRIVER process."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.process = process

    def do(self, command: str) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        if self.process.stdout.readline().strip() != "ok":
            raise CommandFailed(f"the MN driver failed on {command!r}")

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


class CommandFailed(RuntimeError):
    pass


def run(*args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise CommandFailed(f"{' '.join(args)}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


@dataclass
class Daemon:
    node: str
    config_path: Path
    log_path: Path
    process: subprocess.Popen | None = None


@dataclass
class Domain:
    """One LMA, `mags` MAGs, one CN and one MN attached to every MAG."""

    workdir: Path
    mags: int = 2
    buffering: bool = True
    tunnel_driver: str = "auto"
    extra_lma: dict = field(default_factory=dict)
    extra_mag: dict = field(default_factory=dict)
    extra_timers: dict = field(default_factory=dict)
    # 1-based indices of the MAGs the LMA's policy authorizes (default: all).
    authorized_mags: list[int] | None = None
    tag: str = field(default_factory=lambda: secrets.token_hex(2))
    daemons: dict[str, Daemon] = field(default_factory=dict)
    _namespaces: list[str] = field(default_factory=list)
    _mn_driver: MobileNodeDriver | None = None

    # -- naming -------------------------------------------------------------

    def ns(self, node: str) -> str:
        return f"p6{self.tag}-{node}"

    @property
    def mag_names(self) -> list[str]:
        return [f"mag{i}" for i in range(1, self.mags + 1)]

    # -- running things inside nodes ----------------------------------------

    def exec(self, node: str, *args: str, check: bool = True, timeout: float = 30):
        return run("ip", "netns", "exec", self.ns(node), *args, check=check, timeout=timeout)

    def popen(self, node: str, *args: str, **kwargs) -> subprocess.Popen:
        return subprocess.Popen(["ip", "netns", "exec", self.ns(node), *args], **kwargs)

    def ip(self, node: str, *args: str, check: bool = True):
        return run("ip", "-n", self.ns(node), *args, check=check)

    def sysctl(self, node: str, **settings: str | int) -> None:
        for key, value in settings.items():
            self.exec(node, "sysctl", "-qw", f"{key.replace('__', '.')}={value}")

    # -- building the topology ----------------------------------------------

    def build(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        for node in ["cn", "lma", *self.mag_names, "mn"]:
            run("ip", "netns", "add", self.ns(node))
            self._namespaces.append(self.ns(node))
            self.ip(node, "link", "set", "lo", "up")
        for node in ["lma", *self.mag_names]:
            self._router_sysctls(node)
        self._host_sysctls("cn")
        self._host_sysctls("mn")

        self._link("cn", "eth1", "lma", "eth1")
        self._address("cn", "eth1", f"{CN_ADDRESS}/64")
        self._address("lma", "eth1", f"{CN_LINK_LMA}/64")
        self.ip("cn", "-6", "route", "add", str(HOME_PREFIXES), "via", str(CN_LINK_LMA))
        self._address("lma", "lo", f"{LMA_ADDRESS}/128")

        for index, mag in enumerate(self.mag_names, start=1):
            link = core_link(index)
            self._link("lma", f"eth{index + 1}", mag, "eth1")
            self._address("lma", f"eth{index + 1}", f"{link[1]}/64")
            self._address(mag, "eth1", f"{link[2]}/64")
            self._address(mag, "lo", f"{mag_address(index)}/128")
            self.ip("lma", "-6", "route", "add", f"{mag_address(index)}/128", "via", str(link[2]))
            self.ip(mag, "-6", "route", "add", f"{LMA_ADDRESS}/128", "via", str(link[1]))
            self._link(mag, "eth2", "mn", f"eth{index}")

        # The MN keeps one address across MAGs: its access links are ports of
        # one bridge, and only the port of the current MAG is up.
        self.ip("mn", "link", "add", "br0", "address", mn_link_layer(1), "type", "bridge")
        self.sysctl("mn", net__ipv6__conf__br0__accept_dad=0, net__ipv6__conf__br0__accept_ra=1)
        for index in range(1, self.mags + 1):
            # Only the bridge speaks IPv6; a port with its own stack would
            # solicit routers with its own MAC, which no MN profile knows.
            self.sysctl("mn", **{f"net.ipv6.conf.eth{index}.disable_ipv6": 1})
            self.ip("mn", "link", "set", f"eth{index}", "master", "br0")
        self.ip("mn", "link", "set", "br0", "up")
        for index in range(2, self.mags + 1):
            self.ip("mn", "link", "set", f"eth{index}", "down")

    def _router_sysctls(self, node: str) -> None:
        for scope in ("all", "default"):
            self.sysctl(
                node,
                **{
                    f"net.ipv6.conf.{scope}.forwarding": 1,
                    f"net.ipv6.conf.{scope}.seg6_enabled": 1,
                    f"net.ipv6.conf.{scope}.accept_dad": 0,
                    # A MAG's hold route must win the moment an access link
                    # loses its carrier (docs/buffering.md).
                    f"net.ipv6.conf.{scope}.ignore_routes_with_linkdown": 1,
                },
            )

    def _host_sysctls(self, node: str) -> None:
        for scope in ("all", "default"):
            self.sysctl(
                node,
                **{
                    f"net.ipv6.conf.{scope}.forwarding": 0,
                    f"net.ipv6.conf.{scope}.accept_dad": 0,
                    f"net.ipv6.conf.{scope}.accept_ra": 1,
                },
            )

    def _link(self, node_a: str, if_a: str, node_b: str, if_b: str) -> None:
        tmp_a, tmp_b = f"v{self.tag}{secrets.token_hex(3)}", f"v{self.tag}{secrets.token_hex(3)}"
        run("ip", "link", "add", tmp_a, "type", "veth", "peer", "name", tmp_b)
        run("ip", "link", "set", tmp_a, "netns", self.ns(node_a), "name", if_a)
        run("ip", "link", "set", tmp_b, "netns", self.ns(node_b), "name", if_b)
        self.ip(node_a, "link", "set", if_a, "up")
        self.ip(node_b, "link", "set", if_b, "up")

    def _address(self, node: str, ifname: str, address: str) -> None:
        self.ip(node, "-6", "address", "add", address, "dev", ifname, "nodad")

    # -- daemons ------------------------------------------------------------

    def write_configs(self) -> None:
        policy = {
            "authorized_mags": [
                {"name": mag, "address": str(mag_address(i))}
                for i, mag in enumerate(self.mag_names, start=1)
                if self.authorized_mags is None or i in self.authorized_mags
            ],
            "mobile_nodes": [
                {
                    "mn_id": mn_identifier(1),
                    "link_layer_addresses": [mn_link_layer(1)],
                    "home_network_prefixes": [str(mn_prefix(1))],
                }
            ],
        }
        policy_path = self.workdir / "policy.yaml"
        policy_path.write_text(yaml.safe_dump(policy, sort_keys=False))
        for node in ["lma", *self.mag_names]:
            config = self._node_config(node, policy_path)
            path = self.workdir / f"{node}.yaml"
            path.write_text(yaml.safe_dump(config, sort_keys=False))
            self.daemons[node] = Daemon(node, path, self.workdir / f"{node}.log")

    def _node_config(self, node: str, policy_path: Path) -> dict:
        common = {
            "node_name": node,
            "log_format": "json",
            "control_socket": str(self.control_socket(node)),
            "policy_file": str(policy_path),
            "tunnel_driver": self.tunnel_driver,
            "timers": dict(self.extra_timers),
        }
        if node == "lma":
            lma = {"address": str(LMA_ADDRESS), "buffering": {"enabled": self.buffering}}
            lma.update(self.extra_lma)
            return {"role": "lma", **common, "lma": lma}
        index = int(node.removeprefix("mag"))
        mag = {
            "proxy_coa": str(mag_address(index)),
            "lma_address": str(LMA_ADDRESS),
            "access_interfaces": ["eth2"],
            "access_link_local": str(ROUTER_LINK_LOCAL),
            "access_link_layer": ROUTER_LINK_LAYER,
            "hold_packets_on_detach": self.buffering,
        }
        mag.update(self.extra_mag)
        return {"role": "mag", **common, "mag": mag}

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
        for node in ["lma", *self.mag_names]:
            self.start(node)
        self.solicit()

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

    def access_link_drops(self, node: str, ifname: str = "eth2") -> int:
        """Packets the kernel dropped on transmit at a MAG's access interface: a veth
        whose peer went down drops what was already past routing (the one loss at a
        link break that no buffer can reach, docs/buffering.md)."""
        out = self.exec(node, "cat", f"/sys/class/net/{ifname}/statistics/tx_dropped").stdout
        return int(out)

    # -- the mobile node ----------------------------------------------------

    def mn_address(self) -> IPv6Address | None:
        """The MN's global address from its home network prefix, once SLAAC made it."""
        out = self.ip("mn", "-6", "-j", "address", "show", "dev", "br0", "scope", "global").stdout
        for entry in json.loads(out or "[]"):
            for info in entry.get("addr_info", []):
                if "local" not in info:  # an entry of another family or a partial one
                    continue
                address = IPv6Address(info["local"])
                if address in mn_prefix(1) and not info.get("tentative"):
                    return address
        return None

    def mn_driver(self) -> MobileNodeDriver:
        if self._mn_driver is None:
            process = self.popen(
                "mn",
                PYTHON,
                "-u",
                "-c",
                MN_DRIVER,
                mn_link_layer(1),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                bufsize=1,
            )
            self._mn_driver = MobileNodeDriver(process)
        return self._mn_driver

    def attach(self, mag_index: int) -> None:
        """The MN's link to a MAG comes up and the MN solicits a router, as an
        arriving MN does (the bridge that keeps its address hides the port
        change from its kernel, so the driver sends that RS)."""
        self.mn_driver().do(f"up eth{mag_index}")
        self.solicit()

    def solicit(self) -> None:
        self.mn_driver().do("rs")

    def detach(self, mag_index: int, announced: bool = False) -> None:
        """The MN leaves MAG<n>: its link goes down. `announced`: the access network
        reports the detach to the MAG first (`pmip6ctl detach`, as an access point
        reports a disassociation) and the link goes once the MAG has answered."""
        if announced:
            # Straight to the control socket: a pmip6ctl process would add its
            # start-up time to the handover.
            control.request(self.control_socket(f"mag{mag_index}"), "detach", interface="eth2")
        self.mn_driver().do(f"down eth{mag_index}")

    def handover(self, from_mag: int, to_mag: int, gap: float, announced: bool = False) -> None:
        """Link to the old MAG down, `gap` seconds without a link, link to the new MAG up."""
        self.detach(from_mag, announced)
        time.sleep(gap)
        self.attach(to_mag)

    # -- waiting ------------------------------------------------------------

    def wait_for(self, predicate, what: str, timeout: float = 15, interval: float = 0.05):
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

    # -- teardown -----------------------------------------------------------

    def destroy(self) -> None:
        if self._mn_driver is not None:
            self._mn_driver.close()
            self._mn_driver = None
        for node in list(self.daemons):
            try:
                self.stop(node)
            except Exception:  # noqa: BLE001 - teardown must reach the namespaces
                pass
        for ns in self._namespaces:
            run("ip", "netns", "delete", ns, check=False)
        self._namespaces.clear()

    def keep_logs(self, destination: Path) -> None:
        destination.mkdir(parents=True, exist_ok=True)
        for daemon in self.daemons.values():
            if daemon.log_path.exists():
                shutil.copy(daemon.log_path, destination / daemon.log_path.name)
