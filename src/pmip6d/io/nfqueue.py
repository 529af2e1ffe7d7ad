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
``BufferRules`` itself blocks while ip6tables runs (5-10 ms a change); the
daemon makes its changes through a ``RuleWorker``, a thread of its own, so
that the event loop goes on giving verdicts and serving timers meanwhile.

``PacketQueue`` wraps NetfilterQueue: register ``fileno()`` with
``loop.add_reader(fd, queue.process)``; the callback gets each packet and
may keep the Packet to ``accept()`` it later (no ``retain()``: that copies
the payload, and a verdict needs only the packet id). The held packets stay
in the kernel; only their first COPY_RANGE octets cross to user space.
``accept_through(packet_id)`` accepts every packet of the queue up to that id
with one message (see there).

``NfqueueBufferKernel`` puts the three together for the LMA's buffer: the
rules, the queue and the packet injector behind the few calls the buffer
makes (daemon/lma_buffering.py), so that the buffer's bookkeeping can be
tested without root against a recording stand-in.
"""

import os
import socket
import struct
import subprocess
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from ipaddress import IPv6Network

from netfilterqueue import COPY_PACKET, NetfilterQueue, Packet

from pmip6d.io.packet_injector import PacketInjector

BUFFER_CHAIN = "PMIP6-BUFFER"
# The MAG's chain: packets routed to its hold device while an MN's access link
# is down (docs/buffering.md, "the in-flight window").
HOLD_CHAIN = "PMIP6-HOLD"
TABLE = "mangle"
HOOK = "PREROUTING"
DEFAULT_MAX_HELD = 4096
# Enough for the IPv6, extension and transport headers; the held packet itself
# stays in the kernel and is re-injected unchanged.
COPY_RANGE = 128
# Whole packets, for a holder that sends the bytes elsewhere (the MAG's hand-back).
COPY_WHOLE = 65535
# Room in the netlink socket for a burst of queued packets while the daemon is busy.
SOCKET_BYTES = 8 * 1024 * 1024


# nfnetlink_queue (linux/netfilter/nfnetlink_queue.h): a batch verdict, one
# message for every queued packet up to an id.
_NFNL_SUBSYS_QUEUE = 3
_NFQNL_MSG_VERDICT_BATCH = 3
_NFQA_VERDICT_HDR = 2
_NF_ACCEPT = 1
_NLM_F_REQUEST = 1


def verdict_batch_message(queue_num: int, packet_id: int, verdict: int = _NF_ACCEPT) -> bytes:
    """NFQNL_MSG_VERDICT_BATCH: nlmsghdr, nfgenmsg (AF_UNSPEC, version 0, queue
    number), one NFQA_VERDICT_HDR attribute (verdict, id; both big-endian)."""
    attribute = struct.pack("=HH", 12, _NFQA_VERDICT_HDR) + struct.pack("!II", verdict, packet_id)
    family = struct.pack("=BBH", socket.AF_UNSPEC, 0, socket.htons(queue_num))
    length = 16 + len(family) + len(attribute)
    header = struct.pack(
        "=IHHII", length, (_NFNL_SUBSYS_QUEUE << 8) | _NFQNL_MSG_VERDICT_BATCH, _NLM_F_REQUEST, 0, 0
    )
    return header + family + attribute


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
    """Our own chain (PMIP6-BUFFER by default), jumped to from ``hook``: one
    NFQUEUE rule per prefix being held, or one for an output device."""

    def __init__(self, chain: str = BUFFER_CHAIN, hook: str = HOOK) -> None:
        self.chain = chain
        self.hook = hook

    def install(self) -> None:
        """Create the chain and the jump to it (idempotent)."""
        if _ip6tables("-nL", self.chain, check=False).returncode != 0:
            _ip6tables("-N", self.chain)
        if _ip6tables("-C", self.hook, "-j", self.chain, check=False).returncode != 0:
            _ip6tables("-I", self.hook, "1", "-j", self.chain)

    def hold_prefix(self, prefix: IPv6Network, queue_num: int) -> None:
        rule = _hold_rule(prefix, queue_num)
        if _ip6tables("-C", self.chain, *rule, check=False).returncode != 0:
            _ip6tables("-A", self.chain, *rule)

    def hold_output_device(self, ifname: str, queue_num: int) -> None:
        """Queue every packet routed out of ``ifname``."""
        rule = ["-o", ifname, "-j", "NFQUEUE", "--queue-num", str(queue_num), "--queue-bypass"]
        if _ip6tables("-C", self.chain, *rule, check=False).returncode != 0:
            _ip6tables("-A", self.chain, *rule)

    def release_prefix(self, prefix: IPv6Network) -> None:
        """Stop queueing new packets for ``prefix`` (held ones are released by the caller)."""
        for line in _ip6tables("-S", self.chain).stdout.splitlines():
            words = line.split()
            if words[:3] == ["-A", self.chain, "-d"] and IPv6Network(words[3]) == prefix:
                _ip6tables("-D", *words[1:])

    def held_prefixes(self) -> list[IPv6Network]:
        return [
            IPv6Network(words[3])
            for line in _ip6tables("-S", self.chain, check=False).stdout.splitlines()
            if (words := line.split())[:3] == ["-A", self.chain, "-d"]
        ]

    def cleanup(self) -> None:
        """Remove the jump and the chain, leftovers of a crash included; nothing else."""
        while _ip6tables("-D", self.hook, "-j", self.chain, check=False).returncode == 0:
            pass
        if _ip6tables("-nL", self.chain, check=False).returncode == 0:
            _ip6tables("-F", self.chain)
            _ip6tables("-X", self.chain)


class RuleWorker:
    """Runs rule changes one at a time, in the order they were asked for, on one
    thread of their own.

    Why a thread and not netlink: the NFQUEUE target exists only through
    ip6tables' xt compatibility layer here (nft's own queue statement is not in
    the target kernels), which no Python netlink library speaks, so each change
    is an ip6tables process. Run from the event loop, its 5-10 ms would hold up
    every verdict and timer of every other MN; on this thread they run beside
    the loop. Why one thread: order matters (a prefix released, then held
    again for the MN's next handover), and a single worker keeps it.

    The thread is started by the first change, in the network namespace of the
    thread that asks for it; ip6tables inherits that namespace.
    """

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ip6tables")

    def submit(self, change: Callable[..., object], *args: object) -> Future:
        return self._executor.submit(change, *args)

    def close(self, wait: bool = True) -> None:
        """Stop the thread once the changes already asked for are made (`wait`:
        return only then)."""
        self._executor.shutdown(wait=wait)


class PacketQueue:
    """One bound NFQUEUE; ``on_packet`` is called for each queued packet."""

    def __init__(
        self,
        queue_num: int,
        on_packet: Callable[[Packet], None],
        max_held: int = DEFAULT_MAX_HELD,
        copy_range: int = COPY_RANGE,
    ):
        self.queue_num = queue_num
        self._queue = NetfilterQueue()
        self._queue.bind(
            queue_num,
            on_packet,
            max_len=max_held,
            mode=COPY_PACKET,
            range=copy_range,
            sock_len=SOCKET_BYTES,
        )

    def fileno(self) -> int:
        return self._queue.get_fd()

    def process(self) -> None:
        """Hand every waiting packet to the callback, without blocking."""
        self._queue.run(block=False)

    def accept_through(self, packet_id: int) -> None:
        """Accept every packet of this queue still awaiting a verdict whose id is
        ``packet_id`` or older, in queue order, with one netlink message.

        The caller must own all of them (ids are per queue, in arrival order).
        NetfilterQueue 1.1 has only per-packet verdicts, one syscall each, which
        made releasing a backlog cost more than holding it; the batch verdict is
        one fixed 32-octet message, written to the queue's own netlink socket
        (the kernel takes verdicts only from the socket bound to the queue, and
        an unconnected netlink socket writes to the kernel). The Packet objects
        of these ids must not get a verdict of their own afterwards.
        """
        os.write(self._queue.get_fd(), verdict_batch_message(self.queue_num, packet_id))

    def close(self) -> None:
        self._queue.unbind()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class NfqueueBufferKernel:
    """The LMA buffer's kernel side: its rules (changed on a RuleWorker), its
    queue and the injector for handed-back packets.

    ``start``, ``hold_prefix``, ``release_prefix`` and ``close`` return a Future
    that is done once the rules are changed (an asyncio caller awaits it with
    ``asyncio.wrap_future``, anyone else calls ``.result()``); the verdicts are
    immediate.
    """

    def __init__(self, queue_num: int, max_held: int) -> None:
        self.queue_num = queue_num
        self.max_held = max_held
        self.rules = BufferRules()
        self.worker = RuleWorker()
        self.queue: PacketQueue | None = None
        self.injector: PacketInjector | None = None

    def start(self, on_packet: Callable[[Packet], None]) -> Future:
        self.queue = PacketQueue(self.queue_num, on_packet, max_held=self.max_held)
        self.injector = PacketInjector()
        return self.worker.submit(self._fresh_rules)

    def _fresh_rules(self) -> None:
        self.rules.cleanup()  # a crashed predecessor's leftovers
        self.rules.install()

    def fileno(self) -> int:
        assert self.queue is not None
        return self.queue.fileno()

    def process(self) -> None:
        assert self.queue is not None
        self.queue.process()

    def hold_prefix(self, prefix: IPv6Network) -> Future:
        return self.worker.submit(self.rules.hold_prefix, prefix, self.queue_num)

    def release_prefix(self, prefix: IPv6Network) -> Future:
        return self.worker.submit(self.rules.release_prefix, prefix)

    def accept(self, packet: Packet) -> None:
        packet.accept()

    def accept_through(self, packet: Packet) -> None:
        """Accept `packet` and every older one still queued, in one message."""
        assert self.queue is not None
        self.queue.accept_through(packet.id)

    def drop(self, packet: Packet) -> None:
        packet.drop()

    def inject(self, data: bytes) -> None:
        """Send a handed-back packet on; raises OSError or ValueError."""
        assert self.injector is not None
        self.injector.send(data)

    def close(self) -> Future:
        """Unbind the queue, then remove the rules: in between, what matches them
        passes (--queue-bypass), as after a crash."""
        if self.queue is not None:
            self.queue.close()
        if self.injector is not None:
            self.injector.close()
        done = self.worker.submit(self.rules.cleanup)
        self.worker.close(wait=False)
        return done
