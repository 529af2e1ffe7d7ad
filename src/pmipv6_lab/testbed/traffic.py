"""A probe stream CN -> MN across a handover, in a namespace domain.

Shared by the buffering tests and bench/handover.py: the receiver runs in the
MN's namespace, the sender in the CN's, both as `pmip6-probe` processes;
`analyse` compares their logs.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from pmip6d.probe import Report, analyse, read_receive_log, read_send_log
from pmipv6_lab.testbed.domain import NamespaceDomain
from pmipv6_lab.testbed.netns import CommandFailed

PORT = 9000


def _probe(domain: NamespaceDomain, node: str, out: Path, *args: str) -> subprocess.Popen:
    return domain.popen(
        node,
        sys.executable,
        "-m",
        "pmip6d.cli.probe",
        *args,
        stdout=out.open("w"),
        stderr=subprocess.STDOUT,
    )


def _wait(process: subprocess.Popen, timeout: float, what: str, out: Path) -> None:
    try:
        code = process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)
        raise CommandFailed(f"{what} did not finish within {timeout:.0f} s") from None
    if code != 0:
        raise CommandFailed(f"{what} exited with {code}: {out.read_text().strip()[-500:]}")


def stream_across(
    domain: NamespaceDomain,
    workdir: Path,
    rate: float,
    duration: float,
    during: Callable[[], None],
    lead: float = 1.0,
) -> Report:
    """Send `rate` packets/s to the MN for `duration` s; call `during` after `lead` s."""
    workdir.mkdir(parents=True, exist_ok=True)
    address = domain.mn_address()
    if address is None:
        raise CommandFailed("the MN has no address from its home prefix")
    run_id = str(secrets.randbelow(2**32))
    send_log, recv_log = workdir / "send.csv", workdir / "recv.csv"
    send_out, recv_out = workdir / "send.out", workdir / "recv.out"
    mn = domain.mobile_node().name
    receiver = _probe(
        domain, mn, recv_out, "recv", "--bind", str(address), "--port", str(PORT),
        "--out", str(recv_log), "--duration", f"{duration + 2:.3f}", "--run-id", run_id,
    )  # fmt: skip
    time.sleep(0.5)  # the receiver is bound
    sender = _probe(
        domain, "cn", send_out, "send", "--dst", str(address), "--port", str(PORT),
        "--rate", f"{rate:g}", "--duration", f"{duration:.3f}", "--run-id", run_id,
        "--log", str(send_log),
    )  # fmt: skip
    try:
        time.sleep(lead)
        during()
    finally:
        _wait(sender, duration + 15, "the probe sender", send_out)
        _wait(receiver, duration + 15, "the probe receiver", recv_out)
    return analyse(read_send_log(send_log), read_receive_log(recv_log))


def handover_under_traffic(
    domain: NamespaceDomain,
    workdir: Path,
    rate: float,
    gap: float,
    lead: float = 1.0,
    tail: float = 2.0,
    announced: bool = False,
) -> Report:
    """The MN moves from MAG1 to MAG2 with a link gap of `gap` s while the CN streams
    to it; `announced`: MAG1 is told of the detach before the link goes."""
    return stream_across(
        domain,
        workdir,
        rate,
        lead + gap + tail,
        lambda: domain.handover(1, 2, gap, announced),
        lead=lead,
    )


def link_gap(domain: NamespaceDomain) -> float | None:
    """The handover's real link gap (s), from the daemons' logs: from the moment MAG1
    stopped delivering to the MN (its carrier loss, or, after an announced detach,
    the removal of its access route, which comes first) to MAG2's carrier."""
    stops = [
        e["ts"]
        for e in domain.log_events("mag1")
        if (e["event"] == "carrier" and not e["up"]) or e["event"] == "access_route_removed"
    ]
    up = [e["ts"] for e in domain.log_events("mag2") if e["event"] == "carrier" and e["up"]]
    if not stops or not up:
        return None
    # The last handover's two events are milliseconds apart; earlier ones are seconds away.
    return up[-1] - min(ts for ts in stops if ts > stops[-1] - 1.0)
