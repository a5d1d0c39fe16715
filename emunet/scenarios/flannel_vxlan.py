"""Flannel's VXLAN backend on the seed's two nodes: pod-1 on node1 reaches pod-4 on node2.

The same machines and subnets as ``flannel-udp`` (10.168.0.2 / 10.168.0.3 on
10.168.0.0/24, network 100.96.0.0/16, subnets 100.96.1.0/24 and
100.96.2.0/24) with Kubernetes' runtime: ``cni0`` holds the subnet's first
address, pods get 0a:58 + their address as MAC.  flanneld creates
``flannel.1`` (VNI 1, dstport 8472, local = the node, dev eth0, nolearning,
MTU 1450, ``100.96.N.0/32``) and, for the other node's lease, the permanent
neighbour, the FDB entry and the onlink route::

    100.96.2.0 dev flannel.1 lladdr <node2's VtepMAC> PERMANENT
    <node2's VtepMAC> dev flannel.1 dst 10.168.0.3 self permanent
    100.96.2.0/24 via 100.96.2.0 dev flannel.1 onlink

The kernel does the rest: node1 forwards pod-1's packet (TTL 63) to
flannel.1, which wraps the frame (src/dst = the two VTEP MACs) in
VXLAN/UDP/IPv4 to 10.168.0.3:8472 — the echo request is 148 bytes on eth0 —
and node2's vxlan socket unwraps it into its flannel.1, whence it is forwarded
to cni0 and pod-4.  The outer source port is the kernel's hash of the inner
flow (:mod:`emunet.devices.vxlan`).
"""
from emunet.scenarios.flannel_udp import FlannelLab


class FlannelVxlan(FlannelLab):
    backend = "vxlan"

    def __init__(self, seed: int = 1, capture: bool = True):
        super().__init__("flannel-vxlan", seed, capture)
        self.seed_pair("cni", "pod")


def build(seed: int = 1, capture: bool = True) -> FlannelVxlan:
    return FlannelVxlan(seed, capture)
