"""16-bit sequence number arithmetic (RFC 6275 section 9.5.1)."""

SEQUENCE_SPACE = 1 << 16


def is_newer(sequence: int, last: int) -> bool:
    """True when `sequence` is "greater than" `last` modulo 2**16: ahead by less than half
    the number space, so a wrapped counter (65535 -> 0) still counts as newer."""
    distance = (sequence - last) % SEQUENCE_SPACE
    return 0 < distance < SEQUENCE_SPACE // 2


def next_sequence(sequence: int) -> int:
    return (sequence + 1) % SEQUENCE_SPACE
