"""NFQUEUE throughput: a bare accept loop vs the LMA's buffer path, same run.

    python bench/nfqueue.py [--packets N] [--payload BYTES] [--queue-num Q] [--rounds R] [--json]

Three namespaces src -> rtr -> dst joined by veth pairs (2001:db8::/32 only,
static neighbours, forwarding on rtr). A burst of N UDP datagrams goes from src
to dst as fast as one Python sendto loop can, twice per round (R rounds,
default 3), through one long-lived worker process in rtr:

- raw: an ip6tables mangle PREROUTING rule `-d <dst prefix> -j NFQUEUE
  --queue-num Q --queue-bypass` and a bare NetfilterQueue (same bind settings
  as the daemon's PacketQueue) whose callback only calls `accept()`;
- buffered: the daemon's real path, `pmip6d.daemon.lma_buffering.LmaBuffering`:
  `start()`, `start_buffering(mn, (prefix,))`, `readable()` whenever the queue
  fd is readable while the burst arrives (NFQUEUE callback -> core/buffer.py
  `hold` -> `retain`), then `release()` and `on_timer()` at `next_deadline()`
  until every packet is accepted. Pacing is disabled for throughput (release
  rate 1e7 pps, first burst = N), so the mechanism is measured, not the policy.

Both rates are packets per CPU-second of the rtr worker thread
(`time.thread_time`, user + system, which includes the kernel forwarding done
inside each verdict syscall), summed over the queue-processing calls only:
waiting in select and the ip6tables rule changes are excluded. A buffered
packet is counted once, its hold and its release CPU both charged to it.
`raw_pps`, `buffered_pps` and `ratio` are the medians over the rounds (a
shared 2-core VM varies by tens of percent from one burst to the next);
`rounds` has each round's figures. dst counts distinct and out-of-order
sequence numbers; a run whose buffered path loses or reorders a packet exits
1. The raw loop, one verdict syscall per packet, may fall behind the sender
on a slow machine: the kernel then drops what its socket cannot take
(`queue_drops_raw`), which leaves its CPU per packet, the measured quantity,
as it is.

Needs root. Progress goes to stderr; one JSON object is the last line of stdout.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import select
import socket
import struct
import subprocess
import sys
import time
from ipaddress import IPv6Network
from pathlib import Path

from pmipv6_lab import cli
from pmipv6_lab.testbed.netns import Namespaces, run

PROG = "bench/nfqueue.py"
PYTHON = sys.executable

SRC_ADDR = "2001:db8:a::2"
RTR_SRC_SIDE = "2001:db8:a::1"
RTR_DST_SIDE = "2001:db8:b::1"
DST_LINK_ADDR = "2001:db8:b::2"
DST_PREFIX = IPv6Network("2001:db8:1:1::/64")  # the "MN" prefix the rules match
DST_ADDR = "2001:db8:1:1::10"
PORT = 5555
MAC = {
    ("src", "eth1"): "02:00:00:00:0a:02",
    ("rtr", "eth1"): "02:00:00:00:0a:01",
    ("rtr", "eth2"): "02:00:00:00:0b:01",
    ("dst", "eth1"): "02:00:00:00:0b:02",
}
MN_ID = "bench-mn@pmipv6.lab"
TARGET_RATIO = 0.8
DEFINITION = (
    "packets / CPU seconds (user+system, time.thread_time) of the rtr worker thread spent in "
    "queue-processing calls; raw: NetfilterQueue.run(block=False) with an accept-only "
    "callback; buffered: LmaBuffering.readable() while holding + release() + on_timer() "
    "until all are accepted (each packet counted once); select waits and ip6tables rule "
    "changes excluded"
)
IDLE_AFTER_SENT_S = 2.0  # rtr / dst give up this long after the last packet
PHASE_TIMEOUT_S = 120.0
RCVBUF_DST = 256 * 1024 * 1024


def _int_range(what: str, low: int, high: int):
    return cli.number(int, low, high, what)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = cli.parser(PROG, __doc__)
    parser.add_argument(
        "--packets", type=_int_range("packets", 1000, 1_000_000), default=50_000, help="burst size"
    )
    parser.add_argument(
        "--payload", type=_int_range("payload", 4, 1400), default=16, help="UDP payload bytes"
    )
    parser.add_argument(
        "--queue-num", type=_int_range("queue-num", 0, 65535), default=7, help="NFQUEUE number"
    )
    parser.add_argument(
        "--rounds", type=_int_range("rounds", 1, 20), default=3, help="raw + buffered bursts"
    )
    cli.add_json_flag(parser)
    # Internal: the processes this script starts inside the namespaces.
    parser.add_argument("--worker", choices=["rtr", "send", "recv"], help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def progress(message: str) -> None:
    cli.progress(f"[nfqueue] {message}")


# -- workers (run inside the namespaces) ------------------------------------------


def worker_send(packets: int, payload: int) -> None:
    """src: N datagrams to dst as fast as one loop can; a full device queue is retried."""
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sock.connect((DST_ADDR, PORT))
    buf = bytearray(payload)
    retries = 0
    start = time.monotonic()
    for seq in range(packets):
        struct.pack_into("!I", buf, 0, seq)
        for _attempt in range(10_000):
            try:
                sock.send(buf)
                break
            except OSError as exc:
                if exc.errno not in (errno.ENOBUFS, errno.EAGAIN):
                    raise
                retries += 1
                time.sleep(0.0001)
        else:
            raise RuntimeError(f"could not send datagram {seq}")
    elapsed = time.monotonic() - start
    print(json.dumps({"sent": packets, "seconds": elapsed, "retries": retries}), flush=True)


def worker_recv(packets: int) -> None:
    """dst: count distinct sequence numbers until all came or the flow stopped."""
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, 33, RCVBUF_DST)  # SO_RCVBUFFORCE (root)
    sock.bind((DST_ADDR, PORT))
    seen = bytearray(packets)
    received = duplicates = reordered = 0
    highest = -1
    first = last = None
    buf = bytearray(2048)
    print("ready", flush=True)
    sock.settimeout(PHASE_TIMEOUT_S)
    while received < packets:
        try:
            size = sock.recv_into(buf)
        except TimeoutError:
            break
        last = time.monotonic()
        if first is None:
            first = last
            sock.settimeout(IDLE_AFTER_SENT_S)
        if size < 4:
            continue
        seq = struct.unpack_from("!I", buf, 0)[0]
        if seq >= packets:
            continue
        if seen[seq]:
            duplicates += 1
            continue
        seen[seq] = 1
        received += 1
        if seq < highest:
            reordered += 1
        highest = max(highest, seq)
    wall = (last - first) if first is not None and last is not None else None
    print(
        json.dumps(
            {
                "received": received,
                "duplicates": duplicates,
                "reordered": reordered,
                "seconds": wall,
            }
        )
    )


class _Commands:
    """Lines from the orchestrator on stdin, read without blocking the select loop."""

    def __init__(self) -> None:
        self.fd = sys.stdin.fileno()
        self._pending = b""

    def read(self) -> list[str]:
        data = os.read(self.fd, 4096)
        if not data:
            raise SystemExit("rtr worker: the orchestrator went away")
        self._pending += data
        *lines, self._pending = self._pending.split(b"\n")
        return [line.decode().strip() for line in lines]

    def wait_for(self, word: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.fd], [], [], deadline - time.monotonic())
            if ready and word in self.read():
                return
        raise SystemExit(f"rtr worker: no {word!r} command within {timeout} s")


def _reply(obj: object) -> None:
    print(json.dumps(obj) if not isinstance(obj, str) else obj, flush=True)


def _pump(fd: int, process, done, commands: _Commands) -> tuple[float, float | None, float]:
    """Call `process()` whenever `fd` is readable until `done()`, or until the sender has
    finished and nothing came for IDLE_AFTER_SENT_S. Returns (busy CPU seconds, wall
    time of the first readable, wall time of the last processing call)."""
    busy = 0.0
    sent = False
    first = None
    last = time.monotonic()
    deadline = time.monotonic() + PHASE_TIMEOUT_S
    while not done() and time.monotonic() < deadline:
        if sent and time.monotonic() - last > IDLE_AFTER_SENT_S:
            break
        ready, _, _ = select.select([fd, commands.fd], [], [], 0.2)
        if fd in ready:
            now = time.monotonic()
            if first is None:
                first = now
            t0 = time.thread_time()
            process()
            busy += time.thread_time() - t0
            last = time.monotonic()
        if commands.fd in ready and "sent" in commands.read():
            sent = True
            last = max(last, time.monotonic())
    return busy, first, last


def queue_drops(queue_num: int) -> int | None:
    """Packets the kernel dropped on this queue (queue full + netlink socket full)."""
    try:
        lines = Path("/proc/net/netfilter/nfnetlink_queue").read_text().split("\n")
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) >= 7 and int(fields[0]) == queue_num:
            return int(fields[5]) + int(fields[6])
    return None


def rtr_raw(packets: int, queue_num: int, commands: _Commands) -> dict:
    from netfilterqueue import COPY_PACKET, NetfilterQueue

    from pmip6d.io.nfqueue import COPY_RANGE, SOCKET_BYTES

    rule = ["-d", str(DST_PREFIX), "-j", "NFQUEUE", "--queue-num", str(queue_num)]
    rule.append("--queue-bypass")
    count = 0

    def on_packet(packet) -> None:
        nonlocal count
        count += 1
        packet.accept()

    queue = NetfilterQueue()
    queue.bind(
        queue_num,
        on_packet,
        max_len=packets,
        mode=COPY_PACKET,
        range=COPY_RANGE,
        sock_len=SOCKET_BYTES,
    )
    run("ip6tables", "-w", "-t", "mangle", "-A", "PREROUTING", *rule)
    try:
        _reply("ready")
        fd = queue.get_fd()
        busy, first, last = _pump(
            fd, lambda: queue.run(block=False), lambda: count >= packets, commands
        )
        drops = queue_drops(queue_num)
    finally:
        run("ip6tables", "-w", "-t", "mangle", "-D", "PREROUTING", *rule, check=False)
        queue.unbind()
    wall = (last - first) if first is not None else None
    return {"processed": count, "cpu_s": busy, "wall_s": wall, "kernel_drops": drops}


def rtr_buffered(packets: int, queue_num: int, commands: _Commands) -> dict:
    from pmip6d.config import BufferingConfig, ProtocolConstants
    from pmip6d.daemon.eventlog import EventLog
    from pmip6d.daemon.lma_buffering import LmaBuffering

    config = BufferingConfig(
        max_packets_per_mn=packets,
        max_bytes_per_mn=1 << 32,
        max_packets_total=packets,
        max_bytes_total=1 << 32,
        hold_time=PHASE_TIMEOUT_S * 2,
        # Pacing out of the way: everything goes in the first burst.
        release_rate_factor=1000.0,
        min_release_rate=1e7,
        max_release_rate=1e7,
        release_burst=packets,
        idle_close=0.05,
        expect_hand_back=False,
        queue_num=queue_num,
    )
    devnull = open(os.devnull, "w")  # noqa: SIM115 - closed below
    buffering = LmaBuffering(config, ProtocolConstants(), EventLog("rtr", stream=devnull))
    try:
        buffering.start().result()
        buffering.start_buffering(MN_ID, (DST_PREFIX,), time.time()).result()
        buffer = buffering.pool.get(MN_ID)
        assert buffer is not None

        def arrived() -> int:
            return buffer.held_total + sum(buffer.dropped.values()) + buffer.released

        _reply("ready")
        hold_cpu, first, hold_last = _pump(
            buffering.fileno(), buffering.readable, lambda: arrived() >= packets, commands
        )
        held = buffer.held_total
        progress(f"buffered: {held} held, releasing")

        release_wall0 = time.monotonic()
        t0 = time.thread_time()
        buffering.release(MN_ID, time.time())
        release_cpu = time.thread_time() - t0
        deadline = time.monotonic() + PHASE_TIMEOUT_S
        while buffer.depth and time.monotonic() < deadline:
            due = buffering.next_deadline()
            if due is not None:
                time.sleep(min(max(0.0, due - time.time()), 0.5))
            t0 = time.thread_time()
            buffering.on_timer(time.time())
            release_cpu += time.thread_time() - t0
        release_wall = time.monotonic() - release_wall0
        released = buffer.released
        dropped = sum(buffer.dropped.values())
        # Let the buffer close and its rule go (not measured).
        deadline = time.monotonic() + 5.0
        while buffering.pool.get(MN_ID) is not None and time.monotonic() < deadline:
            due = buffering.next_deadline()
            time.sleep(min(max(0.0, (due or time.time()) - time.time()), 0.2) + 0.001)
            buffering.on_timer(time.time())
        closed = buffering.pool.get(MN_ID) is None
        drops = queue_drops(queue_num)
    finally:
        buffering.shutdown().result()
        devnull.close()
    return {
        "processed": released,
        "held": held,
        "released": released,
        "dropped": dropped,
        "hold_cpu_s": hold_cpu,
        "release_cpu_s": release_cpu,
        "cpu_s": hold_cpu + release_cpu,
        "hold_wall_s": (hold_last - first) if first is not None else None,
        "release_wall_s": release_wall,
        "closed": closed,
        "kernel_drops": drops,
    }


def worker_rtr(packets: int, queue_num: int, rounds: int) -> None:
    commands = _Commands()
    for _ in range(rounds):
        for phase, body in (("raw", rtr_raw), ("buffered", rtr_buffered)):
            commands.wait_for(phase, PHASE_TIMEOUT_S)
            _reply(body(packets, queue_num, commands))


# -- orchestration ------------------------------------------------------------------


class Lab:
    """src -> rtr -> dst in namespaces (the testbed's builder), static neighbours."""

    def __init__(self) -> None:
        self.namespaces = Namespaces(prefix="nq")

    def ns(self, node: str) -> str:
        return self.namespaces.ns(node)

    def ip(self, node: str, *args: str) -> None:
        run("ip", "-n", self.ns(node), *args)

    def build(self) -> None:
        for node in ("src", "rtr", "dst"):
            forwarding = 1 if node == "rtr" else 0
            settings = {"forwarding": forwarding, "accept_dad": 0, "accept_ra": 0}
            self.namespaces.add(node, {
                f"net.ipv6.conf.{scope}.{key}": value
                for key, value in settings.items()
                for scope in ("all", "default")
            })  # fmt: skip
        for (node_a, if_a), (node_b, if_b) in ((("src", "eth1"), ("rtr", "eth1")),
                                               (("rtr", "eth2"), ("dst", "eth1"))):  # fmt: skip
            self.namespaces.link(
                self.ns(node_a), if_a, self.ns(node_b), if_b,
                mac_a=MAC[(node_a, if_a)], mac_b=MAC[(node_b, if_b)],
            )  # fmt: skip
        self.ip("src", "-6", "address", "add", f"{SRC_ADDR}/64", "dev", "eth1", "nodad")
        self.ip("rtr", "-6", "address", "add", f"{RTR_SRC_SIDE}/64", "dev", "eth1", "nodad")
        self.ip("rtr", "-6", "address", "add", f"{RTR_DST_SIDE}/64", "dev", "eth2", "nodad")
        self.ip("dst", "-6", "address", "add", f"{DST_LINK_ADDR}/64", "dev", "eth1", "nodad")
        self.ip("dst", "-6", "address", "add", f"{DST_ADDR}/128", "dev", "lo", "nodad")
        self.ip("src", "-6", "route", "add", "2001:db8:1::/48", "via", RTR_SRC_SIDE)
        self.ip("rtr", "-6", "route", "add", str(DST_PREFIX), "via", DST_LINK_ADDR)
        self.ip("dst", "-6", "route", "add", "2001:db8:a::/64", "via", RTR_DST_SIDE)
        # Static neighbours: no packet of the burst waits in (or is dropped from) an
        # unresolved-neighbour queue.
        for node, ifname, address, peer in (
            ("src", "eth1", RTR_SRC_SIDE, ("rtr", "eth1")),
            ("rtr", "eth2", DST_LINK_ADDR, ("dst", "eth1")),
            ("rtr", "eth1", SRC_ADDR, ("src", "eth1")),
            ("dst", "eth1", RTR_DST_SIDE, ("rtr", "eth2")),
        ):
            self.ip(
                node, "-6", "neigh", "replace", address, "lladdr", MAC[peer], "dev", ifname,
                "nud", "permanent",
            )  # fmt: skip

    def spawn(self, node: str, *args: str, stdin: bool = False) -> subprocess.Popen:
        return self.namespaces.spawn(
            self.ns(node), PYTHON, str(Path(__file__).resolve()), *args,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL, stderr=None,
        )  # fmt: skip

    def destroy(self) -> None:
        # ip6tables state lives in the namespace and goes with it.
        self.namespaces.destroy()


def _read_line(proc: subprocess.Popen, timeout: float, what: str) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline() if ready else ""
    if not line:
        raise RuntimeError(f"{what}: no answer within {timeout} s (exit {proc.poll()})")
    return line.strip()


def run_phase(lab: Lab, rtr: subprocess.Popen, phase: str, args: argparse.Namespace) -> dict:
    common = ("--packets", str(args.packets), "--payload", str(args.payload))
    assert rtr.stdin is not None
    rtr.stdin.write(phase + "\n")
    rtr.stdin.flush()
    if _read_line(rtr, 30, f"rtr {phase} set-up") != "ready":
        raise RuntimeError(f"rtr {phase}: unexpected answer")
    recv = lab.spawn("dst", "--worker", "recv", *common)
    if _read_line(recv, 30, "dst receiver") != "ready":
        raise RuntimeError("dst receiver: unexpected answer")
    progress(f"{phase}: sending {args.packets} datagrams")
    send = lab.spawn("src", "--worker", "send", *common)
    sent = json.loads(_read_line(send, PHASE_TIMEOUT_S, "src sender"))
    send.wait(10)
    rtr.stdin.write("sent\n")
    rtr.stdin.flush()
    processed = json.loads(_read_line(rtr, PHASE_TIMEOUT_S + 10, f"rtr {phase}"))
    received = json.loads(_read_line(recv, PHASE_TIMEOUT_S + 10, "dst receiver"))
    recv.wait(10)
    progress(f"{phase}: rtr {processed}, dst {received}")
    return {"sent": sent, "rtr": processed, "dst": received}


def _pps(count: int, seconds: float | None) -> float | None:
    return round(count / seconds, 1) if seconds else None


def round_figures(raw: dict, buffered: dict, n: int) -> dict:
    """One round's raw and buffered bursts, side by side."""
    raw_pps = _pps(raw["rtr"]["processed"], raw["rtr"]["cpu_s"])
    buffered_pps = _pps(buffered["rtr"]["processed"], buffered["rtr"]["cpu_s"])
    b = buffered["rtr"]
    return {
        "raw_pps": raw_pps,
        "buffered_pps": buffered_pps,
        "ratio": round(buffered_pps / raw_pps, 3) if raw_pps and buffered_pps else None,
        "received_raw": raw["dst"]["received"],
        "received_buffered": buffered["dst"]["received"],
        "processed_raw": raw["rtr"]["processed"],
        # Dropped by the kernel before user space saw them (queue or netlink socket full).
        "queue_drops_raw": raw["rtr"]["kernel_drops"],
        "queue_drops_buffered": b["kernel_drops"],
        "duplicates": raw["dst"]["duplicates"] + buffered["dst"]["duplicates"],
        # Arrived after a higher sequence number (the sender sends in order).
        "reordered_raw": raw["dst"]["reordered"],
        "reordered_buffered": buffered["dst"]["reordered"],
        "raw_cpu_s": round(raw["rtr"]["cpu_s"], 4),
        "buffered_hold_cpu_s": round(b["hold_cpu_s"], 4),
        "buffered_release_cpu_s": round(b["release_cpu_s"], 4),
        "held": b["held"],
        "released": b["released"],
        "dropped": b["dropped"],
        "buffer_closed": b["closed"],
        # Context, not the ratio: wall-clock rates (the raw and hold phases are paced by
        # the sender; the release is the daemon accepting its backlog back to back).
        "sender_pps_raw": _pps(n, raw["sent"]["seconds"]),
        "sender_pps_buffered": _pps(n, buffered["sent"]["seconds"]),
        "raw_wall_pps": _pps(raw["rtr"]["processed"], raw["rtr"]["wall_s"]),
        "release_wall_pps": _pps(b["released"], b["release_wall_s"]),
        "dst_release_pps": _pps(buffered["dst"]["received"], buffered["dst"]["seconds"]),
    }


def _median(values: list) -> float | None:
    present = sorted(v for v in values if v is not None)
    return present[len(present) // 2] if present else None


def bench(args: argparse.Namespace) -> tuple[dict, bool]:
    lab = Lab()
    rounds = []
    try:
        progress(f"building namespaces {lab.ns('{src,rtr,dst}')}")
        lab.build()
        rtr = lab.spawn(
            "rtr", "--worker", "rtr", "--packets", str(args.packets),
            "--queue-num", str(args.queue_num), "--rounds", str(args.rounds), stdin=True,
        )  # fmt: skip
        for number in range(1, args.rounds + 1):
            progress(f"round {number} of {args.rounds}")
            raw = run_phase(lab, rtr, "raw", args)
            buffered = run_phase(lab, rtr, "buffered", args)
            rounds.append(round_figures(raw, buffered, args.packets))
        rtr.wait(10)
    finally:
        lab.destroy()
    ratio = _median([r["ratio"] for r in rounds])
    result = {
        "raw_pps": _median([r["raw_pps"] for r in rounds]),
        "buffered_pps": _median([r["buffered_pps"] for r in rounds]),
        "ratio": ratio,
        "target_ratio": TARGET_RATIO,
        "meets_target": ratio is not None and ratio >= TARGET_RATIO,
        "definition": DEFINITION,
        "pacing": "disabled for throughput (release rate 1e7 pps, first burst = all packets)",
        "packets": args.packets,
        "payload_bytes": args.payload,
        "lost_buffered": sum(args.packets - r["received_buffered"] for r in rounds),
        "reordered_buffered": sum(r["reordered_buffered"] for r in rounds),
        "duplicates": sum(r["duplicates"] for r in rounds),
        "queue_drops_raw": sum(r["queue_drops_raw"] or 0 for r in rounds),
        "rounds": rounds,
    }
    complete = result["lost_buffered"] == 0 and result["reordered_buffered"] == 0
    return result, complete


def main(argv: list[str] | None = None) -> int:
    # The workers run inside the namespaces (as root): no root check before them.
    args = cli.command_line(PROG, parse_args, argv, root_for=None)
    if args is None:
        return 2
    if args.worker == "send":
        worker_send(args.packets, args.payload)
        return 0
    if args.worker == "recv":
        worker_recv(args.packets)
        return 0
    if args.worker == "rtr":
        worker_rtr(args.packets, args.queue_num, args.rounds)
        return 0
    if os.geteuid() != 0:
        return cli.error(PROG, "needs root (network namespaces, ip6tables)")
    result, complete = bench(args)
    if not complete:
        progress("the buffered path lost or reordered packets: the figures are suspect")
    print(json.dumps(result))
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
