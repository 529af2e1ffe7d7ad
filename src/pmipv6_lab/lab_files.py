"""The lab's files, generated from a domain plan: the containerlab topology, the
Ansible inventory, the policy store and the example node configurations.

The default lab (`DEFAULT`: 2 MAGs, 1 MN) is committed as lab/pmipv6.clab.yml,
inventory.ini and examples/; tests/test_lab_files.py fails when regenerating
them (scripts/generate-lab --default) would change a byte. Larger domains go
wherever `scripts/generate-lab --mags N --mns M --out DIR` is told.

The inventory carries every host's addresses, routes and identity explicitly
(as host variables) and the policy store as a group variable, so the roles
and playbooks/group_vars compute no address: they apply what the plan says.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from pmipv6_lab.plan import LAB_SPACE, NODE_CAPABILITIES, DomainPlan, Link, Node

DEFAULT = DomainPlan(mags=2, mns=1)
REGENERATE = "scripts/generate-lab --default"


def _quoted(value: str) -> str:
    return json.dumps(value)


def _header(command: str) -> list[str]:
    return [
        f"# Generated from the domain plan (src/pmipv6_lab/plan.py) by {command}:",
        "# do not edit; change the plan and generate again.",
    ]


def _command(plan: DomainPlan) -> str:
    if plan == DEFAULT:
        return REGENERATE
    return f"scripts/generate-lab --mags {plan.mags} --mns {plan.mns} --name {plan.name}"


# -- containerlab topology ---------------------------------------------------------


def topology(plan: DomainPlan) -> str:
    """The containerlab topology (YAML text, as committed for the default lab)."""
    lines = _header(_command(plan))
    lines += [
        "#",
        f"# {plan.name}: {_count(plan.mags, 'MAG')}, {_count(plan.mns, 'mobile node')};",
        "# addressing plan in src/pmipv6_lab/plan.py and docs/lab.md. Addresses and routes",
        "# are applied by Ansible (playbooks/site.yml, from the inventory); sysctls must be",
        "# here: the nodes are not privileged, so /proc/sys is read-only inside them.",
        "# Data interfaces moved in after start inherit net.ipv6.conf.default.*.",
    ]
    for mn in plan.mobile_nodes if plan.mn_nodes else []:
        ends = ", ".join(
            f"{link.interface} to {link.mag}" + (" (up at start)" if i == 0 else "")
            for i, link in enumerate(mn.access_links)
        )
        lines.append(f"# {mn.name} ({mn.nai}, {mn.mac}): {ends}")
    lines += [
        f"name: {plan.name}",
        "",
        "topology:",
        "  defaults:",
        "    kind: linux",
        "    image-pull-policy: never",
        "    # Least privilege: the build/CI machines refuse privileged containers.",
        "    privileged: false",
        f"    cap-add: [{', '.join(NODE_CAPABILITIES)}]",
        "    env:",
        '      PMIP6_INTF_WAIT: "60"',
        "",
        "  nodes:",
    ]
    for node in plan.nodes:
        lines += _topology_node(node)
    lines += ["", "  links:"]
    for link in plan.links:
        lines += _topology_link(link)
    return "\n".join(lines) + "\n"


def _count(number: int, what: str) -> str:
    return f"{number} {what}" + ("" if number == 1 else "s")


def _topology_node(node: Node) -> list[str]:
    lines = [f"    {node.name}:", f"      image: {node.image}"]
    if node.capabilities != NODE_CAPABILITIES:
        lines.append(f"      cap-add: [{', '.join(node.capabilities)}]")
    lines.append("      sysctls:")
    lines += [f"        {key}: {value}" for key, value in node.sysctls.items()]
    return lines


def _topology_link(link: Link) -> list[str]:
    if link.a.mac is None and link.b.mac is None:
        ends = ", ".join(_quoted(f"{e.node}:{e.interface}") for e in (link.a, link.b))
        return [f"    - endpoints: [{ends}]"]
    lines = ["    - type: veth", "      endpoints:"]
    for end in (link.a, link.b):
        mac = f", mac: {_quoted(end.mac)}" if end.mac else ""
        lines.append(f"        - {{node: {end.node}, interface: {end.interface}{mac}}}")
    return lines


# -- Ansible inventory -----------------------------------------------------------------


def _literal(value: Any) -> str:
    """A value as a Python literal (the ini plugin reads values with literal_eval):
    JSON is one as long as it has no true, false or null, which the plan never
    writes, and no quote that would end the host line's quoting."""
    text = json.dumps(value)
    if any(word in text for word in ("true", "false", "null", "'")):
        raise ValueError(f"not a plain inventory value: {text}")
    return text


def _value(value: Any) -> str:
    """A host variable: a word as it is, anything else quoted for the host line."""
    if isinstance(value, str) and value and " " not in value and "'" not in value:
        return value
    return f"'{_literal(value)}'"


