"""Bad input to the set-up scripts: one line on stderr, nothing half-built.

Each case is the real condition, not a fake: an unprivileged user, a PATH
without docker, a Docker client whose daemon does not answer, a second
containerlab lab that is really running, a topology whose image really is
absent, a deploy that really fails after some nodes started.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from .checkout import snapshot

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]


def run(checkout: Path, *args: str, env=None, prefix=(), timeout=300):
    return subprocess.run(
        [*prefix, *args],
        cwd=checkout,
        env={**os.environ, **(env or {})},
        text=True,
        capture_output=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def one_error_line(proc, *, rc=None) -> str:
    assert proc.returncode != 0, proc.stdout + proc.stderr
    if rc is not None:
        assert proc.returncode == rc, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, f"want one error line, got:\n{proc.stderr}"
    assert "Traceback" not in proc.stdout + proc.stderr
    return lines[0]


def lab_containers(name: str) -> list[str]:
    out = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=containerlab={name}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.split()


def clab(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["containerlab", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "CLAB_VERSION_CHECK": "disable"},
    )


def topology(path: Path, name: str, nodes: dict[str, dict]) -> Path:
    """A small containerlab topology of linux nodes linked in a chain."""
    lines = [
        f"name: {name}",
        "topology:",
        "  defaults:",
        "    kind: linux",
        "    image-pull-policy: never",
        "    privileged: false",
        "  nodes:",
    ]
    for node, spec in nodes.items():
        lines.append(f"    {node}:")
        lines.append(f"      image: {spec.get('image', 'debian:bookworm-slim')}")
        lines.append("      cmd: sleep infinity")
        for key, value in spec.get("sysctls", {}).items():
            lines += ["      sysctls:", f"        {key}: {value}"]
    names = list(nodes)
    if len(names) > 1:
        lines.append("  links:")
        for a, b in zip(names, names[1:], strict=False):
            lines.append(f'    - endpoints: ["{a}:eth1", "{b}:eth2"]')
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["frobnicate"], "unknown command 'frobnicate'"),
        (["--frob", "up"], "unknown option '--frob'"),
        (["up", "--frob"], "up: unknown argument '--frob'"),
        (["prereqs", "everything"], "prereqs: unknown argument 'everything'"),
        (["destroy", "now"], "destroy takes no arguments"),
        ([], "no command given"),
    ],
)
def test_unknown_command_or_option(checkout, args, words):
    before = snapshot(checkout)
    line = one_error_line(run(checkout, "scripts/lab", *args), rc=2)
    assert words in line and "--help" in line
    assert snapshot(checkout) == before


@pytest.mark.parametrize(
    "command",
    [
        ["scripts/lab", "up"],
        ["scripts/lab", "prereqs"],
        ["scripts/lab", "destroy"],
        ["scripts/run-tests"],
    ],
)
def test_not_root(checkout, command):
    before = snapshot(checkout)
    line = one_error_line(run(checkout, *command, prefix=NOBODY))
    assert "run as root" in line and "sudo" in line
    assert snapshot(checkout) == before


def test_prereqs_check_needs_no_root(checkout):
    """--check reports as any user and changes nothing."""
    before = snapshot(checkout)
    proc = run(checkout, "scripts/lab", "prereqs", "--check", prefix=NOBODY)
    assert "prereqs host: packages" in proc.stdout, proc.stdout + proc.stderr
    # A copy has no .venv, so something is missing, and it says so.
    assert proc.returncode == 1 and ".venv is missing" in proc.stdout
    assert snapshot(checkout) == before


@pytest.fixture
def path_without_docker(tmp_path) -> str:
    """A PATH with every command of this one except docker (symlinks)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for d in os.environ["PATH"].split(os.pathsep):
        if not os.path.isdir(d):
            continue
        for name in os.listdir(d):
            target = os.path.join(d, name)
            if name == "docker" or (bindir / name).exists() or not os.access(target, os.X_OK):
                continue
            (bindir / name).symlink_to(target)
    assert shutil.which("docker", path=str(bindir)) is None
    return str(bindir)


