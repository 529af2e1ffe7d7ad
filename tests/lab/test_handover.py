"""Handover runs in the lab: playbooks/handover.yml, once buffered, once standard.

Each run streams CN -> MN at a modest rate while the MN makes one
break-before-make handover (the old MAG is told of the detach, the access
link goes down, 300 ms, the other link up), then reads
results/<run>/report.json. Buffered (LMA buffering and MAG hold on) must
lose, reorder and duplicate nothing; standard must lose packets in the gap
(otherwise the test would not show anything). Two handovers bring the MN
back to mag1, where test_attach.py expects it.
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from .conftest import ROOT

RATE = 500  # datagrams/s
GAP_MS = 300
MODES = ["buffered", "standard"]


def _run_handover(mode: str, run: str) -> dict:
    args = [
        str(ROOT / "scripts" / "lab"),
        "handover",
        "-e", f"handover_mode={mode}",
        "-e", f"handover_run={run}",
        "-e", f"handover_rate={RATE}",
        "-e", f"handover_gap_ms={GAP_MS}",
        "-e", "handover_count=1",
        "-e", "handover_interval_s=1",
    ]  # fmt: skip
    proc = subprocess.run(args, cwd=ROOT, text=True, capture_output=True, timeout=300)
    path = ROOT / "results" / run / "report.json"
    return {
        "rc": proc.returncode,
        "tail": "\n".join((proc.stdout + proc.stderr).splitlines()[-30:]),
        "dir": path.parent,
        "report": json.loads(path.read_text()) if path.exists() else None,
    }


@pytest.fixture(scope="module")
def runs(lab):
    """Both runs, buffered first; a failed run still leaves its report."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    return {mode: _run_handover(mode, f"pytest-{stamp}-{mode}") for mode in MODES}


def _report(run: dict) -> dict:
    assert run["report"] is not None, f"no report.json; playbook output:\n{run['tail']}"
    return run["report"]


@pytest.mark.parametrize("mode", MODES)
def test_run_report(runs, mode):
    """The playbook wrote the report, the timeline CSV and the plot."""
    report = _report(runs[mode])
    assert report["mode"] == mode
    assert report["settings"]["gap_ms"] == GAP_MS
    assert report["settings"]["detach"] == "announced"  # the playbook's default
    assert report["summary"]["sent"] > 0
    assert len(report["handovers"]) == 1
    assert {"lma", "mag1", "mag2"} <= set(report["daemons"])
    for node, st in report["daemons"].items():
        assert st["after"] is not None, f"no pmip6ctl status from {node}"
        assert st["after"]["buffering"] is (mode == "buffered"), node
    assert "buffers" in report  # null until the daemon reports buffer stats
    png = (runs[mode]["dir"] / "timeline.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert (runs[mode]["dir"] / "timeline.csv").exists()


def test_buffered_handover_loses_nothing(runs):
    run = runs["buffered"]
    report = _report(run)
    s = report["summary"]
    assert (s["lost"], s["reordered"], s["duplicates"]) == (0, 0, 0), (
        f"buffered handover: {s}\n{run['dir']}/timeline.png"
    )
    assert s["received"] == s["sent"]
    assert run["rc"] == 0, f"handover.yml failed:\n{run['tail']}"
    # The old MAG was told of the detach before its link went.
    assert report["handovers"][0]["announced"] <= report["handovers"][0]["down"]


def test_standard_handover_loses_some(runs):
    run = runs["standard"]
    s = _report(run)["summary"]
    assert run["rc"] == 0, f"handover.yml failed:\n{run['tail']}"
    # 300 ms without a path at 500/s: on the order of 150 datagrams.
    assert s["lost"] >= RATE * GAP_MS / 1000 / 3, s
    assert s["received"] > 0


def test_handover_counters(runs):
    """Each run is one de-registration and one re-attachment at the LMA."""
    for mode in MODES:
        deltas = _report(runs[mode])["counter_deltas"]["lma"]
        assert deltas.get("de_registration", 0) >= 1, (mode, deltas)
        assert deltas.get("accepted", 0) >= 2, (mode, deltas)
