"""Fuzz the Mobility Header codec and the LMA and MAG state machines.

    python bench/fuzz.py [--count N] [--seed S] [--json]

The fuzzer is pmipv6_lab/fuzz.py (its docstring says what is mutated and
counted); this is its command. Exit status 1 if there was any crash,
unsendable message or invariant violation; one JSON object is the last line
of stdout.
"""

from __future__ import annotations

import sys

from pmipv6_lab.fuzz import main

if __name__ == "__main__":
    sys.exit(main())
