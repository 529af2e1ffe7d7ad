from ipaddress import IPv6Address, IPv6Network
from pathlib import Path

import pytest

from pmip6d.config import (
    ConfigError,
    ProtocolConstants,
    link_layer_bytes,
    load_node_config,
    load_policy,
    parse_node_config,
    parse_policy,
)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

MAG_CONFIG = {
    "role": "mag",
    "policy_file": "policy.yaml",
    "mag": {
        "proxy_coa": "2001:db8:ffff::11",
        "lma_address": "2001:db8:ffff::1",
        "access_interfaces": ["eth2"],
    },
}


def test_example_lma_config_loads_with_policy_path_resolved_next_to_it():
    config = load_node_config(EXAMPLES / "lma.yaml")
    assert config.role == "lma"
    assert config.lma.address == IPv6Address("2001:db8:ffff::1")
    assert config.lma.buffering.enabled is True
    assert config.policy_file == EXAMPLES / "policy.yaml"
    assert config.mag is None


@pytest.mark.parametrize(
    "name, coa", [("mag1", "2001:db8:ffff::11"), ("mag2", "2001:db8:ffff::12")]
)
def test_example_mag_configs_load(name, coa):
    config = load_node_config(EXAMPLES / f"{name}.yaml")
    assert config.node_name == name
    assert config.mag.proxy_coa == IPv6Address(coa)
    assert config.mag.access_interfaces == ("eth2",)


def test_example_policy_loads():
    policy = load_policy(EXAMPLES / "policy.yaml")
    mn = policy.profile("mn1@pmipv6.lab")
    assert mn.home_network_prefixes == (IPv6Network("2001:db8:1:1::/64"),)
    assert policy.profile_for_link_layer("02:00:00:00:01:01") is mn
    assert policy.is_authorized_mag(IPv6Address("2001:db8:ffff::12"))
    assert not policy.is_authorized_mag(IPv6Address("2001:db8:ffff::13"))


def test_rfc_constants_have_rfc_defaults():
    timers = ProtocolConstants()
    assert timers.min_delay_before_bce_delete == 10.0
    assert timers.max_delay_before_new_bce_assign == 1.5
    assert timers.timestamp_validity_window == 0.3
    assert timers.initial_bindack_timeout_first_reg == 1.5
    assert timers.max_bindack_timeout == 32.0
    assert timers.heartbeat_interval == 60.0  # RFC 5847 HEARTBEAT_INTERVAL
    assert timers.missing_heartbeats_allowed == 3  # RFC 5847 MISSING_HEARTBEATS_ALLOWED


def test_every_constant_is_overridable():
    overrides = {"min_delay_before_bce_delete": 2, "timestamp_validity_window": 1.25}
    config = parse_node_config({**MAG_CONFIG, "protocol": overrides})
    assert config.protocol.min_delay_before_bce_delete == 2.0
    assert config.protocol.timestamp_validity_window == 1.25
    assert config.mag.requested_lifetime == 300


def test_link_layer_address_spelling_is_normalized():
    policy = parse_policy(
        {
            "mobile_nodes": [
                {
                    "mn_id": "a@lab",
                    "link_layer_addresses": ["02-AA-00-00-00-01"],
                    "home_network_prefixes": ["2001:db8:1::/64"],
                }
            ]
        }
    )
    assert policy.profile_for_link_layer("02:aa:00:00:00:01").mn_id == "a@lab"
    assert link_layer_bytes("02:AA:00:00:00:01") == bytes.fromhex("02aa00000001")


def _error(build, data) -> str:
    with pytest.raises(ConfigError) as caught:
        build(data, "node.yaml")
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_unknown_key_is_named_with_its_path():
    data = {**MAG_CONFIG, "mag": {**MAG_CONFIG["mag"], "ra_intervall": 3}}
    message = _error(parse_node_config, data)
    assert message.startswith("node.yaml: mag.ra_intervall: unknown key")


def test_missing_required_key_is_named():
    data = {k: v for k, v in MAG_CONFIG.items() if k != "policy_file"}
    assert _error(parse_node_config, data) == "node.yaml: policy_file: required key is missing"


def test_wrong_type_says_what_was_expected():
    data = {**MAG_CONFIG, "mag": {**MAG_CONFIG["mag"], "lma_address": "10.0.0.1"}}
    message = _error(parse_node_config, data)
    assert message == "node.yaml: mag.lma_address: expected an IPv6 address, got '10.0.0.1'"


def test_bad_literal_lists_choices():
    message = _error(parse_node_config, {**MAG_CONFIG, "role": "ha"})
    assert message == "node.yaml: role: expected 'lma' or 'mag', got 'ha'"


