"""Network namespaces joined by veth pairs: the one builder the testbed, the
benchmarks and the adapter tests share (root only).

It uses the `ip` and `sysctl` commands: it plays the part of containerlab and
the lab's Ansible roles, not of the daemon, which does its own netlink work.
`entered()` and `route_socket()` put a thread, and the sockets it opens, into
a namespace, for tests that drive an adapter directly.
"""

from __future__ import annotations

import contextlib
import secrets
import subprocess
import time
from collections.abc import Iterator, Mapping

from pyroute2 import AsyncIPRoute
from pyroute2.netns import popns, pushns


class CommandFailed(RuntimeError):
    pass


def run(*argv: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise CommandFailed(f"{' '.join(argv)}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def in_ns(ns: str, *argv: str, check: bool = True, timeout: float = 30):
    return run("ip", "netns", "exec", ns, *argv, check=check, timeout=timeout)


def end_of_input(process: subprocess.Popen, timeout: float = 5) -> None:
    """Close a helper process's stdin (its signal to finish), wait, kill if it hangs;
    then close its pipes."""
    if process.poll() is None and process.stdin is not None:
        process.stdin.close()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout)
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()


class Namespaces:
    """Namespaces named `<prefix><tag>-<node>` (a fresh tag per instance, so runs
    side by side do not collide) and veth links between them; `destroy()`
    removes every namespace and process it made."""

    def __init__(self, prefix: str = "p6", tag: str | None = None) -> None:
        self.tag = tag or secrets.token_hex(2)
        self.prefix = prefix
        self.names: list[str] = []
        self.processes: list[subprocess.Popen] = []

    def ns(self, node: str) -> str:
        return f"{self.prefix}{self.tag}-{node}"[:40]

    def add(self, node: str, sysctls: Mapping[str, int] | None = None) -> str:
        """A namespace with loopback up and `sysctls` set before any link exists,
        so interfaces made later inherit the `default.*` ones."""
        name = self.ns(node)
        run("ip", "netns", "add", name)
        self.names.append(name)
        in_ns(name, "ip", "link", "set", "lo", "up")
        self.sysctl(name, sysctls or {})
        return name

    def sysctl(self, ns: str, settings: Mapping[str, int]) -> None:
        if settings:
            in_ns(ns, "sysctl", "-qw", *(f"{key}={value}" for key, value in settings.items()))

    def link(
        self,
        ns_a: str,
        if_a: str,
        ns_b: str,
        if_b: str,
        *,
        mac_a: str | None = None,
        mac_b: str | None = None,
        up: bool = True,
    ) -> None:
        """A veth pair from `if_a` in `ns_a` to `if_b` in `ns_b`, with the MACs given.

        The pair is made here and then moved: made inside the namespaces, both
        ends can get the same ifindex, and the kernel then takes a carrier
        change of such a veth for a non-urgent one, which linkwatch delays by
        up to a second; an MN whose link comes up would wait that long for it.
        """
        temporary = [f"v{self.tag}{secrets.token_hex(3)}" for _ in range(2)]
        run("ip", "link", "add", temporary[0], "type", "veth", "peer", "name", temporary[1])
        for name, ns, ifname in zip(temporary, (ns_a, ns_b), (if_a, if_b), strict=True):
            run("ip", "link", "set", name, "netns", ns, "name", ifname)
        for ns, ifname, mac in ((ns_a, if_a, mac_a), (ns_b, if_b, mac_b)):
            if mac is not None:
                in_ns(ns, "ip", "link", "set", ifname, "address", mac)
            if up:
                in_ns(ns, "ip", "link", "set", ifname, "up")

    def address(self, ns: str, ifname: str, address: str) -> None:
        in_ns(ns, "ip", "-6", "address", "add", address, "dev", ifname, "nodad")

    def route(self, ns: str, to: str, via: str, dev: str | None = None) -> None:
        in_ns(ns, "ip", "-6", "route", "add", to, "via", via, *(("dev", dev) if dev else ()))

    def spawn(self, ns: str, *argv: str, **popen: object) -> subprocess.Popen:
        """A process in `ns`; killed by destroy() if still running. Output is piped
        unless `popen` says otherwise."""
        popen = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True, **popen}
        process = subprocess.Popen(["ip", "netns", "exec", ns, *argv], **popen)
        self.processes.append(process)
        return process

    def wait_for_link_local(self, ns: str, ifname: str, seconds: float = 5) -> None:
        """Carrier (and so the link-local address) comes up via linkwatch, up to ~1 s late."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if in_ns(ns, "ip", "-6", "addr", "show", "dev", ifname, "scope", "link").stdout:
                return
            time.sleep(0.05)
        raise TimeoutError(f"{ifname} in {ns} got no link-local address")

    def destroy(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
        # Whatever lives in a namespace (routes, ip6tables rules) goes with it.
        for name in reversed(self.names):
            run("ip", "netns", "delete", name, check=False)
        self.names.clear()


@contextlib.contextmanager
def entered(ns: str) -> Iterator[None]:
    """Run the body with this thread inside `ns`; sockets opened here stay there,
    and threads started here start there."""
    pushns(ns)
    try:
        yield
    finally:
        popns()


async def route_socket(ns: str) -> AsyncIPRoute:
    with entered(ns):
        ipr = AsyncIPRoute()
        await ipr.setup_endpoint()
    return ipr


@contextlib.contextmanager
def capture(namespaces: Namespaces, ns: str, ifname: str, pcap: str, bpf: str = ""):
    """tcpdump on `ifname` for the duration of the body; the pcap is complete afterwards."""
    argv = ["tcpdump", "-i", ifname, "-U", "--immediate-mode", "-w", pcap]
    process = namespaces.spawn(ns, *argv, *bpf.split())
    # tcpdump says "listening on" on stderr once the socket is attached.
    process.stderr.readline()
    try:
        yield
    finally:
        process.terminate()
        process.wait(timeout=10)


def tshark_fields(pcap: str, display_filter: str, *fields: str) -> list[list[str]]:
    argv = ["tshark", "-r", pcap, "-Y", display_filter, "-T", "fields"]
    for field in fields:
        argv += ["-e", field]
    return [line.split("\t") for line in run(*argv).stdout.splitlines() if line]
