"""What the daemon owns in the kernel, and how to remove it without touching anything else.

Every route pmip6d installs carries ROUTE_PROTOCOL (157 = 0x9d, unused in
/etc/iproute2/rt_protos), every policy rule sits in RULE_PRIORITIES, every
private routing table is in OWNED_TABLES and every interface it creates is
named LINK_NAME_PREFIX + something. That lets a restarted daemon remove the
leftovers of a crashed run (a SIGKILLed container keeps its namespace state
only until the restart, but a daemon restart inside a live node keeps it all)
and lets a clean shutdown leave the node as it found it.

Rule order (lower priority number = consulted first):

    0      local table        (kernel default; moved, see below)
    1000   to <own endpoint> ipproto 41 lookup DECAP_TABLE   (seg6 decapsulation)
    1001   local table        (moved here while seg6 decapsulation is enabled)
    1010   from <MN prefix> lookup <peer table>              (MAG reverse tunnel)
    32766  main table

The decapsulation rule must precede the local table, which would otherwise
deliver the tunnelled packet to the (absent) IPv6-in-IPv6 protocol handler.
The source-prefix rules come after the local table so that packets from the
MN to the MAG itself (neighbour discovery, multicast) are still delivered
locally instead of being tunnelled.
"""

import errno
import logging

from pyroute2 import AsyncIPRoute
from pyroute2.netlink.exceptions import NetlinkError

log = logging.getLogger(__name__)

AF_INET6 = 10
ROUTE_PROTOCOL = 157
RULE_PRIORITIES = range(1000, 1100)
DECAP_RULE_PRIORITY = 1000
LOCAL_RULE_PRIORITY = 1001
SOURCE_RULE_PRIORITY = 1010
OWNED_TABLES = range(1050, 1100)
DECAP_TABLE = 1050
PEER_TABLES = range(1051, 1100)
LINK_NAME_PREFIX = "pmip6-"
# The bpf tunnel driver's decapsulation filter: tc ingress, this priority.
TC_INGRESS = 0xFFFFFFF2  # TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS)
DECAP_FILTER_PRIORITY = 157
MAIN_TABLE = 254
LOCAL_TABLE = 255
KERNEL_LOCAL_RULE_PRIORITY = 0


async def ignore_missing(operation) -> None:
    """Await a removal; a route, rule, address or link already gone is the desired state."""
    try:
        await operation
    except NetlinkError as error:
        if error.code not in (errno.ENOENT, errno.ESRCH, errno.EADDRNOTAVAIL):
            raise


async def ignore_existing(operation) -> None:
    """Await an addition; one already there is the desired state (setup is idempotent)."""
    try:
        await operation
    except NetlinkError as error:
        if error.code != errno.EEXIST:
            raise


def _rule_table(rule) -> int:
    return rule.get("table") or rule["table"]


async def _ipv6_rules(ipr: AsyncIPRoute) -> list:
    return [rule async for rule in await ipr.get_rules(family=AF_INET6)]


async def move_local_rule_after_decapsulation(ipr: AsyncIPRoute) -> None:
    """Consult the local table at LOCAL_RULE_PRIORITY instead of 0 (idempotent).

    The new rule is added before the old one is deleted so that local delivery
    never stops.
    """
    rules = await _ipv6_rules(ipr)
    local_priorities = {r.get("priority", 0) for r in rules if _rule_table(r) == LOCAL_TABLE}
    if LOCAL_RULE_PRIORITY not in local_priorities:
        await ipr.rule("add", family=AF_INET6, table=LOCAL_TABLE, priority=LOCAL_RULE_PRIORITY)
    if KERNEL_LOCAL_RULE_PRIORITY in local_priorities:
        await ipr.rule(
            "del", family=AF_INET6, table=LOCAL_TABLE, priority=KERNEL_LOCAL_RULE_PRIORITY
        )


