"""A fake MAG: crafted PBUs from a raw Mobility Header socket, PBAs back as JSON.

Run inside a namespace that owns the MAG address (the real LMA only answers
what arrives on the wire, so this is how hostile or bulk PBUs reach it):

    ip netns exec NS python -m pmipv6_lab.testbed.fake_mag --address A --lma L

It prints {"ready": true} once its socket is bound, then reads one JSON
command per line on stdin and answers each with one JSON line on stdout:

    {"op": "send", "pbus": [SPEC, ...], "timeout": 3, "window": 64}

sends the PBUs (at most `window` unanswered at a time), waits until each has
its PBA or `timeout` seconds have passed since the last one was sent, and
answers {"results": [...], "unmatched": [...]}: per PBU, in order, the
sequence and raw timestamp sent, `sent_at` (wall clock), the decoded PBA (or
null) and `latency_ms` (PBU sendto -> PBA recv, this process's monotonic
clock). A SPEC is a dict; every key is optional:

    mn_id      NAI, or null to leave the MN Identifier option out
    prefixes   list of HNPs (default none; [] leaves the HNP option out)
    sequence   16-bit (default 1)      lifetime   seconds (default 300)
    handoff    HI value or null (4)    att        ATT value or null (3)
    link_layer hex string or null      proxy      P flag (true)
    timestamp  "now" (default), null (no option), or float seconds
    timestamp_raw  the 64-bit 48.16 value itself (to repeat an accepted one)

A PBA is matched to the unanswered PBU with the same MN identifier and
sequence number, else (a 135 carries the LMA's last accepted number instead)
to the oldest unanswered PBU with the same MN identifier.

`FakeMag` (below) starts one in a node of a `NamespaceDomain` and talks to it.
"""

from __future__ import annotations

import argparse
import json
import select
import socket
import subprocess
import sys
import time
from ipaddress import IPv6Address, IPv6Network

from pmip6d.wire import (
    AccessTechnologyType,
    BindingAcknowledgement,
    BindingUpdate,
    HandoffIndicator,
    HomeNetworkPrefix,
    MobileNodeIdentifier,
    MobileNodeLinkLayerIdentifier,
    ProtocolError,
    Status,
    Timestamp,
    decode,
    encode,
)
from pmipv6_lab.testbed.netns import end_of_input

IPPROTO_MH = 135
IPV6_CHECKSUM = 7
MH_CHECKSUM_OFFSET = 4
RCVBUF = 4 << 20  # capped by net.core.rmem_max


def build_pbu(spec: dict, now: float) -> BindingUpdate:
    options: list = []
    if spec.get("mn_id") is not None:
        options.append(MobileNodeIdentifier(spec["mn_id"]))
    options += [HomeNetworkPrefix(IPv6Network(p)) for p in spec.get("prefixes", [])]
    if spec.get("handoff", 4) is not None:
        options.append(HandoffIndicator(spec.get("handoff", 4)))
    if spec.get("att", 3) is not None:
        options.append(AccessTechnologyType(spec.get("att", 3)))
    if spec.get("link_layer") is not None:
        options.append(MobileNodeLinkLayerIdentifier(bytes.fromhex(spec["link_layer"])))
    if spec.get("timestamp_raw") is not None:
        options.append(Timestamp(spec["timestamp_raw"]))
    elif spec.get("timestamp", "now") == "now":
        options.append(Timestamp.from_seconds(now))
    elif spec.get("timestamp") is not None:
        options.append(Timestamp.from_seconds(float(spec["timestamp"])))
    return BindingUpdate(
        sequence=spec.get("sequence", 1),
        lifetime=spec.get("lifetime", 300),
        ack=True,
        home=True,
        proxy=spec.get("proxy", True),
        options=options,
    )


def pba_as_dict(pba: BindingAcknowledgement) -> dict:
    mn_id = pba.option(MobileNodeIdentifier)
    timestamp = pba.option(Timestamp)
    status = pba.status
    return {
        "status": int(status),
        "status_name": status.name if isinstance(status, Status) else f"UNKNOWN_{int(status)}",
        "sequence": pba.sequence,
        "lifetime": pba.lifetime,
        # A zero-length identifier (RFC 5213 5.3.6: the answer to a PBU without one)
        # names no MN, like an absent option.
        "mn_id": None if mn_id is None else mn_id.nai or None,
        "prefixes": [str(o.prefix) for o in pba.options_of(HomeNetworkPrefix)],
        "timestamp_raw": None if timestamp is None else timestamp.value,
        "options": [type(o).__name__ for o in pba.options],
    }


