"""The seed's Flannel UDP walkthrough: Container-1 on Node1 reaches Container-4 on Node2.

Node1 (10.168.0.2) and Node2 (10.168.0.3) share the L2 segment 10.168.0.0/24
whose router is 10.168.0.1; flannel's network is 100.96.0.0/16 with the
subnets 100.96.1.0/24 (Node1) and 100.96.2.0/24 (Node2); docker0 holds the
subnet's first address and four containers hang off the two docker0 bridges
(Container-1 100.96.1.2 and Container-2 100.96.1.3 on Node1, Container-4
100.96.2.2 and Container-3 100.96.2.3 on Node2).  The node routing tables are
the seed's, line for line::

    default via 10.168.0.1 dev eth0
    100.96.0.0/16 dev flannel0 proto kernel scope link src 100.96.1.0
    100.96.1.0/24 dev docker0 proto kernel scope link src 100.96.1.1
    10.168.0.0/24 dev eth0 proto kernel scope link src 10.168.0.2

(``ip route`` prints them in address order: 10.168.0.0/24 before 100.96.0.0/16.)

Traffic: ``ping -c 1 100.96.2.2`` from Container-1, then one 1400-byte UDP
datagram to an echo server on Container-4 (port 7).  The path of a packet is
the seed's ten steps: container → veth → docker0 → route ``100.96.0.0/16 dev
flannel0`` → flanneld reads it from the TUN (kernel → user) → finds
100.96.2.0/24's lease (PublicIP 10.168.0.3) → ``sendto`` 10.168.0.3:8285
(user → kernel) → eth0, the switch, Node2's eth0 → flanneld on Node2 (kernel →
user) → ``write`` into flannel0 (user → kernel) → route ``100.96.2.0/24 dev
docker0`` → Container-4.  flanneld's proxy decrements the TTL on both sides, so
Container-4 sees TTL 60 (64 minus two kernel forwards and two proxy hops).

This module also holds :class:`FlannelLab`, which the VXLAN and host-gw
scenarios build on.
"""
from emunet.observe.capture import Capture
from emunet.scenarios.base import PodPairLab, ping_across
from emunet.sim import Simulator
from emunet.topology import Cluster


class FlannelLab(PodPairLab):
    """A flannel cluster scenario (see :class:`PodPairLab`): the cluster settles when every
    flanneld has its lease and its peers'."""

    backend = "udp"

    def seed_pair(self, runtime: str, pod: str, **cluster_kw) -> None:
        """The seed's two nodes with this scenario's backend: node1 10.168.0.2 (subnet
        100.96.1.0/24) and node2 10.168.0.3 (100.96.2.0/24) on lan0 (router 10.168.0.1),
        network 100.96.0.0/16, two pods on each, ``pod``-1 (the client) and -2 on node1, -4
        (the server, echoing on port 7) and -3 on node2; their attributes are ``pod`` without
        its dash and the number (``container1``, ``pod4``); ``cluster_kw`` go to the
        :class:`~emunet.topology.Cluster` (``ip_masq=True``, ...)."""
        c = self.cluster = Cluster(self.sim, backend=self.backend, network="100.96.0.0/16", runtime=runtime,
                                   **cluster_kw)
        c.add_segment("lan0", "10.168.0.0/24", gateway="10.168.0.1")
        self.node1 = c.add_node("node1", "10.168.0.2", subnet="100.96.1.0/24")
        self.node2 = c.add_node("node2", "10.168.0.3", subnet="100.96.2.0/24")
        attr = pod.replace("-", "")
        for node, n, ip in ((self.node1, 1, "100.96.1.2"), (self.node1, 2, "100.96.1.3"),
                            (self.node2, 4, "100.96.2.2"), (self.node2, 3, "100.96.2.3")):
            setattr(self, f"{attr}{n}", c.add_pod(node, f"{pod}-{n}", ip))
        self.client, self.server = getattr(self, f"{attr}1"), getattr(self, f"{attr}4")
        self.hosts.update({"node1": self.node1, "node2": self.node2, "etcd": c.etcd, "cluster": c})
        self._start_echo()

    def settle(self) -> None:
        if not self._settled:
            self.cluster.settle()
            self._settled = True

    def prompt(self, command: str) -> str:
        if self.cluster.runtime == "docker":
            return f"docker exec -it {self.client.name} {command}"
        return super().prompt(command)

    def across_router(self, seed: int = 1):
        """The same backend with the two nodes on different subnets behind a router: does a
        ping arrive?  (arrived, flanneld's errors on node1, drop reasons)"""
        c = self.cluster
        return across_router(c.backend, c.runtime, str(c.network), seed)


def across_router(backend: str, runtime: str, network: str, seed: int = 1):
    """Two flannel nodes on different subnets behind a router, one pod each, one ping.
    Returns (arrived, flanneld errors on node1, drop reasons seen)."""
    sim = Simulator(seed=seed)
    capture = Capture.attach(sim)
    c = Cluster(sim, backend=backend, runtime=runtime, network=network)
    c.add_segment("lan0", "10.168.0.0/24")
    c.add_segment("lan1", "10.168.1.0/24")
    n1 = c.add_node("node1", "10.168.0.2")
    n2 = c.add_node("node2", "10.168.1.2")
    p1 = c.add_pod(n1, "a")
    p2 = c.add_pod(n2, "b")
    c.settle()
    ok, drops = ping_across(sim, capture, p1, p2)
    return ok, n1.flanneld.errors(), drops


class FlannelUdp(FlannelLab):
    backend = "udp"

    def __init__(self, seed: int = 1, capture: bool = True):
        super().__init__("flannel-udp", seed, capture)
        self.seed_pair("docker", "container")


def build(seed: int = 1, capture: bool = True) -> FlannelUdp:
    return FlannelUdp(seed, capture)
