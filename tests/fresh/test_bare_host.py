"""The bare-host path of the README: `scripts/lab prereqs host` on a Debian
12 system that has nothing but its minimal base, in a throwaway container
from the local debian:bookworm-slim (made by `scripts/build-images
--base-only` when missing), with a copy of this checkout (git's files).

What the container gets from this host, and why:
- the host's pip configuration: every PIP_* variable of this environment,
  and the files they name (e.g. PIP_CERT, the CA bundle) bind-mounted read
  only under /run/host-pip/ with the variable pointing there. Where TLS is
  intercepted (as on the build and CI machines) pip in a container reaches
  PyPI only if it trusts the same CA as the host's pip; the script itself
  runs unchanged and has no such knob.
- caches, so a second run is quicker: apt's package archive and lists and
  pip's cache, from $PMIPV6_CACHE/fresh (default /var/cache/pmipv6-lab),
  never from the repository. The base image's "delete the .debs after
  install" apt hook is removed in the container for that.
No Docker inside the container: the Docker/containerlab step (`prereqs
lab`) is separate and is what tests/lab exercises on the host.

Needs root and Docker; about 2 minutes from empty caches, less after.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.scripts.checkout import ROOT, copy_checkout

pytestmark = pytest.mark.fresh

BASE = "debian:bookworm-slim"
CACHE = Path(os.environ.get("PMIPV6_CACHE", "/var/cache/pmipv6-lab")) / "fresh"
IMPORTS = "import netfilterqueue, pyroute2, pmip6d"


@pytest.fixture(scope="module", autouse=True)
def _root_and_base():
    if os.geteuid() != 0:
        pytest.fail("tests/fresh needs root and Docker; run scripts/run-tests as root")
    if subprocess.run(["docker", "image", "inspect", BASE], capture_output=True).returncode:
        proc = subprocess.run(
            [str(ROOT / "scripts" / "build-images"), "--base-only"],
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr


def host_pip_config() -> tuple[list[str], list[str]]:
    """docker run arguments passing this host's PIP_* settings on."""
    env, mounts = [], []
    for i, (key, value) in enumerate(sorted(os.environ.items())):
        if not key.startswith("PIP_"):
            continue
        if value.startswith("/") and os.path.exists(value):
            inside = f"/run/host-pip/{i}/{os.path.basename(value)}"
            mounts += ["-v", f"{value}:{inside}:ro"]
            value = inside
        env += ["-e", f"{key}={value}"]
    return env, mounts


class Container:
    """A throwaway Debian 12 container with a copy of the checkout at /src."""

    def __init__(self, tmp: Path, *, caches: bool):
        self.name = f"pmipv6-fresh-{uuid.uuid4().hex[:8]}"
        self.src = copy_checkout(tmp / "src")
        env, mounts = host_pip_config()
        if caches:
            for sub, inside in [
                ("apt-archives", "/var/cache/apt/archives"),
                ("apt-lists", "/var/lib/apt/lists"),
                ("pip", "/root/.cache/pip"),
            ]:
                (CACHE / sub).mkdir(parents=True, exist_ok=True)
                mounts += ["-v", f"{CACHE / sub}:{inside}"]
        subprocess.run(
            [
                "docker",
                "run",
                "-d",
                "--name",
                self.name,
                "-v",
                f"{self.src}:/src",
                *env,
                *mounts,
                BASE,
                "sleep",
                "infinity",
            ],
            check=True,
            capture_output=True,
        )
        if caches:
            self.sh(
                "rm -f /etc/apt/apt.conf.d/docker-clean && echo "
                "'Binary::apt::APT::Keep-Downloaded-Packages \"true\";' "
                ">/etc/apt/apt.conf.d/keep-debs"
            )

    def sh(self, script: str, *, user: str | None = None, timeout: float = 120):
        who = ["-u", user] if user else []
        return subprocess.run(
            ["docker", "exec", *who, "-w", "/src", self.name, "bash", "-c", script],
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def state(self) -> str:
        """What a refused step must not change: installed packages, /src's files."""
        proc = self.sh(
            "dpkg-query -W -f='${Package} ${Status}\\n' | sha256sum; "
            "find /src -printf '%p %s %T@\\n' | sort | sha256sum"
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    def remove(self):
        subprocess.run(["docker", "rm", "-f", self.name], capture_output=True)
        # the venv and pip's files in the copy were made by the container's root
        subprocess.run(["rm", "-rf", str(self.src)], check=False)


@pytest.fixture(scope="module")
def bare(tmp_path_factory):
    c = Container(tmp_path_factory.mktemp("bare"), caches=True)
    yield c
    c.remove()


@pytest.fixture(scope="module")
def untouched(tmp_path_factory):
    c = Container(tmp_path_factory.mktemp("untouched"), caches=False)
    yield c
    c.remove()


def test_check_reports_and_installs_nothing(bare):
    before = bare.state()
    proc = bare.sh("scripts/lab prereqs host --check")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    missing = proc.stdout.split("missing packages: ")[1].split(" (install")[0].split()
    for pkg in [
        "python3",
        "python3-venv",
        "python3-dev",
        "gcc",
        "libnetfilter-queue-dev",
        "iproute2",
        "iptables",
        "tshark",
        "debootstrap",
    ]:
        assert pkg in missing, proc.stdout
    assert "apt-get install -y --no-install-recommends" in proc.stdout
    assert bare.state() == before


def test_host_step_leaves_the_daemon_importable(bare):
    proc = bare.sh("scripts/lab prereqs host", timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("apt-get update") == 1, proc.stdout
    proc = bare.sh(f".venv/bin/python -c '{IMPORTS}'")
    assert proc.returncode == 0, proc.stderr
    # what the tests use from the packages is on PATH now
    proc = bare.sh(
        "for c in gcc ip bridge ip6tables sysctl ps ping rdisc6 tcpdump tshark "
        "debootstrap xz curl; do PATH=$PATH:/usr/sbin command -v $c >/dev/null "
        "|| echo missing $c; done"
    )
    assert proc.stdout == "", proc.stdout


def test_second_run_changes_nothing_and_skips_apt(bare):
    before = bare.state()
    proc = bare.sh("scripts/lab prereqs host")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "apt-get" not in proc.stdout and "pip install" not in proc.stdout
    assert "all present" in proc.stdout and "current" in proc.stdout
    assert bare.sh("scripts/lab prereqs host --check").returncode == 0
    assert bare.state() == before


def test_without_apt_get_one_line_and_nothing_changed(untouched):
    assert untouched.sh("mv /usr/bin/apt-get /usr/bin/apt-get.hidden").returncode == 0
    try:
        before = untouched.state()
        proc = untouched.sh("scripts/lab prereqs host")
        assert proc.returncode == 1
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1, proc.stderr
        assert lines[0].startswith("lab: missing packages: python3 python3-venv python3-dev gcc")
        assert "this host has no apt-get" in lines[0]
        assert "apt-get install -y --no-install-recommends python3 " in lines[0]
        assert untouched.state() == before
        assert untouched.sh("test -e /src/.venv").returncode == 1
    finally:
        untouched.sh("mv /usr/bin/apt-get.hidden /usr/bin/apt-get")


def test_not_root_one_line_and_nothing_changed(untouched):
    before = untouched.state()
    proc = untouched.sh("scripts/lab prereqs host", user="nobody")
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("lab: missing packages: python3 ")
    assert "install them as root: apt-get install -y --no-install-recommends python3 " in lines[0]
    assert untouched.state() == before
