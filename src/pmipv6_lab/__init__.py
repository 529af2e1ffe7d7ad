"""The lab around pmip6d: the domain plan and what is built from it.

- `plan`: the one description of a PMIPv6 domain of N MAGs x M MNs (node
  names, addresses, MACs, links, sysctls, policy, node configurations);
- `lab_files`: the containerlab topology, the Ansible inventory and the
  example configurations, generated from a plan;
- `testbed`: a plan built in network namespaces, with real daemons, fake
  MAGs and traffic, for the tests and the benchmarks;
- `fuzz`: the in-memory fuzzer of the codec and the state machines.

This package imports pmip6d; pmip6d imports nothing from it (the daemon runs
on a node without it mattering). tests/test_layering.py checks both.
"""
