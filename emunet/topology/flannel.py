"""A flannel cluster: machines on an underlay, flanneld on every one, pods on them.

Each node runs flanneld (:mod:`emunet.control.flannel`) against the cluster's etcd
(:mod:`emunet.control.etcd`), then a container runtime reads its ``subnet.env``:

* ``runtime="docker"`` (the seed's UDP example): dockerd started with
  ``--bip=$FLANNEL_SUBNET --mtu=$FLANNEL_MTU`` makes ``docker0`` (MAC 02:42 +
  random) at once; a container gets ``eth0`` with MAC 02:42 + its IPv4 address
  (libnetwork ``GenerateMACFromIP``), the host end ``veth`` + 7 hex digits,
  and ``default via <bridge address>``;
* ``runtime="cni"`` (Kubernetes with flannel's CNI plugin delegating to the
  bridge plugin and host-local IPAM): ``cni0`` appears with the first pod; a
  pod gets MAC 0a:58 + its IPv4 address (the bridge plugin's
  ``hwaddr.PrivateMACPrefix``), the host end ``veth`` + 8 hex digits, and the
  routes ``default via <gw>`` and ``<FLANNEL_NETWORK> via <gw>``.

Addresses are the caller's; what is random (VTEP MACs, veth names and MACs,
bridge MACs, subnet picks without a previous subnet) comes from ``sim.rng``.
"""
import ipaddress

from emunet.control.docker import mac_from_ip
from emunet.control.etcd import EtcdStore
from emunet.control.flannel import PREFIX, Flanneld, network_config_json
from emunet.control.kube_proxy import KubeProxy
from emunet.devices.bridge import Bridge
from emunet.devices.switch import Nic
from emunet.devices.veth import veth_pair
from emunet.sim import US
from emunet.stack.namespace import Namespace
from emunet.topology.underlay import Machine, Pod, Segment, Underlay
from emunet.wire.ethernet import eth_random_addr


def cni_mac(ip) -> bytes:
    """The bridge CNI plugin's pod MAC: 0a:58 + the four address bytes."""
    return b"\x0a\x58" + ipaddress.IPv4Address(ip).packed


class Node(Machine):
    """A machine of a flannel cluster: flanneld, the bridge, pods."""

    def __init__(self, cluster: "Cluster", name: str, ns: Namespace, eth0: Nic, ip: str, segment: Segment):
        super().__init__(cluster, name, ns, eth0, ip, segment)
        self.flanneld = None
        self.kube_proxy = None
        self.bridge = None
        self._next_host = 2

    def __repr__(self):
        return f"<Node {self.name} {self.ip}>"

    @property
    def subnet(self) -> ipaddress.IPv4Network:
        return self.flanneld.lease.subnet

    @property
    def gateway(self) -> str:
        return str(self.subnet.network_address + 1)

    @property
    def mtu(self) -> int:
        return int(self.flanneld.subnet_env["FLANNEL_MTU"])

    def next_pod_ip(self) -> str:
        """host-local IPAM's next address: counting up from the subnet's .2 past what it
        handed out before, the first that no pod of the node holds."""
        used = {p.ip for p in self.pods}
        while True:
            cand = str(self.subnet.network_address + self._next_host)
            self._next_host += 1
            if cand not in used:
                return cand