async def restore_local_rule(ipr: AsyncIPRoute) -> None:
    """Put the local-table rule back at priority 0 if we moved it (idempotent)."""
    rules = await _ipv6_rules(ipr)
    local_priorities = {r.get("priority", 0) for r in rules if _rule_table(r) == LOCAL_TABLE}
    if LOCAL_RULE_PRIORITY not in local_priorities:
        return
    if KERNEL_LOCAL_RULE_PRIORITY not in local_priorities:
        await ipr.rule(
            "add", family=AF_INET6, table=LOCAL_TABLE, priority=KERNEL_LOCAL_RULE_PRIORITY
        )
    await ipr.rule("del", family=AF_INET6, table=LOCAL_TABLE, priority=LOCAL_RULE_PRIORITY)


def _is_owned_rule(rule) -> bool:
    return rule.get("priority", 0) in RULE_PRIORITIES or _rule_table(rule) in OWNED_TABLES


async def remove_owned_state(ipr: AsyncIPRoute) -> None:
    """Remove every route, rule and link pmip6d owns; restore the local rule.

    Used both at start (leftovers of a crashed run) and at clean shutdown.
    Anything without our markers is left alone.
    """
    await restore_local_rule(ipr)
    for rule in await _ipv6_rules(ipr):
        if _is_owned_rule(rule):
            log.info("removing owned rule priority %s", rule.get("priority"))
            await ipr.rule("del", **_rule_identity(rule))
    async for link in await ipr.get_links():
        if link.get("ifname", "").startswith(LINK_NAME_PREFIX):
            log.info("removing owned link %s", link.get("ifname"))
            try:
                await ipr.link("del", index=link["index"])
            except NetlinkError as error:
                # A veth goes with its peer: the second half may be gone already.
                if error.code != errno.ENODEV:
                    raise
    async for link in await ipr.get_links():
        await remove_decapsulation_filter(ipr, link["index"])
    for route in [r async for r in await ipr.get_routes(family=AF_INET6, proto=ROUTE_PROTOCOL)]:
        log.info("removing owned route %s/%s", route.get("dst"), route["dst_len"])
        await ipr.route("del", **_route_identity(route))


async def remove_decapsulation_filter(ipr: AsyncIPRoute, index: int) -> None:
    """Delete the bpf driver's tc ingress filter on interface `index`, if there.
    The clsact qdisc stays: other filters may hang on it, and it costs nothing."""
    try:
        filters = [f async for f in await ipr.get_filters(index=index, parent=TC_INGRESS)]
    except NetlinkError as error:
        if error.code in (errno.EINVAL, errno.ENOENT, errno.ENODEV):  # no clsact qdisc
            return
        raise
    if any(f["info"] >> 16 == DECAP_FILTER_PRIORITY for f in filters):
        log.info("removing owned tc filter on interface %s", index)
        await ignore_missing(
            ipr.tc("del-filter", "bpf", index=index, parent=TC_INGRESS, prio=DECAP_FILTER_PRIORITY)
        )


cleanup_leftovers = remove_owned_state


def _rule_identity(rule) -> dict:
    identity = {
        "family": AF_INET6,
        "priority": rule.get("priority", 0),
        "table": _rule_table(rule),
    }
    if rule.get("src"):
        identity.update(src=rule.get("src"), src_len=rule["src_len"])
    if rule.get("dst"):
        identity.update(dst=rule.get("dst"), dst_len=rule["dst_len"])
    if rule.get("ip_proto"):
        identity["ip_proto"] = rule.get("ip_proto")
    return identity


def _route_identity(route) -> dict:
    identity = {
        "family": AF_INET6,
        "dst_len": route["dst_len"],
        "table": route.get("table") or route["table"],
        "proto": ROUTE_PROTOCOL,
    }
    if route.get("dst"):
        identity["dst"] = route.get("dst")
    if route.get("oif"):
        identity["oif"] = route.get("oif")
    if route.get("priority"):
        identity["priority"] = route.get("priority")
    return identity
