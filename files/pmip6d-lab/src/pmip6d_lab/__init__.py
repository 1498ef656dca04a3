"""pmip6d_lab: the test and experiment side of the pmip6d agents (controller only).

The namespace and podman test beds, the emulated access points (``pmip6d-ap``),
the scapy layers of RFC 5213's options, the seed paper's experiment harness
(``pmip6d-experiment``) and, beside the package, the benchmarks. It drives the
agents of :mod:`pmip6d` (the LMA/MAG hosts' package) and is never installed there.
"""

__version__ = "0.1.0"
