"""Handover interruption: a UDP stream CN -> MN across a MAG1 -> MAG2 handover.

    python bench/handover.py --mode standard|buffered --rate PPS --gap-ms MS [--json]

Builds a two-MAG domain (tests/netns/harness.py) with real pmip6d daemons,
buffering on at the LMA iff --mode buffered. A probe receiver runs in the MN
namespace and a probe sender in the CN namespace (pmip6d.cli.probe). The stream
starts 1 s before the handover and lasts gap + 2 s after it. The handover is
MN link to MAG1 down, `gap` without a link, link to MAG2 up and a Router
Solicitation (sent by a persistent helper in the MN namespace, so no python
start-up delay is added to the interruption).

buffer_peak / released / dropped come from the LMA's `pmip6ctl status` "buffers"
key; while the daemon does not expose one they are null and "note" says so.
Needs root. Progress goes to stderr; one JSON object is the last line of stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NoReturn

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from registration import MnHelper, start_domain  # noqa: E402

from pmip6d.probe import analyse, read_receive_log, read_send_log  # noqa: E402
from tests.netns.harness import Domain, mn_identifier  # noqa: E402

PROG = "bench/handover.py"
PORT = 9000
LEAD_S = 1.0  # stream before the handover
TAIL_S = 2.0  # stream after the gap


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _number(kind, what: str, low: float, high: float):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a number, got {text!r}") from None
        if not (math.isfinite(value) and low <= value <= high):
            raise argparse.ArgumentTypeError(f"{what} must be {low}..{high}, got {text}")
        return value

    return parse


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = _Parser(prog=PROG, description=__doc__.split("\n", 1)[0])
    parser.add_argument("--mode", required=True, choices=["standard", "buffered"])
    parser.add_argument(
        "--rate", required=True, type=_number(float, "rate", 1, 100_000), help="datagrams/s"
    )
    parser.add_argument(
        "--gap-ms", required=True, type=_number(float, "gap-ms", 0, 10_000), help="link-less ms"
    )
    parser.add_argument("--json", action="store_true", help="accepted; JSON is always printed")
    return parser.parse_args(argv)


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def probe(domain: Domain, node: str, *args: str, out: Path) -> subprocess.Popen:
    return domain.popen(
        node,
        sys.executable,
        "-m",
        "pmip6d.cli.probe",
        *args,
        stdout=out.open("w"),
        stderr=subprocess.STDOUT,
    )


def wait_exit(process: subprocess.Popen, timeout: float, what: str, log: Path) -> None:
    try:
        code = process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)
        raise RuntimeError(f"{what} did not finish within {timeout} s") from None
    if code != 0:
        raise RuntimeError(f"{what} exited with {code}: {log.read_text().strip()[-500:]}")


def buffer_stats(status: dict, mn_id: str) -> tuple[dict, str | None]:
    """The MN's buffer figures from the LMA: its open buffer, else its last closed one."""
    buffers = status.get("buffers") or {}
    stats = (buffers.get("mns") or {}).get(mn_id) or (buffers.get("last_closed") or {}).get(mn_id)
    if stats is None:
        empty = {"buffer_peak": None, "released": None, "dropped": None}
        return empty, "the LMA opened no buffer for the MN in this run"
    return (
        {
            "buffer_peak": stats["peak"],
            "released": stats["released"],
            "dropped": stats["dropped_total"],
        },
        None,
    )


def run(domain: Domain, workdir: Path, mode: str, rate: float, gap: float) -> dict:
    helper = MnHelper(domain)
    run_id = secrets.randbelow(2**32)
    duration = LEAD_S + gap + TAIL_S
    send_log, recv_log = workdir / "send.csv", workdir / "recv.csv"
    send_out, recv_out = workdir / "send.out", workdir / "recv.out"
    try:
        start_domain(domain, helper)
        address = domain.mn_address()
        receiver = probe(
            domain,
            "mn",
            "recv",
            "--bind",
            str(address),
            "--port",
            str(PORT),
            "--out",
            str(recv_log),
            "--duration",
            f"{duration + 2.0:.3f}",
            "--run-id",
            str(run_id),
            out=recv_out,
        )
        time.sleep(0.5)  # receiver bound
        progress(f"{mode}: {rate:g} pps to {address} for {duration:.2f} s, gap {gap * 1000:g} ms")
        sender = probe(
            domain,
            "cn",
            "send",
            "--dst",
            str(address),
            "--port",
            str(PORT),
            "--rate",
            f"{rate:g}",
            "--duration",
            f"{duration:.3f}",
            "--run-id",
            str(run_id),
            "--log",
            str(send_log),
            out=send_out,
        )
        time.sleep(LEAD_S)
        helper.do("down eth1")
        time.sleep(gap)
        helper.do("up eth2")
        helper.do("rs")
        progress("handover done; draining the stream")
        wait_exit(sender, duration + 10, "sender", send_out)
        wait_exit(receiver, duration + 10, "receiver", recv_out)
    finally:
        helper.close()
    report = analyse(read_send_log(send_log), read_receive_log(recv_log))
    stats, note = buffer_stats(domain.ctl("lma", "status"), mn_identifier(1))
    result = {
        "mode": mode,
        "rate_pps": rate,
        "gap_ms": gap * 1000,
        "sent": report.sent,
        "received": report.received,
        "lost": report.lost,
        "duplicates": report.duplicates,
        "reordered": report.reordered,
        "interruption_ms": report.longest_interruption_ms,
        **stats,
    }
    if note:
        result["note"] = note
    return result


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(argv)
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print(f"{PROG}: error: needs root (network namespaces)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="pmip6-bench-ho-") as tmp:
        workdir = Path(tmp)
        domain = Domain(workdir / "domain", mags=2, buffering=args.mode == "buffered")
        try:
            progress(f"building namespaces {domain.ns('*')}")
            domain.build()
            domain.write_configs()
            result = run(domain, workdir, args.mode, args.rate, args.gap_ms / 1000)
        except Exception:
            for node in ("lma", "mag1", "mag2"):
                daemon = domain.daemons.get(node)
                if daemon is not None and daemon.log_path.exists():
                    tail = daemon.log_path.read_text().splitlines()[-10:]
                    progress(f"--- {node} log tail\n" + "\n".join(tail))
            raise
        finally:
            domain.destroy()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
