"""docs/configuration.md lists every setting of pmip6d.config with the default the
code has: the dataclasses are the one place a default is written, the page must
agree with them key for key."""

from __future__ import annotations

import dataclasses
import re
import typing
from enum import Enum
from pathlib import Path

from pmip6d.config import LmaConfig, MagConfig, NodeConfig, ProtocolConstants

DOC = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
# The page's sections: heading -> the dataclass whose keys its table lists.
SECTIONS = {
    "## Node configuration": NodeConfig,
    "### `protocol`": ProtocolConstants,
    "### `lma`": LmaConfig,
    "### `mag`": MagConfig,
}
_ROW = re.compile(r"^\| `([a-z_.]+)` \| ([^|]+) \|")


def shown(value: object) -> str:
    """A default as the page writes it (YAML spelling)."""
    if value is None:
        return "`null`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float) and value.is_integer():
        return f"`{int(value)}`"
    if isinstance(value, Enum):
        return f"`{value.value}`"
    return f"`{value}`"


def expected_rows(cls: type, prefix: str = "") -> dict[str, str]:
    """key -> default for every field of `cls`; a nested section that has its own
    heading is "see below" (or "—" when it is optional), other nested ones expand."""
    hints = typing.get_type_hints(cls)
    rows: dict[str, str] = {}
    for spec in dataclasses.fields(cls):
        key = prefix + spec.name
        hint = hints[spec.name]
        if dataclasses.is_dataclass(hint) and hint in SECTIONS.values():
            rows[key] = "see below"
        elif typing.get_origin(hint) is not None and any(
            a in SECTIONS.values() for a in typing.get_args(hint)
        ):
            rows[key] = "—"
        elif dataclasses.is_dataclass(hint):
            rows.update(expected_rows(hint, f"{key}."))
        elif spec.default is not dataclasses.MISSING:
            rows[key] = shown(spec.default)
        elif spec.default_factory is not dataclasses.MISSING:
            rows[key] = shown(spec.default_factory())
        else:
            rows[key] = "required"
    return rows


def documented_rows() -> dict[str, dict[str, str]]:
    tables: dict[str, dict[str, str]] = {}
    section = None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            section = next((h for h in SECTIONS if line.startswith(h)), None)
            if section is not None:
                tables[section] = {}
        elif section is not None and (match := _ROW.match(line)):
            tables[section][match.group(1)] = match.group(2).strip()
    return tables


def test_every_section_of_the_page_is_found():
    assert set(documented_rows()) == set(SECTIONS)


def test_the_page_lists_every_key_with_the_default_of_the_code():
    documented = documented_rows()
    for heading, cls in SECTIONS.items():
        assert documented[heading] == expected_rows(cls), heading


def test_a_changed_default_would_be_noticed():
    """The comparison looks at values, not only keys."""
    changed = dataclasses.make_dataclass(
        "Changed", [("max_binding_lifetime", int, dataclasses.field(default=7200))]
    )
    assert expected_rows(changed) == {"max_binding_lifetime": "`7200`"}
    assert documented_rows()["### `lma`"]["max_binding_lifetime"] == "`3600`"
