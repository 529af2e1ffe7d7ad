"""The scale benchmark's data plane: a stream to every moving MN, counted at the fake MAGs.

    (internal) python bench/scale_traffic.py send --movers 1,11,... --rate PPS
    (internal) python bench/scale_traffic.py sink --out FILE

`send` runs in the CN namespace: datagrams to each mover's prefix (::10), round
robin, `rate` in all, each carrying (mover number, sequence number), until a
line "stop" arrives on stdin; then it prints {mover: datagrams sent} as JSON.

`sink` runs in a fake MAG's namespace. The LMA tunnels an MN's packets to the
MAG address as IPv6-in-IPv6 (RFC 2473, whatever the driver); nothing decapsulates them there,
so a raw socket for next header 41 receives every one (raw delivery comes
before the protocol handlers) with the inner packet as its payload. It writes
"mover,sequence,receive_ns" lines until "stop" on stdin.

`DataPlane` starts one sender and one sink per MAG and turns what they saw into
sent / received / lost / duplicates / reordered (per mover, arrival order
across all MAGs by receive time; one host, one clock).
"""

from __future__ import annotations

import json
import select
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from pmip6d.probe.analysis import ArrivalOrder

MAGIC = b"SCL1"
PAYLOAD = struct.Struct("!4sII")  # magic, mover number, sequence
IPV6_HEADER, UDP_HEADER = 40, 8
PORT = 9100
SCRIPT = Path(__file__).resolve()


def mover_address(prefix_of, n: int) -> str:
    return str(prefix_of(n).network_address + 0x10)


def _stop_requested() -> bool:
    return bool(select.select([sys.stdin], [], [], 0)[0]) and "stop" in sys.stdin.readline()


def send(movers: list[int], rate: float, addresses: list[str]) -> None:
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sent = dict.fromkeys(movers, 0)
    interval = 1.0 / rate
    start = time.monotonic()
    print("ready", flush=True)
    number = 0
    while True:
        if number % 64 == 0 and _stop_requested():
            break
        due = start + number * interval
        delay = due - time.monotonic()
        if delay > 0.0002:
            time.sleep(delay - 0.0001)
        index = number % len(movers)
        mover = movers[index]
        try:
            sock.sendto(PAYLOAD.pack(MAGIC, mover, sent[mover]), (addresses[index], PORT))
            sent[mover] += 1
        except OSError:
            pass  # not sent, not counted: the route was being replaced
        number += 1
    print(json.dumps(sent), flush=True)


def sink(out: Path) -> None:
    sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, 41)
    sock.setsockopt(socket.SOL_SOCKET, 33, 64 * 1024 * 1024)  # SO_RCVBUFFORCE
    print("ready", flush=True)
    with out.open("w") as log:
        while True:
            ready, _, _ = select.select([sock, sys.stdin], [], [], 1.0)
            if sys.stdin in ready and "stop" in sys.stdin.readline():
                break
            if sock not in ready:
                continue
            while True:
                try:
                    inner = sock.recv(4096, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    break
                at = time.time_ns()
                body = inner[IPV6_HEADER + UDP_HEADER :]
                if inner[6] != socket.IPPROTO_UDP or len(body) < PAYLOAD.size:
                    continue
                magic, mover, sequence = PAYLOAD.unpack_from(body)
                if magic == MAGIC:
                    log.write(f"{mover},{sequence},{at}\n")
    print("done", flush=True)


class DataPlane:
    """A sender in `cn`, a sink in every fake MAG namespace; `finish()` -> the figures."""

    def __init__(self, domain, mag_names: Iterable[str], movers: list[int], prefix_of, rate):
        self.domain = domain
        self.movers = movers
        self.sinks: dict[str, tuple[subprocess.Popen, Path]] = {}
        for name in mag_names:
            out = domain.workdir / f"sink-{name}.csv"
            self.sinks[name] = (self._spawn(name, "sink", "--out", str(out)), out)
        addresses = ",".join(mover_address(prefix_of, n) for n in movers)
        self.sender = self._spawn(
            "cn",
            "send",
            "--movers",
            ",".join(map(str, movers)),
            "--addresses",
            addresses,
            "--rate",
            f"{rate:g}",
        )

    def _spawn(self, node: str, *args: str) -> subprocess.Popen:
        process = self.domain.popen(
            node,
            sys.executable,
            str(SCRIPT),
            *args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError(f"scale traffic {args[0]} in {node} did not start")
        return process

    @staticmethod
    def _stop(process: subprocess.Popen) -> str:
        process.stdin.write("stop\n")
        process.stdin.flush()
        line = process.stdout.readline()
        process.wait(30)
        return line

    def finish(self, drain: float = 0.5) -> dict:
        sent = {int(k): v for k, v in json.loads(self._stop(self.sender)).items()}
        time.sleep(drain)  # the last datagrams cross the LMA
        arrivals: dict[int, list[tuple[int, int]]] = {n: [] for n in self.movers}
        per_mag: dict[str, int] = {}
        for name, (process, out) in self.sinks.items():
            self._stop(process)
            rows = [line.split(",") for line in out.read_text().splitlines()]
            per_mag[name] = len(rows)
            for mover, sequence, at in rows:
                arrivals.setdefault(int(mover), []).append((int(at), int(sequence)))
        return summarize(sent, arrivals) | {"received_per_mag": per_mag}


def summarize(sent: dict[int, int], arrivals: dict[int, list[tuple[int, int]]]) -> dict:
    received = duplicates = reordered = 0
    lost_per_mover: dict[int, int] = {}
    for mover, count in sent.items():
        order = ArrivalOrder()
        for _at, sequence in sorted(arrivals.get(mover, [])):
            order.first(sequence)
        duplicates += order.duplicates
        reordered += order.reordered
        delivered = len({s for s in order.seen if s < count})
        received += delivered
        if delivered < count:
            lost_per_mover[mover] = count - delivered
    total = sum(sent.values())
    return {
        "sent": total,
        "received": received,
        "lost": total - received,
        "duplicates": duplicates,
        "reordered": reordered,
        "movers_with_loss": len(lost_per_mover),
    }


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="bench/scale_traffic.py")
    sub = parser.add_subparsers(dest="role", required=True)
    sender = sub.add_parser("send")
    sender.add_argument("--movers", required=True)
    sender.add_argument("--addresses", required=True)
    sender.add_argument("--rate", type=float, required=True)
    receiver = sub.add_parser("sink")
    receiver.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.role == "send":
        send([int(n) for n in args.movers.split(",")], args.rate, args.addresses.split(","))
    else:
        sink(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
