"""A copy of this checkout (its git files) for tests that run the set-up
scripts somewhere they may change things: the copy shows what they left."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def git_files() -> list[str]:
    """Tracked files plus new ones not ignored, so uncommitted work is tested too."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    return [f for f in out.decode().split("\0") if f and (ROOT / f).exists()]


def copy_checkout(dest: Path) -> Path:
    """Copy the checkout's files to dest (modes kept, world-readable dirs)."""
    dest.mkdir(parents=True, exist_ok=True)
    data = "\0".join(git_files()).encode()
    tar = subprocess.Popen(
        ["tar", "-C", str(ROOT), "--null", "-T", "-", "-cf", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    untar = subprocess.Popen(["tar", "-C", str(dest), "-xf", "-"], stdin=tar.stdout)
    tar.stdout.close()
    tar.communicate(data)
    assert untar.wait() == 0 and tar.returncode == 0, "copying the checkout failed"
    os.chmod(dest, 0o755)
    return dest


def snapshot(tree: Path) -> dict[str, tuple[int, int]]:
    """Every path under tree with its size and mtime: what a script changed."""
    result = {}
    for dirpath, dirnames, filenames in os.walk(tree):
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            st = p.lstat()
            result[str(p.relative_to(tree))] = (st.st_size, st.st_mtime_ns)
    return result
