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
from emunet.topology import Cluster
from emunet.scenarios.flannel_udp import FlannelLab


class FlannelVxlan(FlannelLab):
    backend = "vxlan"

    def __init__(self, seed: int = 1, capture: bool = True):
        super().__init__("flannel-vxlan", seed, capture)
        c = self.cluster = Cluster(self.sim, backend="vxlan", network="100.96.0.0/16", runtime="cni")
        c.add_segment("lan0", "10.168.0.0/24", gateway="10.168.0.1")
        self.node1 = c.add_node("node1", "10.168.0.2", subnet="100.96.1.0/24")
        self.node2 = c.add_node("node2", "10.168.0.3", subnet="100.96.2.0/24")
        self.pod1 = c.add_pod(self.node1, "pod-1", "100.96.1.2")
        self.pod2 = c.add_pod(self.node1, "pod-2", "100.96.1.3")
        self.pod4 = c.add_pod(self.node2, "pod-4", "100.96.2.2")
        self.pod3 = c.add_pod(self.node2, "pod-3", "100.96.2.3")
        self.client, self.server = self.pod1, self.pod4
        self.hosts.update({"node1": self.node1, "node2": self.node2, "etcd": c.etcd, "cluster": c})
        self._start_echo()


def build(seed: int = 1, capture: bool = True) -> FlannelVxlan:
    return FlannelVxlan(seed, capture)