@pytest.mark.parametrize(
    "command", [["scripts/lab", "up"], ["scripts/run-tests"], ["scripts/lab", "build"]]
)
def test_no_docker(checkout, path_without_docker, command):
    before = snapshot(checkout)
    line = one_error_line(run(checkout, *command, env={"PATH": path_without_docker}))
    assert "docker is not installed" in line and "Docker Engine" in line
    assert snapshot(checkout) == before


@pytest.mark.parametrize(
    "command",
    [
        ["scripts/lab", "up"],
        ["scripts/run-tests"],
        ["scripts/lab", "build"],
        ["scripts/lab", "deploy"],
    ],
)
def test_docker_not_answering(checkout, tmp_path, command):
    dead = tmp_path / "dead.sock"  # no daemon listens here
    before = snapshot(checkout)
    line = one_error_line(run(checkout, *command, env={"DOCKER_HOST": f"unix://{dead}"}))
    assert "Docker daemon is not answering" in line and "start it" in line
    assert snapshot(checkout) == before


def test_image_missing(checkout, tmp_path, base_image):
    topo = topology(
        tmp_path / "missing.clab.yml",
        "pmipv6-test-missing",
        {"a": {}, "b": {"image": "pmipv6-lab/absent:test"}},
    )
    line = one_error_line(run(checkout, "scripts/lab", "--topo", str(topo), "deploy"))
    assert line == "lab: image pmipv6-lab/absent:test is missing; run: scripts/lab build"
    assert lab_containers("pmipv6-test-missing") == []


def test_other_lab_running(checkout, tmp_path, base_image):
    """A lab of another topology is up: `up` names it and how to remove it,
    and changes nothing (no venv, no deploy of ours)."""
    other = topology(tmp_path / "other.clab.yml", "pmipv6-test-other", {"x": {}})
    proc = clab("deploy", "-t", str(other))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    try:
        assert lab_containers("pmipv6-test-other")
        before = snapshot(checkout)
        line = one_error_line(run(checkout, "scripts/lab", "up"))
        assert "another containerlab lab is running: pmipv6-test-other" in line
        assert f"containerlab destroy -t {other} --cleanup" in line
        assert snapshot(checkout) == before
        mine = topology(tmp_path / "mine.clab.yml", "pmipv6-test-mine", {"a": {}})
        line = one_error_line(run(checkout, "scripts/lab", "--topo", str(mine), "deploy"))
        assert "pmipv6-test-other" in line
        assert lab_containers("pmipv6-test-mine") == []
    finally:
        clab("destroy", "-t", str(other), "--cleanup")
    assert lab_containers("pmipv6-test-other") == []


def test_deploy_failing_halfway_leaves_nothing(checkout, tmp_path, base_image):
    """Node b cannot start (a sysctl its kernel does not have) after node a
    did: the lab is removed, the error is one line, and a second deploy of a
    good topology under the same name works (what `scripts/lab up` reruns)."""
    name = "pmipv6-test-halfway"
    bad = topology(
        tmp_path / "halfway.clab.yml",
        name,
        {"a": {}, "b": {"sysctls": {"net.ipv6.conf.all.no_such_setting": 1}}},
    )
    proc = run(checkout, "scripts/lab", "--topo", str(bad), "deploy", env={"TMPDIR": str(tmp_path)})
    line = one_error_line(proc)
    assert line.startswith("lab: containerlab deploy failed: ")
    assert f"the partly deployed lab {name} was removed (0 containers left)" in line
    assert lab_containers(name) == []
    log = (tmp_path / "pmipv6-deploy.log").read_text()
    # it failed where it was meant to, after node a had been created
    assert 'node "b" deploy: ' in line and "no_such_setting" in line
    assert log.index("Creating container name=a") < log.index("no_such_setting")
    good = topology(tmp_path / "halfway.clab.yml", name, {"a": {}, "b": {}})
    try:
        proc = run(
            checkout, "scripts/lab", "--topo", str(good), "deploy", env={"TMPDIR": str(tmp_path)}
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert len(lab_containers(name)) == 2
    finally:
        clab("destroy", "-t", str(good), "--cleanup")
    assert lab_containers(name) == []
