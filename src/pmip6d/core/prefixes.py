"""How many home network prefixes one message may carry, and which.

The codec accepts HNP options without their alignment padding, so a hostile
PBU can carry far more of them than a PBA can echo once re-encoded with
padding (the wire limit is 2048 octets: found by bench/fuzz.py). Both roles
therefore echo or adopt distinct prefixes only, and at most this many; no
real MN has more.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv6Network

MAX_PREFIXES_PER_MESSAGE = 16


def distinct_prefixes(prefixes: Iterable[IPv6Network]) -> tuple[IPv6Network, ...]:
    """First occurrences, in order, at most MAX_PREFIXES_PER_MESSAGE."""
    return tuple(dict.fromkeys(prefixes))[:MAX_PREFIXES_PER_MESSAGE]