def test_role_section_must_match_role():
    message = _error(parse_node_config, {**MAG_CONFIG, "role": "lma"})
    assert message == "node.yaml: lma: required key is missing (role is 'lma')"
    both = {**MAG_CONFIG, "lma": {"address": "2001:db8:ffff::1"}}
    assert _error(parse_node_config, both) == "node.yaml: lma: not allowed when role is 'mag'"


def test_heartbeats_need_at_least_one_missing_heartbeat_allowed():
    data = {**MAG_CONFIG, "protocol": {"missing_heartbeats_allowed": 0}}
    message = _error(parse_node_config, data)
    assert message == "node.yaml: protocol.missing_heartbeats_allowed: expected 1 or more"


def test_a_limit_out_of_range_is_named_with_its_path():
    data = {**MAG_CONFIG, "mag": {**MAG_CONFIG["mag"], "hold_limits": {"max_packets_per_mn": 0}}}
    message = _error(parse_node_config, data)
    assert message == "node.yaml: mag.hold_limits.max_packets_per_mn: expected 1 or more"


def test_pacing_settings_are_checked_against_each_other():
    lma = {"address": "2001:db8:ffff::1", "buffering": {"max_release_rate": 50}}
    data = {"role": "lma", "policy_file": "p.yaml", "lma": lma}
    message = _error(parse_node_config, data)
    assert message == (
        "node.yaml: lma.buffering.max_release_rate: expected at least min_release_rate, or null"
    )


def test_the_mag_hold_limits_are_settings_of_their_own():
    limits = {"max_packets_per_mn": 20, "max_bytes_per_mn": 30_000, "max_packets_total": 80}
    data = {**MAG_CONFIG, "mag": {**MAG_CONFIG["mag"], "hold_limits": limits}}
    hold = parse_node_config(data).mag.hold_limits
    assert hold.max_packets_per_mn == 20 and hold.max_packets_total == 80
    assert hold.max_bytes_per_mn == 30_000
    assert hold.max_bytes_total == 60_000_000  # the default, not a multiple of anything


def test_the_hand_back_port_is_one_setting_of_both_roles():
    assert parse_node_config(MAG_CONFIG).hand_back_port == 5436
    assert parse_node_config({**MAG_CONFIG, "hand_back_port": 6000}).hand_back_port == 6000


def test_boolean_is_not_a_number():
    data = {**MAG_CONFIG, "protocol": {"max_bindack_timeout": True}}
    message = _error(parse_node_config, data)
    assert "protocol.max_bindack_timeout: expected a non-negative number" in message


@pytest.mark.parametrize("lifetime", [0, 301, 262144])
def test_lifetime_must_fit_the_wire_field_of_four_second_units(lifetime):
    data = {**MAG_CONFIG, "mag": {**MAG_CONFIG["mag"], "requested_lifetime": lifetime}}
    message = _error(parse_node_config, data)
    assert "mag.requested_lifetime: expected a multiple of 4 in 4..262140" in message


def test_list_element_error_names_its_index():
    data = {**MAG_CONFIG, "mag": {**MAG_CONFIG["mag"], "access_interfaces": ["eth2", 7]}}
    message = _error(parse_node_config, data)
    assert message == "node.yaml: mag.access_interfaces[1]: expected a non-empty string, got 7"


def test_top_level_must_be_a_mapping():
    assert _error(parse_node_config, ["role"]) == (
        "node.yaml: <top level>: expected a mapping, got a list"
    )


def _mn(mn_id="a@lab", mac="02:00:00:00:01:01", prefix="2001:db8:1:1::/64"):
    return {"mn_id": mn_id, "link_layer_addresses": [mac], "home_network_prefixes": [prefix]}


@pytest.mark.parametrize(
    "mobile_nodes, fragment",
    [
        ([_mn(), _mn()], "mobile_nodes[1].mn_id: duplicate mobile node 'a@lab'"),
        ([_mn(), _mn("b@lab")], "mobile_nodes[1].link_layer_addresses[0]: 02:00:00:00:01:01"),
        (
            [_mn(), _mn("b@lab", mac="02:00:00:00:02:01")],
            "mobile_nodes[1].home_network_prefixes[0]: 2001:db8:1:1::/64 already belongs",
        ),
        ([_mn(mac="02:00:00:00:01")], "link_layer_addresses[0]: expected a 48-bit MAC"),
        ([_mn(prefix="2001:db8:1:1::1/64")], "home_network_prefixes[0]: expected an IPv6 prefix"),
        ([_mn(prefix="::/0")], "home_network_prefixes[0]: ::/0 is reserved"),
    ],
)
def test_policy_errors_name_the_entry(mobile_nodes, fragment):
    message = _error(parse_policy, {"mobile_nodes": mobile_nodes})
    assert fragment in message


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"absent\.yaml: cannot read"):
        load_policy(tmp_path / "absent.yaml")


def test_invalid_yaml_names_file_and_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("role: mag\nmag: [unclosed\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml: line \d+: invalid YAML"):
        load_node_config(path)
