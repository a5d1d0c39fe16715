"""Flannel's host-gw backend: plain routes via the peer node, and where they cannot exist.

The seed's addressing: nodes on 10.20.0.0/24, pods from 192.168.0.0/16 with a
/24 per node, and on node1 the route ``192.168.1.0/24 via 10.20.0.3 dev eth0``.
node1 (10.20.0.2, 192.168.0.0/24) and node2 (10.20.0.3, 192.168.1.0/24) share
the switch ``lan0``; the network config sets ``"SubnetMin": "192.168.0.0"``
because flannel otherwise never leases a network's first subnet.  node3
(10.20.1.2, 192.168.2.0/24) sits on another segment, ``lan1`` (10.20.1.0/24),
behind the router (10.20.0.1 / 10.20.1.1).

flanneld on node1 adds ``192.168.1.0/24 via 10.20.0.3 dev eth0``; for node3's
lease the kernel refuses ``192.168.2.0/24 via 10.20.1.2 dev eth0`` (the gateway
is not on a directly connected network: ENETUNREACH) and flanneld logs::

    Error adding route to 192.168.2.0/24 via 10.20.1.2 dev index 2: network is unreachable

Traffic: pod-1 pings pod-2 (two plain IP hops, no encapsulation, TTL 62 at
pod-2) and sends it a 1400-byte UDP datagram; then pod-1 pings pod-3: node1
has no route for 192.168.2.0/24, so the packet follows the default route to
the router, which has none either and drops it (``IP_NOROUTE``; its ICMP
"net unreachable" cannot be sent back, since the router has no route to the
pod network).  The capture's comments and ``emunet trace`` show it dying there.
"""
from emunet.apps.ping import Ping
from emunet.scenarios.flannel_udp import FlannelLab
from emunet.sim import S
from emunet.topology import Cluster


class FlannelHostGw(FlannelLab):
    backend = "host-gw"

    def __init__(self, seed: int = 1, capture: bool = True):
        super().__init__("flannel-host-gw", seed, capture)
        c = self.cluster = Cluster(self.sim, backend="host-gw", network="192.168.0.0/16",
                                   subnet_min="192.168.0.0", runtime="cni")
        c.add_segment("lan0", "10.20.0.0/24", gateway="10.20.0.1")
        c.add_segment("lan1", "10.20.1.0/24", gateway="10.20.1.1")
        self.node1 = c.add_node("node1", "10.20.0.2", subnet="192.168.0.0/24")
        self.node2 = c.add_node("node2", "10.20.0.3", subnet="192.168.1.0/24")
        self.node3 = c.add_node("node3", "10.20.1.2", subnet="192.168.2.0/24")
        self.pod1 = c.add_pod(self.node1, "pod-1", "192.168.0.2")
        self.pod2 = c.add_pod(self.node2, "pod-2", "192.168.1.2")
        self.pod3 = c.add_pod(self.node3, "pod-3", "192.168.2.2")
        self.client, self.server, self.unreachable = self.pod1, self.pod2, self.pod3
        self.hosts.update({"node1": self.node1, "node2": self.node2, "node3": self.node3,
                           "etcd": c.etcd, "cluster": c})
        self._start_echo()
        self.ping3 = None

    def traffic(self) -> None:
        super().traffic()
        self.sim.after(2 * S, self._ping_node3)

    def _ping_node3(self) -> None:
        self.ping3 = self.spawn(self.pod1.ns, Ping(self.pod3.ip, count=1, linger=5.0),
                                f"kubectl exec {self.pod1.name} -- ping -c 1 -W 5 {self.pod3.ip}")

    def run(self):
        super().run()
        errs = self.node1.flanneld.errors()
        if errs:
            self.transcript.append("$ journalctl -u flanneld   # on node1, errors only")
            self.transcript.extend(line for line in self.node1.flanneld.stderr if line.startswith("E"))
        return self


def build(seed: int = 1, capture: bool = True) -> FlannelHostGw:
    return FlannelHostGw(seed, capture)