class Responder:
    """The process side: one raw MH socket bound to the MAG address."""

    def __init__(self, address: str, lma: str) -> None:
        self.lma = lma
        self.sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, IPPROTO_MH)
        self.sock.setsockopt(socket.IPPROTO_IPV6, IPV6_CHECKSUM, MH_CHECKSUM_OFFSET)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
        self.sock.bind((address, 0))
        self.sock.setblocking(False)

    def drain(self) -> list[dict]:
        """PBAs that arrived while nothing was outstanding (late answers)."""
        late = []
        while (received := self._receive()) is not None:
            late.append(received[1])
        return late

    def _receive(self) -> tuple[float, dict] | None:
        try:
            data, (source, *_rest) = self.sock.recvfrom(65535)
        except BlockingIOError:
            return None
        at = time.monotonic()
        if IPv6Address(source.split("%")[0]) != IPv6Address(self.lma):
            return at, {"ignored": "not from the LMA", "from": source}
        try:
            message = decode(data)
        except ProtocolError as exc:
            return at, {"ignored": str(exc)}
        if not isinstance(message, BindingAcknowledgement):
            return at, {"ignored": type(message).__name__}
        return at, pba_as_dict(message)

    def send(self, specs: list[dict], timeout: float, window: int) -> dict:
        late = self.drain()
        results: list[dict] = []
        sent_mono: list[float] = []
        pending: list[int] = []  # indices of unanswered PBUs, oldest first
        unmatched: list[dict] = [{"late": p} for p in late]
        next_index = 0
        last_sent = time.monotonic()
        while True:
            while next_index < len(specs) and len(pending) < window:
                spec = specs[next_index]
                now = time.time()
                pbu = build_pbu(spec, now)
                stamp = pbu.option(Timestamp)
                mono = time.monotonic()
                self.sock.sendto(encode(pbu), (self.lma, 0))
                last_sent = mono
                results.append(
                    {
                        "mn_id": spec.get("mn_id"),
                        "sequence": pbu.sequence,
                        "timestamp_raw": None if stamp is None else stamp.value,
                        "sent_at": now,
                        "pba": None,
                        "latency_ms": None,
                    }
                )
                sent_mono.append(mono)
                pending.append(next_index)
                next_index += 1
            if not pending and next_index >= len(specs):
                break
            left = last_sent + timeout - time.monotonic()
            if left <= 0:
                break
            readable, _, _ = select.select([self.sock], [], [], left)
            if not readable:
                continue
            while (received := self._receive()) is not None:
                at, pba = received
                index = self._match(pba, pending, results)
                if index is None:
                    unmatched.append(pba)
                    continue
                pending.remove(index)
                results[index]["pba"] = pba
                results[index]["latency_ms"] = round((at - sent_mono[index]) * 1000, 3)
        return {"results": results, "unmatched": unmatched}

    @staticmethod
    def _match(pba: dict, pending: list[int], results: list[dict]) -> int | None:
        if "ignored" in pba:
            return None
        same_mn = [i for i in pending if results[i]["mn_id"] == pba["mn_id"]]
        exact = [i for i in same_mn if results[i]["sequence"] == pba["sequence"]]
        return (exact or same_mn or [None])[0]


def serve(address: str, lma: str) -> None:
    responder = Responder(address, lma)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            command = json.loads(line)
            if command.get("op") != "send":
                raise ValueError(f"unknown op {command.get('op')!r}")
            reply = responder.send(
                command["pbus"],
                float(command.get("timeout", 3.0)),
                int(command.get("window", 64)),
            )
        except Exception as exc:  # noqa: BLE001 - report to the driver, keep serving
            reply = {"error": repr(exc)}
        print(json.dumps(reply), flush=True)


# --- the driver side ----------------------------------------------------------


class FakeMag:
    """A fake MAG process in `node` of `domain`, bound to `address`."""

    def __init__(self, domain, node: str, address: IPv6Address | str, lma: IPv6Address | str):
        self.node = node
        self.process = domain.popen(
            node,
            sys.executable,
            "-u",
            "-m",
            "pmipv6_lab.testbed.fake_mag",
            "--address",
            str(address),
            "--lma",
            str(lma),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        ready = self._read_line(timeout=15)
        if not ready.get("ready"):
            raise RuntimeError(f"fake MAG in {node} did not start: {ready}")

    def _read_line(self, timeout: float) -> dict:
        assert self.process.stdout is not None
        readable, _, _ = select.select([self.process.stdout], [], [], timeout)
        line = self.process.stdout.readline() if readable else ""
        if not line:
            self.process.kill()
            _, err = self.process.communicate(timeout=5)
            raise RuntimeError(f"fake MAG in {self.node} gave no answer: {err[-2000:]}")
        return json.loads(line)

    def request(self, pbus: list[dict], timeout: float = 3.0, window: int = 64) -> dict:
        """Send the PBUs; returns {"results": [...], "unmatched": [...]}."""
        assert self.process.stdin is not None
        command = {"op": "send", "pbus": pbus, "timeout": timeout, "window": window}
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        # The responder gives up `timeout` after its last send, and sends again only
        # when an answer frees the window: at worst `timeout` per PBU.
        reply = self._read_line(timeout=timeout * (len(pbus) + 1) + 30)
        if "error" in reply:
            raise RuntimeError(f"fake MAG in {self.node}: {reply['error']}")
        return reply

    def send(self, timeout: float = 3.0, **spec) -> dict | None:
        """One PBU; returns its PBA as a dict, or None if none came."""
        return self.request([spec], timeout=timeout)["results"][0]["pba"]

    def close(self) -> None:
        end_of_input(self.process)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--address", required=True, help="the MAG address to send from")
    parser.add_argument("--lma", required=True, help="the LMA address")
    args = parser.parse_args()
    serve(args.address, args.lma)


if __name__ == "__main__":
    main()
