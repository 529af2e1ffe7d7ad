"""The tiers are complete and strict: every test of tests/io and tests/netns is in
the root tier, every test of tests/lab, tests/scripts and tests/fresh in the lab
tier, the unit tier has neither, and a root test without root fails instead of
skipping."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

import tests.conftest as tiers

REPO = Path(__file__).resolve().parent.parent


def collected(marker_expression: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", marker_expression],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return [line for line in done.stdout.splitlines() if "::" in line]


def test_each_test_is_in_the_tier_of_its_directory():
    unit, root, lab = (collected(m) for m in ("not root and not lab", "root", "lab"))
    assert unit and root and lab
    tiered = ("tests/io/", "tests/netns/", "tests/lab/", "tests/scripts/", "tests/fresh/")
    assert not [t for t in unit if t.startswith(tiered)]
    assert {t.split("/")[1] for t in lab} == {"lab", "scripts", "fresh"}
    outside = [t for t in root if not t.startswith(("tests/io/", "tests/netns/"))]
    # Elsewhere only what says so itself (a probe send in a namespace of its own).
    assert outside == [
        "tests/probe/test_probe_cli.py::test_send_without_a_usable_route_records_errors_and_finishes"
    ]
    assert not set(unit) & set(root) and not set(root) & set(lab)


def test_a_root_test_without_root_fails_and_does_not_skip(monkeypatch):
    monkeypatch.setattr(tiers.os, "geteuid", lambda: 1000)
    root_test = SimpleNamespace(
        get_closest_marker=lambda name: object() if name == "root" else None
    )
    with pytest.raises(pytest.fail.Exception, match="needs root"):
        tiers.pytest_runtest_setup(root_test)
    unit_test = SimpleNamespace(get_closest_marker=lambda name: None)
    tiers.pytest_runtest_setup(unit_test)  # no root needed, nothing happens