class Cluster(Underlay):
    """Nodes, segments, a router and an etcd, with flannel's ``backend``; ``ip_masq`` and
    ``iptables_forward_rules`` are flanneld's ``--ip-masq`` and ``--iptables-forward-rules``."""

    def __init__(self, sim, backend="vxlan", network: str = "100.96.0.0/16", subnet_len: int = 24,
                 runtime: str = "cni", subnet_min: str = None, subnet_max: str = None,
                 etcd: EtcdStore = None, shared_kernel: bool = False, ip_masq: bool = False,
                 iptables_forward_rules: bool = False, latency_ns: int = 1 * US, bandwidth_bps: int = 10_000_000_000,
                 router_name: str = "router", pod_mtu: int = None):
        if runtime not in ("cni", "docker"):
            raise ValueError(f"runtime {runtime!r}: one of 'cni', 'docker'")
        super().__init__(sim, latency_ns, bandwidth_bps, router_name)
        #: an MTU for the bridge and the pods that overrides ``FLANNEL_MTU`` (a CNI
        #: configuration or ``dockerd --mtu`` that ignores subnet.env: the classic overlay
        #: misconfiguration); None: ``FLANNEL_MTU``, as flannel's CNI plugin passes it on
        self.pod_mtu = pod_mtu
        self.backend = backend if isinstance(backend, str) else backend.get("Type", "udp")
        self.network = ipaddress.IPv4Network(network)
        self.runtime = runtime
        self.bridge_name = "docker0" if runtime == "docker" else "cni0"
        self.etcd = etcd if etcd is not None else EtcdStore(sim)
        self.ip_masq = ip_masq
        self.iptables_forward_rules = iptables_forward_rules
        # one random key for every node's flow hash if the nodes share a kernel (netns test beds)
        self.hashrnd = sim.rng.getrandbits(32) if shared_kernel else None
        self.nodes = {}
        self.pods = {}
        self.services = {}
        self.endpoint_slices = {}
        self.etcd.put(f"{PREFIX}/config", network_config_json(str(self.network), backend, subnet_len,
                                                              SubnetMin=subnet_min, SubnetMax=subnet_max))

    # -- nodes ------------------------------------------------------------------
    def add_node(self, name: str, ip: str, subnet: str = None, public_ip: str = None,
                 mtu: int = 1500) -> Node:
        """A machine at ``ip`` (on the segment whose subnet holds it) running flanneld;
        ``subnet`` is the lease it had before (flanneld reuses it: ``FLANNEL_SUBNET``)."""
        if name in self.nodes:
            raise ValueError(f"a node named {name!r} already exists")
        ns, eth0, seg = self.add_machine(name, ip, mtu, [(n.name, n.ip) for n in self.nodes.values()])
        node = Node(self, name, ns, eth0, ip, seg)
        self.nodes[name] = node
        node.flanneld = ns.spawn(Flanneld(self.etcd, "eth0", public_ip=public_ip, previous_subnet=subnet,
                                          ip_masq=self.ip_masq, hashrnd=self.hashrnd,
                                          iptables_forward_rules=self.iptables_forward_rules))
        if not node.flanneld.running:
            raise RuntimeError(f"flanneld on {name} exited: " + "; ".join(node.flanneld.stderr[-2:]))
        if self.runtime == "docker":
            self._dockerd(node)
        return node

    def _bridge(self, node: Node) -> Bridge:
        """The node's bridge with the subnet's first address (docker0 by dockerd at start,
        cni0 by the bridge plugin with the first pod)."""
        env = node.flanneld.subnet_env
        mtu = self.pod_mtu or int(env["FLANNEL_MTU"])
        if self.runtime == "docker":
            mac = b"\x02\x42" + bytes(self.sim.rng.getrandbits(8) for _ in range(4))
        else:
            mac = eth_random_addr(self.sim.rng)
        br = Bridge(self.sim, self.bridge_name, mac, mtu)
        node.ns.add_device(br)
        br.set_up()
        node.ns.addr_add(br, env["FLANNEL_SUBNET"])
        node.bridge = br
        return br

    def _dockerd(self, node: Node) -> None:
        self._bridge(node)

    def add_pod(self, node, name: str = None, ip: str = None) -> Pod:
        """``docker run`` / a pod scheduled on ``node``: a namespace with ``eth0`` on the bridge."""
        if isinstance(node, str):
            node = self.nodes[node]
        if node.flanneld is None or node.flanneld.lease is None:
            raise RuntimeError(f"flanneld on {node.name} has no lease: no subnet for pods")
        name = name or f"{node.name}-pod{len(node.pods) + 1}"
        if name in self.pods:
            raise ValueError(f"a pod named {name!r} already exists")
        sn = node.subnet
        if ip is None:
            ip = node.next_pod_ip()
        addr = ipaddress.IPv4Address(ip)
        if addr not in sn or addr in (sn.network_address, sn.network_address + 1, sn.broadcast_address):
            raise ValueError(f"{ip} is not a usable pod address of {node.name}'s subnet {sn}")
        if any(p.ip == ip for p in node.pods):
            raise ValueError(f"{ip} is already used on {node.name}")
        br = node.bridge or self._bridge(node)
        mtu = br.mtu
        pns = Namespace(self.sim, name)
        hexdigits = 7 if self.runtime == "docker" else 8
        while True:
            host_name = "veth" + "".join(f"{self.sim.rng.getrandbits(4):x}" for _ in range(hexdigits))
            if host_name not in node.ns.devices:
                break
        mac = mac_from_ip(ip) if self.runtime == "docker" else cni_mac(ip)
        inside, outside = veth_pair(self.sim, "eth0", host_name, mac=mac, mtu=mtu)
        inside.ifindex = node.ns.alloc_ifindex()
        node.ns.add_device(outside)
        pns.add_device(inside, ifindex=inside.ifindex)
        br.add_port(outside)
        outside.set_up()
        inside.set_up()
        pns.addr_add(inside, f"{ip}/{sn.prefixlen}")
        gw = node.gateway
        pns.route_add("default", via=gw, dev="eth0")
        if self.runtime == "cni":
            pns.route_add(str(self.network), via=gw, dev="eth0")
        pod = Pod(name, node, pns, ip, mac, outside, inside)
        node.pods.append(pod)
        self.pods[name] = pod
        return pod

    # -- Kubernetes Services ----------------------------------------------------
    def start_kube_proxy(self, cluster_cidr: str = None, **kw) -> None:
        """``kube-proxy --proxy-mode=iptables --cluster-cidr=<the flannel network>`` on every
        node (``kw``: :class:`~emunet.control.kube_proxy.KubeProxy`'s options), fed the
        Services and EndpointSlices the cluster holds."""
        for node in self.nodes.values():
            if node.kube_proxy is None:
                kp = node.kube_proxy = node.ns.spawn(
                    KubeProxy(node.name, node.ip, cluster_cidr or str(self.network), **kw))
                for svc in self.services.values():
                    kp.on_service_update(svc)
                for sl in self.endpoint_slices.values():
                    kp.on_endpoint_slice_update(sl)

    def apply_service(self, service) -> None:
        """``kubectl apply`` of a Service: every kube-proxy's informer hears of it."""
        self.services[(service.namespace, service.name)] = service
        for node in self.nodes.values():
            if node.kube_proxy is not None:
                node.kube_proxy.on_service_update(service)

    def apply_endpoint_slice(self, slice_) -> None:
        """The EndpointSlice controller's update of a Service's endpoints."""
        self.endpoint_slices[(slice_.namespace, slice_.service)] = slice_
        for node in self.nodes.values():
            if node.kube_proxy is not None:
                node.kube_proxy.on_endpoint_slice_update(slice_)

    # -- time -----------------------------------------------------------------
    def settle(self, seconds: float = 0.01) -> None:
        """Let etcd watch events reach every flanneld (their delay is 1 ms)."""
        self.sim.run(until=self.sim.time + seconds)

    def converged(self) -> bool:
        """Every running flanneld knows every other node's lease."""
        live = {n.flanneld.lease.subnet for n in self.nodes.values() if n.flanneld.running}
        return all(set(n.flanneld.leases) | {n.flanneld.lease.subnet} >= live
                   for n in self.nodes.values() if n.flanneld.running)


def flannel_cluster(sim, nodes: int, backend: str = "vxlan", pods_per_node: int = 1,
                    network: str = None, underlay: str = None, **kw) -> Cluster:
    """A cluster of ``nodes`` nodes on one segment, ``pods_per_node`` pods each, settled.

    The defaults grow with the size: nodes on 10.168.0.0/24 up to 250 nodes, else
    10.168.0.0/16; pods from 100.96.0.0/16 (/24 per node) up to 250 nodes, else
    100.64.0.0/10."""
    big = nodes > 250
    underlay = underlay or ("10.168.0.0/16" if big else "10.168.0.0/24")
    network = network or ("100.64.0.0/10" if big else "100.96.0.0/16")
    c = Cluster(sim, backend=backend, network=network, **kw)
    seg = c.add_segment("lan0", underlay)
    base = int(seg.network.network_address)
    for i in range(nodes):
        ip = str(ipaddress.IPv4Address(base + 2 + i))
        node = c.add_node(f"node{i + 1}", ip)
        for _ in range(pods_per_node):
            c.add_pod(node)
    c.settle(0.01)
    return c


__all__ = ["cni_mac", "Node", "Cluster", "flannel_cluster"]
