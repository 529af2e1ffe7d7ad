"""Destroying the lab leaves no containers. Runs last (conftest.py orders it)."""

from __future__ import annotations

import subprocess

import pytest

from .conftest import LAB, ROOT, lab_containers, lab_is_kept


def test_destroy_leaves_no_containers(lab):
    if lab_is_kept():
        pytest.skip("PMIPV6_LAB_REUSE / PMIPV6_LAB_KEEP: the lab stays up")
    assert lab_containers(), "the lab should be running before the destroy"
    proc = subprocess.run(
        [str(LAB), "destroy"], cwd=ROOT, text=True, capture_output=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert lab_containers() == []
    assert "no containers left" in proc.stdout
