import os
import sys

import pytest

# tests/ has no packages (a tests/io package would shadow the stdlib io), so
# make the shared namespace helpers importable by the test modules here.
sys.path.insert(0, os.path.dirname(__file__))

from netns_lab import Namespaces  # noqa: E402


@pytest.fixture
def namespaces():
    if os.geteuid() != 0:
        pytest.skip("needs root for network namespaces")
    created = Namespaces()
    try:
        yield created
    finally:
        created.destroy()
