"""Calico in VXLAN mode on the seed's two nodes: pod-1 on node1 reaches pod-3 on node2.

The pool 10.20.0.0/16 has ``vxlanMode: Always``: there is no BGP (calico-node runs
Felix alone, ``calico_backend: vxlan``).  At start each node takes its block's first
address for its VTEP, and Felix creates ``vxlan.calico`` (VNI 4096, UDP port 4789,
``nolearning``, MTU 1450, a random MAC it publishes in the Node resource); from the
datastore it learns the other node's block and VTEP and programs, on node1::

    10.20.1.0/24 via 10.20.1.0 dev vxlan.calico proto 80 onlink
    10.20.1.0 dev vxlan.calico lladdr <node2's VTEP MAC> PERMANENT
    <node2's VTEP MAC> dev vxlan.calico dst 192.168.0.3 self permanent
    blackhole 10.20.0.0/24 proto 80

Pods have MTU 1450.  The echo request from pod-1 crosses node1's eth0 as 148 bytes:
Ethernet, IPv4 (DF clear, TTL 64), UDP to 4789 (which Wireshark decodes as VXLAN
without being told), VXLAN (I flag, VNI 4096), and the inner frame from node1's VTEP
MAC to node2's with the pod's packet at TTL 63.
"""
from emunet.control.calico import IpPool
from emunet.scenarios.calico_lab import POOL, CalicoLab


class CalicoVxlan(CalicoLab):
    def __init__(self, seed: int = 1, capture: bool = True):
        super().__init__("calico-vxlan", seed, capture, pool=IpPool(POOL, block_size=24, vxlan_mode="Always"))
        self.seed_nodes()


def build(seed: int = 1, capture: bool = True) -> CalicoVxlan:
    return CalicoVxlan(seed, capture)
