"""Holding an MN's packets at the LMA during a handover (NFQUEUE).

``BufferRules`` manages our own ip6tables chain PMIP6-BUFFER in the mangle
table, jumped to from PREROUTING. PREROUTING, not FORWARD: a packet queued
there has not been routed yet, so when it is released it is routed with the
routing table of that moment, i.e. into the tunnel to the new MAG. A packet
queued in FORWARD keeps the route chosen before the handover (the kernel
re-routes re-injected packets only for LOCAL_OUT) and would go to the old
MAG. ``--queue-bypass`` lets traffic pass if no daemon is listening, so a
crashed daemon never blackholes an MN. (Packets the LMA itself decapsulates
do not pass PREROUTING again; MN-to-MN traffic through the LMA is not held.)

ip6tables runs as a subprocess: the iptables here is the nf_tables flavour,
its xt-compat NFQUEUE target has no netlink library usable from Python, and
the nft-native queue statement is missing from the kernels we target.

``PacketQueue`` wraps NetfilterQueue: register ``fileno()`` with
``loop.add_reader(fd, queue.process)``; the callback gets each packet and
may ``retain()`` it to ``accept()`` later. The held packets stay in the
kernel; only their first COPY_RANGE octets cross to user space.
"""

import subprocess
from collections.abc import Callable
from ipaddress import IPv6Network

from netfilterqueue import COPY_PACKET, NetfilterQueue, Packet

BUFFER_CHAIN = "PMIP6-BUFFER"
TABLE = "mangle"
HOOK = "PREROUTING"
DEFAULT_MAX_HELD = 4096
# Enough for the IPv6, extension and transport headers; the held packet itself
# stays in the kernel and is re-injected unchanged.
COPY_RANGE = 128


class BufferRuleError(RuntimeError):
    pass


def _ip6tables(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        ["ip6tables", "-w", "-t", TABLE, *argv], capture_output=True, text=True, timeout=10
    )
    if check and result.returncode != 0:
        raise BufferRuleError(f"ip6tables {' '.join(argv)}: {result.stderr.strip()}")
    return result


def _hold_rule(prefix: IPv6Network, queue_num: int) -> list[str]:
    return ["-d", str(prefix), "-j", "NFQUEUE", "--queue-num", str(queue_num), "--queue-bypass"]


class BufferRules:
    """The PMIP6-BUFFER chain: one NFQUEUE rule per prefix being held."""

    def install(self) -> None:
        """Create the chain and the jump to it (idempotent)."""
        if _ip6tables("-nL", BUFFER_CHAIN, check=False).returncode != 0:
            _ip6tables("-N", BUFFER_CHAIN)
        if _ip6tables("-C", HOOK, "-j", BUFFER_CHAIN, check=False).returncode != 0:
            _ip6tables("-I", HOOK, "1", "-j", BUFFER_CHAIN)

    def hold_prefix(self, prefix: IPv6Network, queue_num: int) -> None:
        rule = _hold_rule(prefix, queue_num)
        if _ip6tables("-C", BUFFER_CHAIN, *rule, check=False).returncode != 0:
            _ip6tables("-A", BUFFER_CHAIN, *rule)

    def release_prefix(self, prefix: IPv6Network) -> None:
        """Stop queueing new packets for ``prefix`` (held ones are released by the caller)."""
        for line in _ip6tables("-S", BUFFER_CHAIN).stdout.splitlines():
            words = line.split()
            if words[:2] == ["-A", BUFFER_CHAIN] and IPv6Network(words[3]) == prefix:
                _ip6tables("-D", *words[1:])

    def cleanup(self) -> None:
        """Remove the jump and the chain, leftovers of a crash included; nothing else."""
        while _ip6tables("-D", HOOK, "-j", BUFFER_CHAIN, check=False).returncode == 0:
            pass
        if _ip6tables("-nL", BUFFER_CHAIN, check=False).returncode == 0:
            _ip6tables("-F", BUFFER_CHAIN)
            _ip6tables("-X", BUFFER_CHAIN)


class PacketQueue:
    """One bound NFQUEUE; ``on_packet`` is called for each queued packet."""

    def __init__(
        self,
        queue_num: int,
        on_packet: Callable[[Packet], None],
        max_held: int = DEFAULT_MAX_HELD,
    ):
        self.queue_num = queue_num
        self._queue = NetfilterQueue()
        self._queue.bind(queue_num, on_packet, max_len=max_held, mode=COPY_PACKET, range=COPY_RANGE)

    def fileno(self) -> int:
        return self._queue.get_fd()

    def process(self) -> None:
        """Hand every waiting packet to the callback, without blocking."""
        self._queue.run(block=False)

    def close(self) -> None:
        self._queue.unbind()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
