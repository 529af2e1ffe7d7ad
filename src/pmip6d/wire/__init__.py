"""RFC 5213 / RFC 6275 Mobility Header codec: bytes <-> message objects, no I/O."""

from .checksum import MH_PROTO, pseudo_header_checksum
from .codec import IPPROTO_NONE, decode, encode
from .codes import AccessTechnology, Handoff, Status
from .errors import ProtocolError
from .messages import (
    LIFETIME_UNIT,
    MAX_LIFETIME,
    MESSAGE_CLASSES,
    BindingAcknowledgement,
    BindingUpdate,
    Heartbeat,
    MobilityMessage,
)
from .options import (
    OPTION_CLASSES,
    AccessTechnologyType,
    HandoffIndicator,
    HomeNetworkPrefix,
    LinkLocalAddress,
    MobileNodeIdentifier,
    MobileNodeLinkLayerIdentifier,
    Option,
    Pad1,
    PadN,
    RestartCounter,
    Timestamp,
)

__all__ = [
    "IPPROTO_NONE",
    "LIFETIME_UNIT",
    "MAX_LIFETIME",
    "MESSAGE_CLASSES",
    "MH_PROTO",
    "OPTION_CLASSES",
    "AccessTechnology",
    "AccessTechnologyType",
    "BindingAcknowledgement",
    "BindingUpdate",
    "Handoff",
    "HandoffIndicator",
    "Heartbeat",
    "HomeNetworkPrefix",
    "LinkLocalAddress",
    "MobileNodeIdentifier",
    "MobileNodeLinkLayerIdentifier",
    "MobilityMessage",
    "Option",
    "Pad1",
    "PadN",
    "ProtocolError",
    "RestartCounter",
    "Status",
    "Timestamp",
    "decode",
    "encode",
    "pseudo_header_checksum",
]
