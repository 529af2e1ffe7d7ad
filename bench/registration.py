"""Registration round trip in network namespaces: attach seen -> PBA received -> routes installed.

    python bench/registration.py [--count N] [--json]

Builds a one-MAG domain in namespaces (pmipv6_lab.testbed) with real pmip6d daemons and
re-registers the MN at MAG1 N times: MN link down, wait for the de-registration
PBA, MN link up plus a Router Solicitation, wait for the registration. The
testbed's persistent MN driver flips the link (netlink) and sends the RS, so
no process is started per iteration.

Timings per registration, all on the same host clock:
- attach:   MAG1 log `mn_attached` ts (the MAG has seen the MN, PBU goes out)
- pba:      MAG1 log `registered` ts (PBA accepted)
- access:   `ip -ts monitor route rule` in MAG1 shows the MN prefix route on
            the access link added (first netlink step of the forwarding setup)
- routes:   ... and the source-prefix rule toward the LMA added (the last step)

p50/p99/max/mean are over attach -> routes; the attach -> PBA leg is in "pba".
Needs root. Progress goes to stderr; one JSON object is the last line of stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from datetime import datetime
from pathlib import Path

from pmipv6_lab import cli
from pmipv6_lab.cli import progress
from pmipv6_lab.testbed import session
from pmipv6_lab.testbed.domain import NamespaceDomain

PROG = "bench/registration.py"
STEP_TIMEOUT = 10.0  # s, per wait inside one iteration


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = cli.parser(PROG, __doc__)
    parser.add_argument(
        "--count",
        type=cli.number(int, 1, 100_000, "count", echo_value=True),
        default=1000,
        help="registrations (1000)",
    )
    cli.add_json_flag(parser)
    return parser.parse_args(argv)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    rank = max(1, math.ceil(len(ordered) * fraction))
    return ordered[rank - 1]


def summary(values: list[float]) -> dict:
    return {
        "p50_ms": round(percentile(values, 0.50), 3),
        "p99_ms": round(percentile(values, 0.99), 3),
        "max_ms": round(max(values), 3),
        "mean_ms": round(statistics.fmean(values), 3),
        "min_ms": round(min(values), 3),
    }


class LogFollower:
    """New JSON lines of a daemon log, read incrementally."""

    def __init__(self, path: Path) -> None:
        self.file = path.open("r")
        self.file.seek(0, os.SEEK_END)
        self._partial = ""
        self._pending: deque[dict] = deque()

    def next_event(self) -> dict | None:
        """The next unread event, or None if the log has nothing new yet."""
        if not self._pending:
            chunk = self.file.read()
            if chunk:
                lines = (self._partial + chunk).split("\n")
                self._partial = lines.pop()
                for line in lines:
                    try:
                        self._pending.append(json.loads(line))
                    except json.JSONDecodeError:
                        continue
        return self._pending.popleft() if self._pending else None


class RuleMonitor:
    """`ip -ts monitor route rule` in a namespace; queue of (wall ts, line)."""

    def __init__(self, domain: NamespaceDomain, node: str) -> None:
        self.process = subprocess.Popen(
            ["ip", "-n", domain.ns(node), "-6", "-ts", "monitor", "route", "rule"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            bufsize=1,
        )
        self.lines: queue.Queue[tuple[float, str]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            # "[2026-11-30T03:43:16.123456] 1000:\tfrom 2001:db8:1:1::/64 lookup 1050"
            if not line.startswith("["):
                continue
            stamp, _, rest = line.partition("] ")
            try:
                ts = datetime.fromisoformat(stamp[1:]).timestamp()
            except ValueError:
                continue
            self.lines.put((ts, rest.strip()))

    def wait_added(self, needles: list[str], timeout: float) -> list[float]:
        """Timestamps of the first added route/rule matching each needle, in order."""
        found: list[float] = []
        deadline = time.monotonic() + timeout
        while len(found) < len(needles) and (left := deadline - time.monotonic()) > 0:
            try:
                ts, text = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if needles[len(found)] in text and not text.startswith("Deleted"):
                found.append(ts)
        if len(found) < len(needles):
            raise TimeoutError(f"no {needles[len(found)]!r} added within {timeout} s")
        return found

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(5)


def wait_event(follower: LogFollower, name: str, timeout: float, domain: NamespaceDomain) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        event = follower.next_event()
        if event is None:
            time.sleep(0.0005)
        elif event.get("event") == name:
            return event
    process = domain.daemons["mag1"].process
    if process is not None and process.poll() is not None:
        raise RuntimeError(f"mag1 exited with {process.returncode}")
    raise TimeoutError(f"no {name!r} in the mag1 log within {timeout} s")


def measure(domain: NamespaceDomain, count: int) -> dict:
    follower = LogFollower(domain.daemons["mag1"].log_path)
    monitor = RuleMonitor(domain, "mag1")
    prefix, access = domain.mobile_node().home_prefix, domain.plan.mag(1).access_interfaces[0]
    needles = [f"{prefix} dev {access}", f"from {prefix}"]
    pba, access, routes = [], [], []
    started = time.monotonic()
    try:
        time.sleep(0.3)  # let `ip monitor` subscribe
        for i in range(1, count + 1):
            domain.detach(1)
            wait_event(follower, "deregistered", STEP_TIMEOUT, domain)
            while not monitor.lines.empty():  # the teardown's "Deleted" lines
                monitor.lines.get_nowait()
            domain.attach(1)
            attached = wait_event(follower, "mn_attached", STEP_TIMEOUT, domain)["ts"]
            registered = wait_event(follower, "registered", STEP_TIMEOUT, domain)["ts"]
            access_route, installed = monitor.wait_added(needles, STEP_TIMEOUT)
            pba.append((registered - attached) * 1000)
            access.append((access_route - attached) * 1000)
            routes.append((installed - attached) * 1000)
            if i % 100 == 0 or i == count:
                progress(
                    f"{i}/{count} registrations, last {routes[-1]:.2f} ms "
                    f"({time.monotonic() - started:.1f} s)"
                )
    finally:
        monitor.close()
    return {
        "count": count,
        **summary(routes),
        "interval": "MAG mn_attached log ts -> source-prefix rule added (ip -ts monitor rule)",
        "pba": {
            "interval": "MAG mn_attached log ts -> registered log ts (PBA accepted)",
            **summary(pba),
        },
        "access_route": {
            "interval": "MAG mn_attached log ts -> MN prefix route on the access link added",
            **summary(access),
        },
        "wall_s": round(time.monotonic() - started, 1),
    }


def main(argv: list[str] | None = None) -> int:
    args = cli.command_line(PROG, parse_args, argv)
    if args is None:
        return 2
    with tempfile.TemporaryDirectory(prefix="pmip6-bench-reg-") as workdir:
        domain = NamespaceDomain(Path(workdir), mags=1, buffering=False)
        with session.domain_session(domain, ("lma", "mag1"), log_lines=15):
            progress(f"MN at {domain.mn_address()}; {args.count} registrations")
            result = measure(domain, args.count)
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
