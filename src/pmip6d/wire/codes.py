"""Protocol code points: PBA status values and the PMIPv6 option value enums."""

from enum import IntEnum


class Status(IntEnum):
    """Binding Acknowledgement status (RFC 6275 section 6.1.8, RFC 5213 section 8.9)."""

    ACCEPTED = 0
    REASON_UNSPECIFIED = 128
    ADMINISTRATIVELY_PROHIBITED = 129
    INSUFFICIENT_RESOURCES = 130
    HOME_REGISTRATION_NOT_SUPPORTED = 131
    SEQUENCE_NUMBER_OUT_OF_WINDOW = 135
    MIPV6_ID_MISMATCH = 144
    MIPV6_MESG_ID_REQD = 145
    MIPV6_AUTH_FAIL = 146
    PROXY_REG_NOT_ENABLED = 152
    NOT_LMA_FOR_THIS_MOBILE_NODE = 153
    MAG_NOT_AUTHORIZED_FOR_PROXY_REG = 154
    NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX = 155
    TIMESTAMP_MISMATCH = 156
    TIMESTAMP_LOWER_THAN_PREV_ACCEPTED = 157
    MISSING_HOME_NETWORK_PREFIX_OPTION = 158
    BCE_PBU_PREFIX_SET_DO_NOT_MATCH = 159
    MISSING_MN_IDENTIFIER_OPTION = 160
    MISSING_HANDOFF_INDICATOR_OPTION = 161
    MISSING_ACCESS_TECH_TYPE_OPTION = 162


class BindingErrorStatus(IntEnum):
    """Binding Error status (RFC 6275 section 6.1.9). Decoding accepts any octet."""

    UNKNOWN_BINDING_FOR_HOME_ADDRESS_OPTION = 1
    UNRECOGNIZED_MH_TYPE = 2


class MnIdSubtype(IntEnum):
    """Mobile Node Identifier option subtypes (RFC 4283, RFC 8371). Decoding accepts any
    octet: an identifier of another subtype is carried as its octets."""

    NAI = 1
    IPV6_ADDRESS = 2
    IMSI = 3
    P_TMSI = 4
    EUI48 = 5
    EUI64 = 6
    GUTI = 7
    DUID = 8


class AuthSubtype(IntEnum):
    """Mobility Message Authentication option subtypes (RFC 4285 section 5)."""

    MN_HA = 1
    MN_AAA = 2


class Handoff(IntEnum):
    """Handoff Indicator values (RFC 5213 section 8.4). Decoding accepts any octet."""

    NEW_INTERFACE = 1
    DIFFERENT_INTERFACE = 2
    SAME_INTERFACE_DIFFERENT_MAG = 3
    UNKNOWN = 4
    NOT_CHANGED = 5


class AccessTechnology(IntEnum):
    """Access Technology Type values (RFC 5213 section 8.5). Decoding accepts any octet."""

    VIRTUAL = 1
    PPP = 2
    ETHERNET = 3
    WLAN = 4
    WIMAX = 5


def status_or_int(value: int) -> int:
    """A known status as its enum member, any other octet as a plain int."""
    return enum_or_int(Status, value)


def enum_or_int(enum: type[IntEnum], value: int) -> int:
    """`value` as a member of `enum` when it names one, else as a plain int."""
    try:
        return enum(value)
    except ValueError:
        return value
