"""The machines' network: L2 segments on switches, a router between them, machines cabled to
them, and the pods the cluster builders put on the machines.

Every machine is a namespace (``node1``) with a physical NIC ``eth0`` cabled to a
:class:`~emunet.devices.switch.Switch`; one switch is one L2 segment with one IPv4 subnet,
and a ``router`` namespace holds the segments' gateway addresses (``.1``: the machines'
``default via 10.168.0.1 dev eth0``) and forwards between segments.  Machines on one segment
share an L2 domain; machines on different segments reach each other only through the router.
A machine's NIC has the MAC 42:01 + its IPv4 address (the convention of GCE, whose
10.168.0.0/20 subnet the seed's addresses come from).

What runs on the machines is a builder's business: flannel's (:mod:`emunet.topology.flannel`)
or Calico's (:mod:`emunet.topology.calico`).
"""
import ipaddress

from emunet.apps.ping import Ping
from emunet.devices.switch import Nic, Switch
from emunet.sim import US
from emunet.stack.namespace import Namespace


def nic_mac(ip) -> bytes:
    """42:01 + the four address bytes."""
    return b"\x42\x01" + ipaddress.IPv4Address(ip).packed


class Segment:
    """One L2 segment of the underlay: a switch, a subnet, the router's address on it."""

    def __init__(self, name: str, switch: Switch, network: ipaddress.IPv4Network, gateway: str,
                 router_nic: Nic):
        self.name = name
        self.switch = switch
        self.network = network
        self.gateway = gateway
        self.router_nic = router_nic

    def __repr__(self):
        return f"<Segment {self.name} {self.network} gw {self.gateway}>"


class Pod:
    """A container or pod: its own namespace, ``eth0`` on the node's bridge, and its
    Kubernetes ``labels``."""

    def __init__(self, name: str, node: "Machine", ns: Namespace, ip: str, mac: bytes, veth_host, eth0,
                 labels: dict = None):
        self.name = name
        self.labels = dict(labels or {})
        self.node = node
        self.ns = ns
        self.ip = ip
        self.mac = mac
        self.veth_host = veth_host
        self.eth0 = eth0

    def __repr__(self):
        return f"<Pod {self.name} {self.ip} on {self.node.name}>"

    @property
    def sim(self):
        return self.ns.sim

    def ping(self, dst: str, count: int = 1, **kw) -> Ping:
        return self.ns.spawn(Ping(dst, count=count, **kw))

    def spawn(self, process):
        return self.ns.spawn(process)


class Machine:
    """A machine on the underlay: its namespace, ``eth0`` on a segment, its address, its pods."""

    def __init__(self, cluster, name: str, ns: Namespace, eth0: Nic, ip: str, segment: Segment):
        self.cluster = cluster
        self.name = name
        self.ns = ns
        self.eth0 = eth0
        self.ip = ip
        self.segment = segment
        self.pods = []

    def ip_route(self) -> list:
        """The lines of ``ip route`` on the machine."""
        return [r.show() for r in self.ns.fib.main.routes()]


class Underlay:
    """The machines' network: L2 segments (a switch and an IPv4 subnet each) and a
    ``router`` namespace holding every segment's gateway address, forwarding between them.

    What runs on the machines is a subclass's business (flannel's
    :class:`~emunet.topology.flannel.Cluster`, Calico's
    :class:`~emunet.topology.calico.CalicoCluster`)."""

    def __init__(self, sim, latency_ns: int = 1 * US, bandwidth_bps: int = 10_000_000_000,
                 router_name: str = "router"):
        self.sim = sim
        self.latency_ns = latency_ns
        self.bandwidth_bps = bandwidth_bps
        self.router_name = router_name
        self.segments = {}
        self.router = None

    def add_segment(self, name: str, cidr: str, gateway: str = None) -> Segment:
        """An L2 segment (a switch) with subnet ``cidr``; the router gets ``gateway`` (the
        first host address unless given) on a new NIC cabled to it."""
        if name in self.segments:
            raise ValueError(f"a segment named {name!r} already exists")
        net = ipaddress.IPv4Network(cidr)
        for s in self.segments.values():
            if s.network.overlaps(net):
                raise ValueError(f"segment {name} ({net}) overlaps segment {s.name} ({s.network})")
        gw = gateway or str(net.network_address + 1)
        if self.router is None:
            self.router = Namespace(self.sim, self.router_name)
            self.router.set_sysctl("net.ipv4.ip_forward", 1)
        sw = Switch(self.sim, name, self.latency_ns, self.bandwidth_bps)
        nic = Nic(self.sim, f"eth{len(self.segments)}", nic_mac(gw))
        self.router.add_device(nic)
        sw.connect(nic)
        nic.set_up()
        self.router.addr_add(nic, f"{gw}/{net.prefixlen}")
        seg = Segment(name, sw, net, gw, nic)
        self.segments[name] = seg
        return seg

    def segment_of(self, ip: str) -> Segment:
        a = ipaddress.IPv4Address(ip)
        for s in self.segments.values():
            if a in s.network:
                return s
        raise ValueError(f"no segment has {ip}; segments: "
                         + ", ".join(f"{s.name} {s.network}" for s in self.segments.values()))

    def add_machine(self, name: str, ip: str, mtu: int = 1500, taken=()):
        """A machine at ``ip`` on the segment whose subnet holds it: a namespace with
        ``eth0`` (MAC 42:01 + the address) cabled to the segment's switch, the address,
        ``default via`` the segment's gateway, and ``ip_forward=1`` (it routes for its pods).
        ``taken`` lists (name, address) pairs already used.  Returns (namespace, eth0, segment)."""
        seg = self.segment_of(ip)
        if ip == seg.gateway:
            raise ValueError(f"{ip} is the router's address on segment {seg.name}")
        for other, other_ip in taken:
            if other_ip == ip:
                raise ValueError(f"{ip} is already {other}'s address")
        ns = Namespace(self.sim, name)
        ns.set_sysctl("net.ipv4.ip_forward", 1)
        eth0 = Nic(self.sim, "eth0", nic_mac(ip), mtu)
        ns.add_device(eth0)
        seg.switch.connect(eth0)
        eth0.set_up()
        ns.addr_add(eth0, f"{ip}/{seg.network.prefixlen}")
        ns.route_add("default", via=seg.gateway, dev="eth0")
        return ns, eth0, seg

    def unplug(self, machine) -> None:
        """Pull ``machine``'s cable out of its switch (its ``eth0`` loses its carrier; the
        others notice only by what stops arriving)."""
        sw = machine.eth0.switch
        if sw is None:
            raise ValueError(f"{machine.name}'s eth0 is not cabled")
        sw.disconnect(machine.eth0)

    def plug(self, machine) -> None:
        """Cable ``machine``'s ``eth0`` back into its segment's switch."""
        machine.segment.switch.connect(machine.eth0)


__all__ = ["nic_mac", "Segment", "Pod", "Machine", "Underlay"]
