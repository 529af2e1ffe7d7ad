"""Lab tier: testinfra against the running containerlab lab.

The session fixture deploys and configures the default lab with scripts/lab
and destroys it afterwards, so `pytest tests/lab` works on its own. Missing
Docker or containerlab is a FAILURE here, not a skip: this tier exists to
check the lab.

Environment:
  PMIPV6_LAB_REUSE=1   use a lab that is already deployed and configured
                       (no deploy/configure, no destroy)
  PMIPV6_LAB_KEEP=1    deploy and configure, but leave the lab running

test_destroy.py runs last (see pytest_collection_modifyitems): it destroys
the lab and checks that no container is left.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAB = ROOT / "scripts" / "lab"
LAB_NAME = "pmipv6"
NODES = ["cn", "lma", "mag1", "mag2", "mn"]


def container(node: str) -> str:
    return f"clab-{LAB_NAME}-{node}"


def _run(*args: str, timeout: float = 900) -> None:
    proc = subprocess.run(
        [str(LAB), *args], cwd=ROOT, text=True, capture_output=True, timeout=timeout
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-25:])
        pytest.fail(
            f"scripts/lab {' '.join(args)} failed (exit {proc.returncode}):\n{tail}", pytrace=False
        )


def lab_containers() -> list[str]:
    """Containers of the default lab, running or not (containerlab labels them)."""
    out = subprocess.run(
        [
            "docker",
            "ps",
            "-a",
            "--filter",
            f"label=containerlab={LAB_NAME}",
            "--format",
            "{{.Names}}",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.split()


def lab_is_kept() -> bool:
    return "1" in (os.environ.get("PMIPV6_LAB_REUSE"), os.environ.get("PMIPV6_LAB_KEEP"))


def pytest_collection_modifyitems(config, items):
    """The destroy test goes last: everything else needs the running lab."""
    last = [i for i in items if i.path.name == "test_destroy.py"]
    items[:] = [i for i in items if i.path.name != "test_destroy.py"] + last


def _require_tools() -> None:
    if shutil.which("docker") is None:
        pytest.fail(
            "docker is not installed: the lab tests need Docker Engine (apt-get install docker.io)",
            pytrace=False,
        )
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        pytest.fail(
            "the Docker daemon is not reachable (docker info fails); start it", pytrace=False
        )
    if shutil.which("containerlab") is None:
        pytest.fail("containerlab is not installed: run scripts/lab prereqs", pytrace=False)


@pytest.fixture(scope="session")
def lab():
    """A deployed and configured default lab for the whole session."""
    _require_tools()
    if os.environ.get("PMIPV6_LAB_REUSE") == "1":
        yield LAB_NAME
        return
    # Results of the lab tests' handover runs go to results/pytest-*/.
    # Always build: Docker's cache makes it quick, and images left from older
    # code would otherwise test yesterday's daemon.
    _run("build", timeout=1800)
    _run("deploy")
    try:
        _run("configure")
        yield LAB_NAME
    finally:
        # Idempotent: usually test_destroy.py has destroyed the lab already.
        if os.environ.get("PMIPV6_LAB_KEEP") != "1":
            _run("destroy")


@pytest.fixture(scope="session")
def hosts(lab):
    import testinfra

    return {n: testinfra.get_host(f"docker://{container(n)}") for n in NODES}
