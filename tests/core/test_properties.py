"""Property tests: random event sequences never raise and leave a consistent domain."""

import copy
from ipaddress import IPv6Network

from hypothesis import given, settings
from hypothesis import strategies as st

from pmip6d.core import (
    BindingState,
    BulState,
    LocalMobilityAnchor,
    LogEvent,
    MobileAccessGateway,
    SendMessage,
)
from pmip6d.wire import Status
from tests.core.core_builders import (
    MAG1,
    MAG2,
    MN1_MAC,
    MN1_MAC_B,
    MN2_MAC,
    MULTIHOMED,
    POLICY,
    ROGUE_MAG,
    T0,
    lma_config,
    pbu,
)
from tests.core.domain import InMemoryDomain

MAGS = [MAG1, MAG2]
INTERFACES = ["eth2", "eth3"]


events = st.one_of(
    st.tuples(
        st.just("attach"),
        st.sampled_from(MAGS),
        st.sampled_from(INTERFACES),
        st.sampled_from([MN1_MAC, MN1_MAC_B, MN2_MAC, "02:00:00:00:99:99"]),
    ),
    st.tuples(st.just("detach"), st.sampled_from(MAGS), st.sampled_from(INTERFACES)),
    st.tuples(st.just("wait"), st.floats(min_value=0.0, max_value=400.0)),
    st.tuples(st.just("lose"), st.integers(min_value=1, max_value=3)),
    st.tuples(st.just("buffering"), st.booleans()),
)


def check_consistent(domain: InMemoryDomain, policy=POLICY) -> None:
    profiles = {p.mn_id: p for p in policy.mobile_nodes}
    bound = set()
    assigned: list[IPv6Network] = []
    for entry in domain.lma.binding_cache:
        bound.add(entry.mn_id)
        # A session's prefixes are its MN's, and no two sessions share one.
        assert set(entry.prefixes) <= set(profiles[entry.mn_id].home_network_prefixes)
        assigned += entry.prefixes
        if entry.state is BindingState.ACTIVE:
            assert domain.session_routes.get(entry.session_id) == entry.proxy_coa
            assert not entry.buffering
        else:
            assert entry.session_id not in domain.session_routes
        assert entry.buffering == (entry.session_id in domain.session_buffering)
    assert len(assigned) == len(set(assigned))
    cache = domain.lma.binding_cache
    active = {e.proxy_coa for e in cache if e.state is BindingState.ACTIVE}
    assert cache.active_mags() == active
    for entry in cache:
        assert entry in cache.sessions_of(entry.mn_key)
        assert all(cache.holding(p) is entry for p in entry.prefixes)
    assert {session.split("#")[0] for session in domain.session_routes} <= bound
    assert domain.buffering <= bound
    for mag in domain.mags.values():
        attached = [e for e in mag.binding_update_list if e.state is not BulState.DEREGISTERING]
        interfaces = [e.access_interface for e in attached]
        assert len(interfaces) == len(set(interfaces))
        for entry in mag.binding_update_list:
            if entry.forwarding:
                assert entry.state in (
                    BulState.REGISTERING,
                    BulState.REGISTERED,
                    BulState.REFRESHING,
                )
            assert (entry.retransmit_at is not None) == entry.state.awaits_pba


def run_script(domain: InMemoryDomain, script, policy=POLICY) -> None:
    now = T0
    for event in script:
        kind = event[0]
        if kind == "attach":
            _, address, interface, mac = event
            domain.deliver(address, domain.mags[address].mn_attached(interface, mac, now), now)
        elif kind == "detach":
            _, address, interface = event
            domain.deliver(address, domain.mags[address].mn_detached(interface, now), now)
        elif kind == "wait":
            domain.run_until(now + event[1])
            now += event[1]
        elif kind == "lose":
            domain.drop_next = event[1]
        else:
            domain.lma.set_buffering(event[1])
            for mag in domain.mags.values():
                mag.set_buffering(event[1])
        check_consistent(domain, policy)


@settings(max_examples=150, deadline=None)
@given(st.lists(events, max_size=30))
def test_random_event_sequences_keep_the_domain_consistent(script):
    run_script(InMemoryDomain.build(MAGS), script)


@settings(max_examples=150, deadline=None)
@given(st.lists(events, max_size=30))
def test_random_event_sequences_with_a_multihomed_mn_keep_the_domain_consistent(script):
    domain = InMemoryDomain.build(MAGS)
    domain.lma = LocalMobilityAnchor(lma_config(), MULTIHOMED)
    domain.mags = {
        address: MobileAccessGateway(mag.config, MULTIHOMED) for address, mag in domain.mags.items()
    }
    run_script(domain, script, MULTIHOMED)


pbu_fields = st.fixed_dictionaries(
    {
        "sequence": st.integers(0, 0xFFFF),
        "lifetime": st.sampled_from([0, 4, 300, 7200]),
        "mn_id": st.sampled_from([None, "mn1@pmipv6.lab", "mn2@pmipv6.lab", "x@lab"]),
        "prefixes": st.sampled_from(
            [None, (), (IPv6Network("::/0"),), (IPv6Network("2001:db8:1:1::/64"),)]
            + [(IPv6Network("2001:db8:1:2::/64"), IPv6Network("2001:db8:1:1::/64"))]
        ),
        "handoff": st.sampled_from([None, 1, 4, 5, 200]),
        "att": st.sampled_from([None, 3, 255]),
        "timestamp": st.one_of(st.none(), st.floats(T0 - 2, T0 + 2)),
        "proxy": st.booleans(),
    }
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([MAG1, MAG2, ROGUE_MAG]), pbu_fields, st.floats(0, 1)),
        max_size=15,
    ),
    st.booleans(),
)
def test_arbitrary_pbus_never_raise_and_rejects_change_nothing(requests, use_timestamps):
    lma = LocalMobilityAnchor(lma_config(use_timestamps=use_timestamps), POLICY)
    now = T0
    for src, fields, step in requests:
        now += step
        before = [copy.deepcopy(vars(e)) for e in lma.binding_cache]
        actions = lma.receive(src, pbu(**fields), now)
        replies = [a for a in actions if isinstance(a, SendMessage)]
        if not replies:
            # Neither P nor H flag: discarded unanswered (RFC 6275 9.5.1); a
            # de-registration from a MAG that is not the proxy-CoA, ignored (5.3.5);
            # or HI 4 waiting MaxDelayBeforeNewBCEAssign (5.4.1.3).
            events = {a.name for a in actions if isinstance(a, LogEvent)}
            assert not fields["proxy"] or fields["lifetime"] == 0 or "pbu_waiting" in events
            assert [vars(e) for e in lma.binding_cache] == before
            lma.on_timer(now)
            continue
        (reply,) = replies
        assert reply.dst == src and reply.message.proxy
        if reply.message.status != Status.ACCEPTED:
            assert [vars(e) for e in lma.binding_cache] == before
        lma.on_timer(now)
