"""What the Calico scenarios share: the seed's two nodes, four pods, and their traffic.

The seed's Calico picture: nodes 192.168.0.2 (``node1``) and 192.168.0.3 (``node2``)
on one L2 segment (192.168.0.0/24, router 192.168.0.1), the pool 10.20.0.0/16 cut
into /24 blocks, 10.20.0.0/24 on node1 (pods 10.20.0.2 and 10.20.0.3) and
10.20.1.0/24 on node2 (pods 10.20.1.2 and 10.20.1.3).  The traffic is flannel's:
``ping -c 1`` from pod-1 to pod-3, then one 1400-byte UDP datagram to an echo
server on pod-3, port 7.
"""
from emunet.control.calico import IpPool
from emunet.observe.capture import Capture
from emunet.scenarios.base import PodPairLab, ping_across
from emunet.sim import Simulator
from emunet.topology import CalicoCluster

POOL = "10.20.0.0/16"


class CalicoLab(PodPairLab):
    """A Calico cluster scenario (see :class:`PodPairLab`): ``client`` is pod-1 on node1,
    ``server`` pod-3 on node2; it settles when every BGP session is up."""

    #: the earliest the traffic starts; with BGP, also not before every session is up
    start = 0.01
    #: the longest ``settle`` waits for BGP (virtual seconds)
    settle_limit = 60.0

    def __init__(self, name: str, seed: int = 1, capture: bool = True, pool: IpPool = None, **cluster_kw):
        super().__init__(name, seed, capture)
        self.cluster = CalicoCluster(self.sim, pool or IpPool(POOL, block_size=24), **cluster_kw)

    def seed_nodes(self, labels: dict = None) -> None:
        """The seed's nodes and pods on one segment; ``labels`` maps a pod's name to its
        Kubernetes labels."""
        c = self.cluster
        labels = labels or {}
        c.add_segment("lan0", "192.168.0.0/24", gateway="192.168.0.1")
        self.node1 = c.add_node("node1", "192.168.0.2", block="10.20.0.0/24")
        self.node2 = c.add_node("node2", "192.168.0.3", block="10.20.1.0/24")
        self.pod1 = c.add_pod(self.node1, "pod-1", "10.20.0.2", labels=labels.get("pod-1"))
        self.pod2 = c.add_pod(self.node1, "pod-2", "10.20.0.3", labels=labels.get("pod-2"))
        self.pod3 = c.add_pod(self.node2, "pod-3", "10.20.1.2", labels=labels.get("pod-3"))
        self.pod4 = c.add_pod(self.node2, "pod-4", "10.20.1.3", labels=labels.get("pod-4"))
        self.client, self.server = self.pod1, self.pod3
        self.hosts.update({"node1": self.node1, "node2": self.node2, "etcd": c.store, "cluster": c})

    def settle(self) -> None:
        """Run until every BGP session is Established and the routes have been installed
        (half a second after that), or ``settle_limit``."""
        if self._settled:
            return
        sim = self.sim
        sim.run(until=max(sim.time, self.start))
        while not self.cluster.established() and sim.time < self.settle_limit:
            sim.run(until=sim.time + 0.1)
        if any(n.bird is not None for n in self.cluster.nodes.values()):
            sim.run(until=sim.time + 0.5)
        self._settled = True

    def traffic(self) -> None:
        self._start_echo()
        super().traffic()

    def across_router(self, seed: int = 1, observers=()):
        """The same pool with two nodes on different subnets behind a router: does a ping
        from a pod on one reach a pod on the other?  (arrived, errors, drop reasons)
        ``observers`` (a Trace, say) watch that cluster from its start."""
        sim = Simulator(seed=seed)
        capture = Capture.attach(sim)
        sim.observers.extend(observers)
        c = CalicoCluster(sim, self.cluster.pool, as_num=self.cluster.as_num)
        c.add_segment("lan0", "192.168.0.0/24")
        c.add_segment("lan1", "192.168.1.0/24")
        n1, n2 = c.add_node("node1", "192.168.0.2"), c.add_node("node2", "192.168.1.2")
        a, b = c.add_pod(n1, "a"), c.add_pod(n2, "b")
        sim.run(until=self.start)
        while not c.established() and sim.time < self.settle_limit:
            sim.run(until=sim.time + 0.1)
        sim.run(until=sim.time + 0.5)
        ok, drops = ping_across(sim, capture, a, b)
        return ok, [], drops

