"""Which MN a packet belongs to, by the home prefix its destination falls in."""

from __future__ import annotations

from ipaddress import IPv6Network


class PrefixOwners:
    """Which MN a destination address belongs to, by its home prefix.

    Looked up once per queued packet, so it compares raw address octets
    (the usual /64 is one dict lookup on the first eight) instead of building
    IPv6Address objects: ipaddress would be most of the per-packet cost.
    """

    def __init__(self) -> None:
        self._by_length: dict[int, dict[int, tuple[IPv6Network, str]]] = {}

    def add(self, prefix: IPv6Network, mn_id: str) -> None:
        key = int(prefix.network_address) >> (128 - prefix.prefixlen)
        self._by_length.setdefault(prefix.prefixlen, {})[key] = (prefix, mn_id)

    def of(self, address: bytes) -> str | None:
        if len(address) != 16:
            return None
        value = int.from_bytes(address, "big")
        for length, owners in self._by_length.items():
            found = owners.get(value >> (128 - length))
            if found is not None:
                return found[1]
        return None

    def remove_mn(self, mn_id: str) -> list[IPv6Network]:
        removed = []
        for owners in self._by_length.values():
            for key, (prefix, owner) in list(owners.items()):
                if owner == mn_id:
                    del owners[key]
                    removed.append(prefix)
        return removed

    def prefixes(self) -> list[IPv6Network]:
        return [prefix for owners in self._by_length.values() for prefix, _ in owners.values()]
