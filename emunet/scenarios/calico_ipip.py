"""Calico's IPIP mode with ``ipipMode: CrossSubnet``: encapsulate only across subnets.

The seed: BGP mode "requires that the cluster hosts be reachable at the second layer. If
in a different LAN, [you] need to use Calico ipip".  Three nodes: node1 (192.168.0.2) and
node2 (192.168.0.3) on one segment, node3 (192.168.1.2) behind the router on another;
blocks 10.20.0.0/24, 10.20.1.0/24, 10.20.2.0/24; the BGP mesh over the router (BIRD's
``multihop``).  Each node's ``tunl0`` is up with MTU 1480 and its block's first address
(10.20.N.0/32); pods get MTU 1480.  BIRD's kernel filter (``calico_kernel_programming``)
puts routes towards a next hop on the node's own subnet on eth0 and the others on tunl0::

    10.20.1.0/24 via 192.168.0.3 dev eth0 proto bird
    10.20.2.0/24 via 192.168.1.2 dev tunl0 proto bird onlink

pod-1 (node1) pings pod-5 (node3) and sends it the 1400-byte datagram: on node1's eth0
the frame is Ethernet / IPv4 protocol 4 (192.168.0.2 → 192.168.1.2, TTL and DF inherited
from the inner packet) / the pod's packet, 20 bytes more than without the tunnel, and the
router forwards it like any packet.  Then pod-1 pings pod-3 (node2), unencapsulated.
"""
from emunet.apps.ping import Ping
from emunet.control.calico import IpPool
from emunet.scenarios.calico_lab import POOL, CalicoLab
from emunet.sim import S


class CalicoIpip(CalicoLab):
    def __init__(self, seed: int = 1, capture: bool = True):
        super().__init__("calico-ipip", seed, capture, pool=IpPool(POOL, block_size=24, ipip_mode="CrossSubnet"))
        c = self.cluster
        c.add_segment("lan0", "192.168.0.0/24", gateway="192.168.0.1")
        c.add_segment("lan1", "192.168.1.0/24", gateway="192.168.1.1")
        self.node1 = c.add_node("node1", "192.168.0.2", block="10.20.0.0/24")
        self.node2 = c.add_node("node2", "192.168.0.3", block="10.20.1.0/24")
        self.node3 = c.add_node("node3", "192.168.1.2", block="10.20.2.0/24")
        self.pod1 = c.add_pod(self.node1, "pod-1", "10.20.0.2")
        self.pod3 = c.add_pod(self.node2, "pod-3", "10.20.1.2")
        self.pod5 = c.add_pod(self.node3, "pod-5", "10.20.2.2")
        self.client, self.server = self.pod1, self.pod5
        self.hosts.update({"node1": self.node1, "node2": self.node2, "node3": self.node3,
                           "etcd": c.store, "cluster": c})
        self.ping_same_subnet = None

    def traffic(self) -> None:
        super().traffic()
        self.sim.after(2 * S, self._ping_same_subnet)

    def _ping_same_subnet(self) -> None:
        self.ping_same_subnet = self.spawn(self.pod1.ns, Ping(self.pod3.ip, count=1),
                                           f"kubectl exec pod-1 -- ping -c 1 {self.pod3.ip}")


def build(seed: int = 1, capture: bool = True) -> CalicoIpip:
    return CalicoIpip(seed, capture)
