"""Running a namespace domain for a benchmark: build it, start it, show the daemons'
log tails when something fails, always tear it down; and the figures a run
reports (a probe report's loss, a process's memory)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pmipv6_lab.cli import progress
from pmipv6_lab.testbed.domain import NamespaceDomain


def process_memory(pid: int) -> dict[str, int]:
    """VmHWM and VmRSS (KiB) from /proc/<pid>/status, in the file's order."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields


def print_log_tails(domain: NamespaceDomain, nodes: Iterable[str], lines: int = 10) -> None:
    """The last lines of each node's daemon log, to stderr (after a failed run)."""
    for node in nodes:
        daemon = domain.daemons.get(node)
        if daemon is not None and daemon.log_path.exists():
            tail = daemon.log_path.read_text().splitlines()[-lines:]
            progress(f"--- {node} log tail\n" + "\n".join(tail))


@contextlib.contextmanager
def domain_session(
    domain: NamespaceDomain,
    log_nodes: Iterable[str] = ("lma", "mag1", "mag2"),
    *,
    start: bool = True,
    log_lines: int = 10,
) -> Iterator[Any]:
    """Build `domain` and, with `start`, start every daemon
    and wait for the MN's address. A failure inside prints the daemons' log tails;
    the namespaces always go."""
    try:
        progress(f"building namespaces {domain.ns('*')}")
        domain.build()
        domain.write_configs()
        if start:
            domain.start_all()
            domain.wait_for(domain.mn_address, "the MN's address", timeout=20)
        yield domain
    except Exception:
        print_log_tails(domain, log_nodes, log_lines)
        raise
    finally:
        domain.destroy()


def report_fields(report: Any) -> dict:
    """A probe Report's loss figures (the first 20 lost ranges)."""
    return {
        "sent": report.sent,
        "received": report.received,
        "lost": report.lost,
        "lost_ranges": report.lost_ranges[:20],
        "duplicates": report.duplicates,
        "reordered": report.reordered,
        "longest_interruption_ms": report.longest_interruption_ms,
    }