def _host(plan: DomainPlan, node: str, variables: dict[str, Any]) -> str:
    pairs = " ".join(f"{key}={_value(value)}" for key, value in variables.items())
    return f"{plan.container(node)} pmipv6_node={node} {pairs}".rstrip()


def _links_of(node: Node) -> dict[str, Any]:
    return {
        "common_addresses": [{"dev": a.dev, "address": str(a.address)} for a in node.addresses],
        "common_routes": [{"to": str(r.to), "via": str(r.via), "dev": r.dev} for r in node.routes],
    }


def inventory(plan: DomainPlan) -> str:
    """The Ansible inventory (INI text): host names are the container names and the
    docker connection reaches them, so ansible_host is NOT set (testinfra's
    ansible backend would otherwise try that address)."""
    by_name = {node.name: node for node in plan.nodes}
    lines = _header(_command(plan))
    lines += [
        "# Each host carries what the plan decides for it: addresses, routes, its",
        "# pmip6d node configuration (pmipv6_node_config), the MN's identity and links.",
        "# mn_links: the MN's access links, the first one up at start; mn_link_mags:",
        "# for each, the MAG host and interface at the other end (where",
        "# playbooks/handover.yml announces a detach).",
        "",
        "[lma]",
        _host(
            plan,
            "lma",
            {
                "pmipv6_node_config": plan.node_config("lma"),
                **_links_of(by_name["lma"]),
            },
        ),  # fmt: skip
        "",
        "[mags]",
    ]
    for mag in plan.mag_list:
        variables = {
            "pmipv6_node_config": plan.node_config(mag.name),
            **_links_of(by_name[mag.name]),
        }
        lines.append(_host(plan, mag.name, variables))
    lines += ["", "[mns]"]
    for mn in plan.mobile_nodes if plan.mn_nodes else []:
        variables = {
            "mn_nai": mn.nai,
            "mn_mac": mn.mac,
            "mn_bridge": mn.bridge,
            "mn_links": [link.interface for link in mn.access_links],
            "mn_link_mags": [
                f"{plan.container(link.mag)}:{link.mag_interface}" for link in mn.access_links
            ],
        }
        lines.append(_host(plan, mn.name, variables))
    cn = by_name["cn"]
    lines += [
        "",
        "[cns]",
        _host(
            plan,
            "cn",
            {
                "cn_address": str(cn.addresses[0].address.ip),
                "cn_gateway": str(cn.routes[0].via),
                **_links_of(cn),
            },
        ),  # fmt: skip
        "",
        "[pmipv6:children]",
        "lma",
        "mags",
        "mns",
        "cns",
        "",
        "[pmipv6:vars]",
        "ansible_connection=community.docker.docker",
        f"pmipv6_lab_name={plan.name}",
        f"common_lab_guard_prefix={LAB_SPACE}",
        # A group variable line is not split on spaces: the literal as it is.
        f"pmipv6_policy={_literal(plan.policy())}",
    ]
    return "\n".join(lines) + "\n"


# -- the daemons' files ------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Block style with indented lists (as yamllint likes them), and addresses
    quoted: a MAC or an IPv6 address is a string however a reader guesses."""

    def increase_indent(self, flow: bool = False, indentless: bool = False):
        return super().increase_indent(flow, False)


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = '"' if ":" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _string)


def _yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False)


def policy_store(plan: DomainPlan) -> str:
    lines = _header(_command(plan))
    lines.append("# The policy store, read by the LMA and by every MAG (docs/configuration.md).")
    return "\n".join(lines) + "\n" + _yaml(plan.policy())


def node_config_file(plan: DomainPlan, node: str) -> str:
    """An example node configuration: the plan's part, the policy next to it."""
    role, name, *section = plan.node_config(node).items()
    config = dict([role, name, ("policy_file", "policy.yaml"), *section])
    lines = _header(_command(plan))
    lines.append("# Every key not shown keeps the default of docs/configuration.md;")
    lines.append("# policy_file is relative to this file.")
    return "\n".join(lines) + "\n" + _yaml(config)


# -- writing them -----------------------------------------------------------------------


def files(plan: DomainPlan) -> dict[str, str]:
    """Every generated file of a domain, by its path relative to an output directory."""
    out = {f"{plan.name}.clab.yml": topology(plan), "inventory.ini": inventory(plan)}
    out["policy.yaml"] = policy_store(plan)
    return out


def default_files() -> dict[str, str]:
    """The default lab's files, by their path in the repository."""
    out = {"lab/pmipv6.clab.yml": topology(DEFAULT), "inventory.ini": inventory(DEFAULT)}
    out["examples/policy.yaml"] = policy_store(DEFAULT)
    for node in DEFAULT.daemon_nodes:
        out[f"examples/{node}.yaml"] = node_config_file(DEFAULT, node)
    return out


def write(target: Path, contents: dict[str, str]) -> list[Path]:
    written = []
    for relative, text in contents.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
