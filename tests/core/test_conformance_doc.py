"""docs/conformance.md points at tests: every one it names must exist, so the matrix
cannot drift from the suite unnoticed."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "conformance.md"


def test_every_test_the_matrix_names_exists():
    text = DOC.read_text()
    named = re.findall(r"`(tests/[\w/]+\.py)((?:::\w+)?)`", text)
    # "`::name`" continues the file named before it in the same cell.
    assert named
    current = None
    for match in re.finditer(r"`(tests/[\w/]+\.py)?(::\w+)?`", text):
        path, node = match.groups()
        if path:
            current = path
            assert (ROOT / path).is_file(), path
        if node:
            assert current is not None, node
            source = (ROOT / current).read_text()
            assert f"def {node[2:]}(" in source, f"{current}{node}"
