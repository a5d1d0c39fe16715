"""Calico's BGP mode with a route reflector instead of the node-to-node mesh.

The seed's advice for large clusters: "all routes are reported to a central node, and
other nodes are synchronized from the central node".  Four nodes (192.168.0.2-5, blocks
10.20.0.0/24 to 10.20.3.0/24, a pod each) and ``rr1`` (192.168.0.10), a calico node
configured as Calico's documentation configures a reflector::

    calicoctl patch node rr1 -p '{"spec":{"bgp":{"routeReflectorClusterID":"244.0.0.1"}}}'
    kubectl label node rr1 route-reflector=true
    BGPConfiguration default: nodeToNodeMeshEnabled: false
    BGPPeer peer-with-route-reflectors: nodeSelector all(), peerSelector route-reflector == 'true'

Each node has one session (``Node_192_168_0_10``), the reflector four, with ``rr client;
rr cluster id 244.0.0.1``: 4 sessions instead of the mesh's 10.  The reflector passes each
node's UPDATE on to the others with ORIGINATOR_ID = the originating node and CLUSTER_LIST
= 244.0.0.1 (RFC 4456), and the next hop unchanged, so node1 still routes
``10.20.3.0/24 via 192.168.0.5 dev eth0 proto bird`` straight to node4.  pod-1 then pings
pod-4 on node4.
"""
from emunet.scenarios.calico_lab import CalicoLab

CLUSTER_ID = "244.0.0.1"


class CalicoBgpRr(CalicoLab):
    def __init__(self, seed: int = 1, capture: bool = True):
        super().__init__("calico-bgp-rr", seed, capture, node_mesh=False)
        c = self.cluster
        c.add_segment("lan0", "192.168.0.0/24", gateway="192.168.0.1")
        self.nodes = [c.add_node(f"node{i + 1}", f"192.168.0.{i + 2}", block=f"10.20.{i}.0/24")
                      for i in range(4)]
        self.rr = c.add_node("rr1", "192.168.0.10", rr_cluster_id=CLUSTER_ID,
                             labels={"route-reflector": "true"})
        c.add_bgp_peer("peer-with-route-reflectors", "all()", "route-reflector == 'true'")
        self.pods = [c.add_pod(n, f"pod-{i + 1}", f"10.20.{i}.2") for i, n in enumerate(self.nodes)]
        self.node1 = self.nodes[0]
        self.client, self.server = self.pods[0], self.pods[3]
        self.hosts.update({n.name: n for n in self.nodes})
        self.hosts.update({"rr1": self.rr, "etcd": c.store, "cluster": c})


def build(seed: int = 1, capture: bool = True) -> CalicoBgpRr:
    return CalicoBgpRr(seed, capture)
