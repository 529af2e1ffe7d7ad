"""A domain plan in network namespaces, for the tests and the benchmarks (root).

- `netns`: the one namespace builder (namespaces, veth links, addresses,
  routes, sysctls; entering a namespace from a thread);
- `domain`: `NamespaceDomain`, a plan built in namespaces with real pmip6d
  daemons, a driver per mobile node, handovers;
- `fake_mag`: a MAG that sends crafted PBUs from a raw socket (hostile and
  bulk signalling);
- `traffic`: a probe stream across a handover;
- `faults`: lost signalling, dead daemons, overload;
- `session`: a domain's life in a benchmark, and the figures runs report.

Kept free of imports here: `python -m pmipv6_lab.testbed.mobile_node` and
`.fake_mag` start inside the namespaces, where start-up time counts.
"""
