"""Calico's BGP mode, the seed's picture: every node a border router, no encapsulation.

Nodes 192.168.0.2 (``node1``) and 192.168.0.3 (``node2``) share one L2 segment; the
pool 10.20.0.0/16 has no encapsulation, its /24 blocks are 10.20.0.0/24 on node1 and
10.20.1.0/24 on node2.  calico-node runs BIRD on each, configured as confd renders
``bird.cfg.template``: the node-to-node mesh (``protocol bgp Mesh_192_168_0_3`` on node1,
passive on node1's side since 192.168.0.3 sorts higher), AS 64512, the block as a
blackhole static route exported to the peer.  The capture shows the TCP handshake to
port 179 about two seconds in (Calico's ``connect delay time 2``), OPEN both ways,
KEEPALIVEs, each node's UPDATE with its block and itself as next hop, End-of-RIB, and
then the pod-to-pod ping, routed without encapsulation — the seed's tables::

    node1: 10.20.0.2 dev cali... scope link         node2: 10.20.1.2 dev cali... scope link
           10.20.0.3 dev cali... scope link                10.20.1.3 dev cali... scope link
           10.20.1.0/24 via 192.168.0.3 dev eth0           10.20.0.0/24 via 192.168.0.2 dev eth0
             proto bird                                      proto bird

A keepalive period later (BIRD's 80 s, jittered) each side sends a KEEPALIVE; the run
lasts 90 s to show one.
"""
from emunet.scenarios.calico_lab import CalicoLab


class CalicoBgp(CalicoLab):
    def __init__(self, seed: int = 1, capture: bool = True):
        super().__init__("calico-bgp", seed, capture)
        self.seed_nodes()
        self.duration = 90.0


def build(seed: int = 1, capture: bool = True) -> CalicoBgp:
    return CalicoBgp(seed, capture)
