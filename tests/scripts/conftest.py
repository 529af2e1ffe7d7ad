"""Error handling of scripts/lab and scripts/run-tests, against real
conditions: an unprivileged user (setpriv), a PATH without docker, a Docker
client pointed at a dead socket, real containerlab labs that are in the way
or fail to deploy. Needs root, Docker and containerlab; deploys small labs
of its own, so run it under the lab lock like tests/lab.

The scripts run in a copy of the checkout (tests/scripts/checkout.py), so a
test can show that a refused command changed nothing.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from .checkout import ROOT, copy_checkout


def pytest_collection_modifyitems(config, items):
    """These tests first: their deploys need a host without other labs, and
    tests/lab keeps its lab up until its last test, which it runs last."""
    mine = [i for i in items if Path(i.path).parent == Path(__file__).parent]
    items[:] = mine + [i for i in items if i not in mine]


@pytest.fixture(scope="session", autouse=True)
def _root():
    if os.geteuid() != 0:
        pytest.fail("tests/scripts need root (setpriv, Docker); run scripts/run-tests as root")


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> Path:
    return copy_checkout(tmp_path_factory.mktemp("checkout") / "pmipv6-lab")


@pytest.fixture(scope="session")
def base_image() -> str:
    """debian:bookworm-slim, made by scripts/build-images if missing."""
    name = "debian:bookworm-slim"
    if subprocess.run(["docker", "image", "inspect", name], capture_output=True).returncode:
        proc = subprocess.run(
            [str(ROOT / "scripts" / "build-images"), "--base-only"],
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return name
