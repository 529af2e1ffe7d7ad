"""Fuzz the Mobility Header codec and the LMA and MAG state machines.

    python bench/fuzz.py [--count N] [--seed S] [--json]

The fuzzer is pmipv6_lab/fuzz.py (its docstring says what is mutated and
counted); this is its command. Exit status 1 if there was any crash,
unsendable message or invariant violation; one JSON object is the last line
of stdout.
"""

from __future__ import annotations

import sys

# What tests/core/test_fuzz_smoke.py takes from this file, which it loads by path.
from pmipv6_lab.fuzz import LocalMobilityAnchor, main, reframe, run

__all__ = ["LocalMobilityAnchor", "main", "reframe", "run"]

if __name__ == "__main__":
    sys.exit(main())
