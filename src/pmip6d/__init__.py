"""pmip6d: Proxy Mobile IPv6 (RFC 5213) with lossless handover buffering."""

__version__ = "0.1.0"
