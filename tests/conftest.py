"""The test tiers (README, docs/architecture.md):

    unit   .venv/bin/python -m pytest -m "not root and not lab"   no root, no Docker
    root   sudo .venv/bin/python -m pytest -m root                 network namespaces, netfilter
    lab    sudo .venv/bin/python -m pytest -m lab                  root, Docker, containerlab

Every test under tests/io and tests/netns is marked `root`, every test under
tests/lab, tests/scripts (scripts/lab's errors, with labs of their own) and
tests/fresh (the bare-host set-up in a container) `lab`, here, by directory, so
no module can forget it; a test elsewhere that needs root says so with
`@pytest.mark.root`. A root test run without root fails, it does not skip: a
skipped tier would pass for a checked one.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
TIER_OF_DIRECTORY = {"io": "root", "netns": "root", "lab": "lab", "scripts": "lab", "fresh": "lab"}


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(config, items):
    for item in items:
        tier = TIER_OF_DIRECTORY.get(tier_directory(Path(item.path)))
        if tier is not None:
            item.add_marker(tier)


def tier_directory(path: Path) -> str | None:
    try:
        return path.resolve().relative_to(TESTS).parts[0]
    except ValueError:
        return None


def pytest_runtest_setup(item):
    if item.get_closest_marker("root") is not None and os.geteuid() != 0:
        pytest.fail(
            "this test needs root (network namespaces, netfilter): run it as root, or run "
            'the unit tier alone: .venv/bin/python -m pytest -m "not root and not lab"',
            pytrace=False,
        )
