"""Sans-I/O PMIPv6 state machines: LMA, MAG, binding cache and binding update list."""

from pmip6d.core.actions import (
    Action,
    DiscardBuffer,
    HandBackHeld,
    HoldForMn,
    InstallMnRoute,
    LmaAction,
    LogEvent,
    MagAction,
    ReleaseBuffer,
    RemoveMnRoute,
    SendMessage,
    SendParameterProblem,
    SendRouterAdvertisement,
    SetupMnForwarding,
    StartBuffering,
    TeardownMnForwarding,
)
from pmip6d.core.binding_cache import BindingCache, BindingCacheEntry, BindingState
from pmip6d.core.binding_update_list import (
    BindingUpdateList,
    BindingUpdateListEntry,
    BulEvent,
    BulState,
)
from pmip6d.core.lma import LocalMobilityAnchor, Transition
from pmip6d.core.mag import MobileAccessGateway

__all__ = [
    "Action",
    "BindingCache",
    "BindingCacheEntry",
    "BindingState",
    "BindingUpdateList",
    "BindingUpdateListEntry",
    "BulEvent",
    "BulState",
    "DiscardBuffer",
    "HandBackHeld",
    "HoldForMn",
    "InstallMnRoute",
    "LmaAction",
    "LocalMobilityAnchor",
    "LogEvent",
    "MagAction",
    "MobileAccessGateway",
    "ReleaseBuffer",
    "RemoveMnRoute",
    "SendMessage",
    "SendParameterProblem",
    "SendRouterAdvertisement",
    "SetupMnForwarding",
    "StartBuffering",
    "TeardownMnForwarding",
    "Transition",
]
