"""Calico (``projectcalico/calico``): IPAM, the CNI plugin, Felix and calico-node.

What each piece does here, and the real component it mirrors:

* **The datastore** is an etcd (:class:`~emunet.control.etcd.EtcdStore`) holding Calico's
  etcdv3 keys: the IP pool (``/calico/resources/v3/projectcalico.org/ippools/<name>``), one
  ``Node`` resource per machine (its BGP address and tunnel addresses), the IPAM blocks
  with their host affinities (``/calico/ipam/v2/assignment/ipv4/block/10.20.0.0-24``,
  ``/calico/ipam/v2/host/<node>/ipv4/block/...``), and a ``WorkloadEndpoint`` per pod.
* **IPAM** (``calico-ipam``, ``libcalico-go/lib/ipam``): a pool is cut into blocks
  (``blockSize``, 26 by default; the seed gives each node a /24); a node claims a block
  when it first needs an address and hands addresses out of it, lowest first.  Real
  Calico starts its search for a free block at a random place in the pool; here blocks
  are taken in order (or named by the caller), so that addresses are predictable.
* **The CNI plugin** (``cni-plugin/pkg/dataplane/linux``): per pod a veth pair, ``eth0``
  in the pod with a ``/32`` and the routes ``169.254.1.1 dev eth0 scope link`` and
  ``default via 169.254.1.1 dev eth0``; the host end named ``cali`` + the first 11 hex
  digits of SHA-1 of ``<k8s namespace>.<pod>`` with MAC ``ee:ee:ee:ee:ee:ee`` and the
  sysctls ``proxy_arp=1``, ``neigh.proxy_delay=0``, ``forwarding=1`` — so the host answers
  the pod's ARP for the fictitious gateway with its own cali MAC — and the host route
  ``<pod IP> dev caliX scope link``.  The veth MTU is the host's less the encapsulation
  (1500 with none, 1480 with IPIP, 1450 with VXLAN).
* **Felix** (``felix/dataplane/linux``): for each local workload a route and a static ARP
  entry (``routetable`` ``DestMAC``: the host never ARPs for its pods); in IPIP mode it
  brings ``tunl0`` up with MTU host − 20 and the node's tunnel address as a /32; in VXLAN
  mode it creates ``vxlan.calico`` (VNI 4096, port 4789, ``nolearning``, MTU host − 50,
  a random VTEP MAC it publishes in the Node resource) and, for every other node's block,
  what ``vxlan_mgr`` programs: ``<block> via <its VTEP address> dev vxlan.calico onlink``,
  the permanent neighbour and the FDB entry ``<VTEP MAC> dst <node IP>`` (CrossSubnet:
  nodes on the same subnet get a plain ``<block> via <node IP> dev eth0 onlink``), and
  ``blackhole <own block>``; those routes carry ``proto 80``, Felix's own protocol number.
* **confd and BIRD** (``confd/etc/calico/confd/templates/bird*.cfg.template``): in the BGP
  and IPIP modes each node runs :class:`~emunet.control.bgp.Bird` as confd configures it from
  the datastore — router id and AS from the Node resource; with the node-to-node mesh one
  ``protocol bgp Mesh_A_B_C_D`` per other node (passive towards an address that sorts
  higher), none on route reflectors; one ``Node_A_B_C_D`` per peer a ``BGPPeer`` resource
  selects, in both directions, with ``rr client; rr cluster id`` where a reflector meets a
  node of another cluster; ``protocol static`` with a blackhole per block of the node; the
  export filter ``calico_export_to_bgp_peers`` (each block exactly, nothing inside it) and the
  kernel filter ``calico_kernel_programming`` (``krt_tunnel = "tunl0"`` for IPIP pools, only
  towards other subnets with CrossSubnet).  confd re-renders when the datastore changes and
  BIRD reconfigures: new peers start, removed ones get Cease "Peer de-configured".  VXLAN
  mode needs no BGP (``calico_backend: vxlan``).
"""
import hashlib
import ipaddress
import json

import attrs

from emunet.cluster import Machine, Pod, Segment, Underlay
from emunet.control.etcd import EtcdStore
from emunet.control.gojson import go_json
from emunet.devices.ipip import IPIP_OVERHEAD, Ipip
from emunet.devices.veth import veth_pair
from emunet.devices.vxlan import Vxlan
from emunet.apps.base import Process
from emunet.control.bgp import (CALICO_BIRD_VERSION, Bird, StaticRoute, BgpPeer, CALICO_PEER,
                                calico_export_to_bgp_peers, calico_kernel_programming, calico_mesh_peer)
from emunet.stack.namespace import Namespace
from emunet.wire.ethernet import eth_random_addr, mac_to_bytes, mac_to_str
from emunet.wire.ipv4 import ip_to_int
from emunet.wire.vxlan import IANA_VXLAN_PORT, VXLAN_OVERHEAD

#: the MAC Calico gives every host-side veth
HOST_VETH_MAC = "ee:ee:ee:ee:ee:ee"
#: the pods' default gateway: nobody has it, the host answers its ARP by proxy
POD_GATEWAY = "169.254.1.1"
DEFAULT_AS = 64512
VXLAN_DEVICE = "vxlan.calico"
VXLAN_VNI = 4096
#: ``RTPROT`` number of the routes Felix programs (``ip route`` prints ``proto 80``)
FELIX_PROTO = "80"

RESOURCES = "/calico/resources/v3/projectcalico.org"
IPAM = "/calico/ipam/v2"
_MODES = ("Never", "Always", "CrossSubnet")


def veth_name(k8s_namespace: str, pod: str, prefix: str = "cali") -> str:
    """``VethNameForWorkload``: the prefix and 11 hex digits of SHA-1 of ``namespace.pod``."""
    return prefix + hashlib.sha1(f"{k8s_namespace}.{pod}".encode()).hexdigest()[:11]


def block_key(cidr: ipaddress.IPv4Network) -> str:
    return f"{cidr.network_address}-{cidr.prefixlen}"


@attrs.frozen
class IpPool:
    """An ``IPPool`` resource: where pod addresses come from and how they travel."""

    cidr: str = "192.168.0.0/16"
    block_size: int = 26
    ipip_mode: str = "Never"
    vxlan_mode: str = "Never"
    nat_outgoing: bool = False
    name: str = "default-ipv4-ippool"

    def __attrs_post_init__(self):
        net = self.network
        if self.ipip_mode not in _MODES or self.vxlan_mode not in _MODES:
            raise ValueError(f"IPPool {self.name}: ipipMode and vxlanMode are one of {', '.join(_MODES)} "
                             f"(got {self.ipip_mode!r}, {self.vxlan_mode!r})")
        if self.ipip_mode != "Never" and self.vxlan_mode != "Never":
            raise ValueError(f"IPPool {self.name}: IPIP and VXLAN cannot both be enabled on one pool")
        if not net.prefixlen <= self.block_size <= 32:
            raise ValueError(f"IPPool {self.name}: blockSize {self.block_size} must lie between the pool's "
                             f"prefix length /{net.prefixlen} and 32")

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.cidr)

    @property
    def encap(self) -> str:
        """"ipip", "vxlan" or "" (plain BGP-routed)."""
        return "ipip" if self.ipip_mode != "Never" else "vxlan" if self.vxlan_mode != "Never" else ""

    def veth_mtu(self, host_mtu: int) -> int:
        return host_mtu - {"ipip": IPIP_OVERHEAD, "vxlan": VXLAN_OVERHEAD}.get(self.encap, 0)

    def resource(self) -> dict:
        return {"kind": "IPPool", "apiVersion": "projectcalico.org/v3", "metadata": {"name": self.name},
                "spec": {"cidr": self.cidr, "vxlanMode": self.vxlan_mode, "ipipMode": self.ipip_mode,
                         "natOutgoing": self.nat_outgoing, "blockSize": self.block_size,
                         "nodeSelector": "all()"}}


@attrs.frozen
class BgpPeerResource:
    """A ``BGPPeer`` resource: nodes matching ``node_selector`` peer with those matching
    ``peer_selector`` (or with ``peer_ip`` / ``as_number``, a router outside the cluster)."""

    name: str
    node_selector: str = "all()"
    peer_selector: str = None
    peer_ip: str = None
    as_number: int = None

    def resource(self) -> dict:
        spec = {"nodeSelector": self.node_selector}
        if self.peer_selector:
            spec["peerSelector"] = self.peer_selector
        if self.peer_ip:
            spec["peerIP"] = self.peer_ip
        if self.as_number:
            spec["asNumber"] = self.as_number
        return {"kind": "BGPPeer", "apiVersion": "projectcalico.org/v3", "metadata": {"name": self.name},
                "spec": spec}


def selector_matches(selector: str, labels: dict) -> bool:
    """Calico's selector language, the part BGP peerings use: ``all()``, ``has(k)``,
    ``!has(k)``, ``k == 'v'``, ``k != 'v'``, joined by ``&&``."""
    for term in (t.strip() for t in selector.split("&&")):
        if term == "all()":
            continue
        if term.startswith("has(") and term.endswith(")"):
            ok = term[4:-1].strip() in labels
        elif term.startswith("!has(") and term.endswith(")"):
            ok = term[5:-1].strip() not in labels
        elif "==" in term or "!=" in term:
            op = "==" if "==" in term else "!="
            key, value = (x.strip() for x in term.split(op, 1))
            value = value.strip("'\"")
            ok = (labels.get(key) == value) == (op == "==")
        else:
            raise ValueError(f"selector {selector!r}: cannot parse {term!r}")
        if not ok:
            return False
    return True


@attrs.define(eq=False)
class Block:
    """An IPAM block (``AllocationBlock``): a CIDR, its host affinity, who holds which address."""

    cidr: ipaddress.IPv4Network
    host: str
    allocations: dict = attrs.Factory(dict)   # ordinal -> handle

    def value(self) -> str:
        size = self.cidr.num_addresses
        handles = []
        allocations = []
        for i in range(size):
            h = self.allocations.get(i)
            if h is None:
                allocations.append(None)
            else:
                if h not in handles:
                    handles.append(h)
                allocations.append(handles.index(h))
        return go_json({"cidr": str(self.cidr), "affinity": f"host:{self.host}", "allocations": allocations,
                        "unallocated": [i for i in range(size) if i not in self.allocations],
                        "attributes": [{"handle_id": h, "secondary": None} for h in handles],
                        "deleted": False})


class Ipam:
    """``calico-ipam``: blocks with host affinity; addresses lowest first within a block."""

    def __init__(self, store: EtcdStore, pool: IpPool):
        self.store = store
        self.pool = pool
        self.blocks = {}          # network -> Block
        self.by_ip = {}           # IPv4Address -> (Block, handle)

    def host_blocks(self, host: str) -> list:
        return [b for b in self.blocks.values() if b.host == host]

    def check_block(self, host: str, cidr: str) -> ipaddress.IPv4Network:
        """The block ``cidr`` if ``host`` may claim it; else ValueError naming why."""
        pool = self.pool.network
        net = ipaddress.IPv4Network(cidr)
        if net.prefixlen != self.pool.block_size or not net.subnet_of(pool):
            raise ValueError(f"block {net} for {host}: not a /{self.pool.block_size} block of pool "
                             f"{self.pool.name} ({pool})")
        owner = self.blocks.get(net)
        if owner is not None:
            raise ValueError(f"block {net} for {host}: already affine to {owner.host}")
        return net

    def claim_block(self, host: str, cidr: str = None) -> Block:
        """``claimAffineBlock``: the named block, or the first free one of the pool."""
        pool = self.pool.network
        if cidr is not None:
            net = self.check_block(host, cidr)
        else:
            net = next((n for n in pool.subnets(new_prefix=self.pool.block_size) if n not in self.blocks), None)
            if net is None:
                raise ValueError(f"IP pool {self.pool.name} ({pool}) has no free block left for {host}")
        b = Block(net, host)
        self.blocks[net] = b
        self.store.put(f"{IPAM}/host/{host}/ipv4/block/{block_key(net)}", go_json({"state": "confirmed",
                                                                                   "deleted": False}))
        self._write(b)
        return b

    def release_block(self, b: Block) -> None:
        """The block and its affinity deleted (IPAM garbage collection of a deleted node)."""
        del self.blocks[b.cidr]
        for ip in [ip for ip, (blk, _) in self.by_ip.items() if blk is b]:
            del self.by_ip[ip]
        self.store.delete(f"{IPAM}/host/{b.host}/ipv4/block/{block_key(b.cidr)}")
        self.store.delete(f"{IPAM}/assignment/ipv4/block/{block_key(b.cidr)}")

    def _write(self, b: Block) -> None:
        self.store.put(f"{IPAM}/assignment/ipv4/block/{block_key(b.cidr)}", b.value())

    def assign(self, host: str, handle: str, ip: str = None) -> ipaddress.IPv4Address:
        """``AutoAssign`` (or ``AssignIP`` when ``ip`` is given) for ``host``."""
        if ip is not None:
            addr = ipaddress.IPv4Address(ip)
            if addr in self.by_ip:
                raise ValueError(f"{addr} for {handle}: already assigned to {self.by_ip[addr][1]}")
            block = next((b for b in self.blocks.values() if addr in b.cidr), None)
            if block is None:
                if addr not in self.pool.network:
                    raise ValueError(f"{addr} for {handle}: not in IP pool {self.pool.name} ({self.pool.cidr})")
                base = ipaddress.IPv4Network(f"{addr}/{self.pool.block_size}", strict=False)
                block = self.claim_block(host, str(base))
            elif block.host != host:
                raise ValueError(f"{addr} for {handle}: its block {block.cidr} is affine to {block.host}, "
                                 f"not {host}")
        else:
            addr, block = None, None
            for b in self.host_blocks(host):
                free = next((i for i in range(b.cidr.num_addresses) if i not in b.allocations), None)
                if free is not None:
                    addr, block = b.cidr.network_address + free, b
                    break
            if block is None:
                block = self.claim_block(host)
                addr = block.cidr.network_address
        block.allocations[int(addr) - int(block.cidr.network_address)] = handle
        self.by_ip[addr] = (block, handle)
        self._write(block)
        return addr


def cni_add(host: Namespace, pod: str, ip: str, mtu: int = 1500, k8s_namespace: str = "default"):
    """The calico CNI plugin's dataplane work for one pod (``cni-plugin/pkg/dataplane/linux``):
    a new namespace ``pod`` with ``eth0`` (a random MAC, ``ip``/32, ``169.254.1.1 dev eth0
    scope link``, ``default via 169.254.1.1 dev eth0``), the host end ``cali…`` in ``host``
    with MAC ee:ee:ee:ee:ee:ee, ``proxy_arp=1``, ``neigh.proxy_delay=0``, ``forwarding=1``,
    and the host route ``ip dev cali… scope link``.  Returns (pod namespace, pod eth0,
    host veth)."""
    sim = host.sim
    host_name = veth_name(k8s_namespace, pod)
    pns = Namespace(sim, pod)
    pns.parent = host
    inside, outside = veth_pair(sim, "eth0", host_name, mtu=mtu, peer_mac=HOST_VETH_MAC)
    # the plugin creates the pair in the host and moves eth0 into the pod: the host numbers both
    inside.ifindex = host.alloc_ifindex()
    host.add_device(outside)
    pns.add_device(inside, ifindex=inside.ifindex)
    inside.set_up()
    pns.addr_add(inside, f"{ip}/32")
    pns.route_add(f"{POD_GATEWAY}/32", dev=inside, scope="link")
    pns.route_add("default", via=POD_GATEWAY, dev=inside)
    # the host side: proxy ARP answered at once, forwarding, then up, then the route
    for key, value in (("net.ipv4.conf.{}.proxy_arp", 1), ("net.ipv4.neigh.{}.proxy_delay", 0),
                       ("net.ipv4.conf.{}.forwarding", 1)):
        host.set_sysctl(key.format(host_name), value)
    outside.set_up()
    host.route_add(f"{ip}/32", dev=outside, scope="link", replace=True)
    return pns, inside, outside


class CalicoNode(Machine):
    """A machine running calico-node (Felix, and BIRD where BGP distributes routes)."""

    def __init__(self, cluster: "CalicoCluster", name: str, ns: Namespace, eth0, ip: str, segment: Segment,
                 as_num: int, rr_cluster_id: str = None, labels: dict = None):
        super().__init__(cluster, name, ns, eth0, ip, segment)
        self.labels = dict(labels or {})
        self.as_num = as_num
        self.rr_cluster_id = rr_cluster_id
        self.felix = None
        self.confd = None
        self.tunnel_addr = None      # tunl0's or vxlan.calico's address
        self.vtep_mac = None
        self.running = True

    def __repr__(self):
        return f"<CalicoNode {self.name} {self.ip}>"

    @property
    def blocks(self) -> list:
        return [b.cidr for b in self.cluster.ipam.host_blocks(self.name)]

    @property
    def network(self) -> ipaddress.IPv4Network:
        """The node's own subnet (confd's ``network_v4``, for CrossSubnet decisions)."""
        return self.segment.network

    @property
    def mtu(self) -> int:
        return self.cluster.pool.veth_mtu(self.eth0.mtu)

    def resource(self) -> dict:
        bgp = {"ipv4Address": f"{self.ip}/{self.segment.network.prefixlen}"}
        if self.cluster.pool.encap == "ipip" and self.tunnel_addr:
            bgp["ipv4IPIPTunnelAddr"] = str(self.tunnel_addr)
        if self.rr_cluster_id:
            bgp["routeReflectorClusterID"] = self.rr_cluster_id
        if self.as_num != self.cluster.as_num:
            bgp["asNumber"] = self.as_num
        spec = {"bgp": bgp}
        if self.cluster.pool.encap == "vxlan" and self.tunnel_addr:
            spec["ipv4VXLANTunnelAddr"] = str(self.tunnel_addr)
            spec["vxlanTunnelMACAddr"] = mac_to_str(self.vtep_mac)
        return {"kind": "Node", "apiVersion": "projectcalico.org/v3", "metadata": {"name": self.name},
                "spec": spec}

    @property
    def bird(self):
        return self.confd.bird if self.confd is not None else None

    def bird_peers(self) -> list:
        """The ``protocol bgp`` sections confd renders for this node, in its order."""
        c = self.cluster
        peers = []
        if c.node_mesh and not self.rr_cluster_id:
            for other in sorted(c.nodes.values(), key=lambda n: n.name):
                if other is self or other.rr_cluster_id or not other.running:
                    continue
                peers.append(calico_mesh_peer(self.ip, other.ip, asn=other.as_num))
        seen = set()
        for res in c.bgp_peers.values():
            targets = []
            if res.peer_ip:
                if selector_matches(res.node_selector, self.labels):
                    targets.append((res.peer_ip, res.as_number or c.as_num, None))
            elif res.peer_selector:
                for other in sorted(c.nodes.values(), key=lambda n: n.name):
                    if other is self or not other.running:
                        continue
                    # the peering applies both ways: we select them, or they select us
                    if (selector_matches(res.node_selector, self.labels) and
                            selector_matches(res.peer_selector, other.labels)) or \
                            (selector_matches(res.node_selector, other.labels) and
                             selector_matches(res.peer_selector, self.labels)):
                        targets.append((other.ip, other.as_num, other.rr_cluster_id or ""))
            for ip, asn, their_cluster in targets:
                if ip == self.ip or ip in seen:
                    continue
                seen.add(ip)
                client = bool(self.rr_cluster_id) and asn == self.as_num and their_cluster != self.rr_cluster_id
                cfg = dict(CALICO_PEER)
                peers.append(BgpPeer(ip, asn, name="Node_" + ip.replace(".", "_"), source_address=self.ip,
                                     rr_client=client, **cfg))
        return peers


class Felix(Process):
    """Felix's route, ARP and tunnel programming for one node."""

    name = "calico-felix"

    def __init__(self, node: CalicoNode):
        super().__init__()
        self.node = node
        self.cluster = node.cluster
        self.tunnel = None
        self._remote = {}          # block network -> what was programmed for it
        self._watches = []
        self._sync_pending = False

    def start(self) -> None:
        node, pool, ns = self.node, self.cluster.pool, self.ns
        if pool.encap == "ipip":
            tunl0 = ns.devices.get("tunl0")
            if tunl0 is None:
                tunl0 = ns.add_device(Ipip(self.sim, "tunl0"))
            tunl0.mtu = node.eth0.mtu - IPIP_OVERHEAD
            if node.tunnel_addr is not None:
                ns.addr_add(tunl0, f"{node.tunnel_addr}/32")
            tunl0.set_up()
            self.tunnel = tunl0
        elif pool.encap == "vxlan":
            dev = Vxlan(self.sim, VXLAN_DEVICE, VXLAN_VNI, node.ip, lower=node.eth0, mac=node.vtep_mac,
                        dstport=IANA_VXLAN_PORT, learning=False, mtu=node.eth0.mtu - VXLAN_OVERHEAD)
            ns.add_device(dev)
            ns.addr_add(dev, f"{node.tunnel_addr}/32")
            dev.set_up()
            self.tunnel = dev
            store = self.cluster.store
            self._watches.append(store.watch(f"{IPAM}/assignment/ipv4/block/", self._on_change,
                                             start_revision=1))
            self._watches.append(store.watch(f"{RESOURCES}/nodes/", self._on_change, start_revision=1))
        self._watches.append(self.cluster.store.watch(
            f"{RESOURCES}/workloadendpoints/", self._on_endpoint, start_revision=1))

    # -- workloads -------------------------------------------------------------------
    def _on_endpoint(self, events) -> None:
        """A workload endpoint of this node: its route and static ARP entry (pods are
        never deleted in the model, so only PUTs matter)."""
        ns = self.ns
        for ev in events:
            if ev.type != "PUT":
                continue
            spec = json.loads(ev.kv.value)["spec"]
            dev = ns.devices.get(spec["interfaceName"])
            if spec["node"] != self.node.name or dev is None:
                continue
            ip = ipaddress.IPv4Interface(spec["ipNetworks"][0]).ip
            ns.route_add(f"{ip}/32", dev=dev, scope="link", replace=True)
            ns.neigh.add_permanent(dev, int(ip), mac_to_bytes(spec["mac"]))

    # -- VXLAN ------------------------------------------------------------------------
    def _on_change(self, events) -> None:
        # one sync per batch of changes: every watch delivery of this instant comes first
        if not self._sync_pending:
            self._sync_pending = True
            self.sim.after(0, self.sync_vxlan)

    def sync_vxlan(self) -> None:
        """``vxlan_mgr``: the routes, neighbours and FDB entries for every block, as the
        datastore has them now (read from the IPAM and node objects the datastore's keys
        are written from)."""
        self._sync_pending = False
        if not self.running:
            return
        cluster, ns, dev, me = self.cluster, self.ns, self.tunnel, self.node
        want = {}
        for b in cluster.ipam.blocks.values():
            other = cluster.nodes.get(b.host)
            if b.host == me.name:
                want[b.cidr] = ("blackhole",)
            elif other is not None and other.vtep_mac is not None and other.running:
                same_subnet = cluster.pool.vxlan_mode == "CrossSubnet" and \
                    ipaddress.IPv4Address(other.ip) in me.network
                want[b.cidr] = ("direct", other.ip) if same_subnet else \
                    ("vxlan", str(other.tunnel_addr), other.vtep_mac, other.ip)
        for cidr in [c for c in self._remote if want.get(c) != self._remote[c]]:
            self._unprogram(cidr, self._remote.pop(cidr))
        for cidr, what in want.items():
            if self._remote.get(cidr) == what:
                continue
            if what[0] == "blackhole":
                ns.route_add(str(cidr), type="blackhole", proto=FELIX_PROTO, replace=True)
            elif what[0] == "direct":
                ns.route_add(str(cidr), dev=me.eth0, via=what[1], onlink=True, proto=FELIX_PROTO, replace=True)
            else:
                _, vtep, mac, node_ip = what
                ns.neigh.add_permanent(dev, ip_to_int(vtep), mac)
                dev.fdb_add(mac, node_ip)
                ns.route_add(str(cidr), dev=dev, via=vtep, onlink=True, proto=FELIX_PROTO, replace=True)
            self._remote[cidr] = what

    def _unprogram(self, cidr, what) -> None:
        ns = self.ns
        try:
            ns.route_del(str(cidr))
        except LookupError:
            pass
        if what[0] == "vxlan":
            _, vtep, mac, _ = what
            for undo in (lambda: ns.neigh.delete(self.tunnel, ip_to_int(vtep)),
                         lambda: self.tunnel.fdb_del(mac)):
                try:
                    undo()
                except LookupError:
                    pass

    def on_exit(self) -> None:
        for w in self._watches:
            w.cancel()


class Confd(Process):
    """calico-node's confd: renders BIRD's configuration from the datastore and (re)configures
    the node's ``bird``; one render per batch of changes."""

    name = "confd"

    def __init__(self, node: CalicoNode):
        super().__init__()
        self.node = node
        self.cluster = node.cluster
        self.bird = None
        self._pending = False
        self._watches = []
        self._blocks = ()
        self._export = None

    def start(self) -> None:
        store, node = self.cluster.store, self.node
        for prefix in (f"{RESOURCES}/nodes/", f"{RESOURCES}/bgppeers/", f"{RESOURCES}/bgpconfigurations/",
                       f"{IPAM}/host/{node.name}/"):
            self._watches.append(store.watch(prefix, self._changed, start_revision=store.revision + 1))
        self.render()

    def _changed(self, events) -> None:
        if not self._pending:
            self._pending = True
            self.sim.after(0, self.render)

    def calico_export_to_bgp_peers(self, r) -> bool:
        """The filter as confd last rendered it (birdc names it by this method's name)."""
        return self._export(r)

    def render(self) -> None:
        self._pending = False
        node, pool = self.node, self.cluster.pool
        if not node.running:
            return
        blocks = tuple(str(b) for b in node.blocks)
        if blocks != self._blocks or self._export is None:
            self._export = calico_export_to_bgp_peers([pool.cidr], blocks)
        peers = node.bird_peers()
        if self.bird is None:
            self._blocks = blocks
            kernel = calico_kernel_programming([(pool.cidr, pool.ipip_mode, pool.vxlan_mode)], str(node.network))
            self.bird = self.ns.spawn(Bird(node.ip, node.as_num, peers=peers,
                                           static_routes=[StaticRoute(b) for b in blocks],
                                           export=self.calico_export_to_bgp_peers, kernel_export=kernel,
                                           rr_cluster_id=node.rr_cluster_id, kernel_persist=True,
                                           direct=("-cali*", "-kube-ipvs*", "*"), version=CALICO_BIRD_VERSION))
            return
        bird = self.bird
        for b in blocks:
            if b not in self._blocks:
                bird.add_static(StaticRoute(b))
        for b in self._blocks:
            if b not in blocks:
                bird.remove_static(b)
        self._blocks = blocks
        have = {p.name: p.cf for p in bird.protocols if not p.deconfigured}
        want = {p.name: p for p in peers}
        for name, cf in have.items():
            if name not in want or want[name] != cf:
                bird.remove_peer(name)
        for name, cf in want.items():
            if name not in have or have[name] != cf:
                bird.add_peer(cf)

    def on_exit(self) -> None:
        for w in self._watches:
            w.cancel()


class CalicoCluster(Underlay):
    """Machines on an underlay running Calico with one IP pool.

    ``CalicoCluster(sim, IpPool("10.20.0.0/16", block_size=24))`` is the seed's BGP picture;
    ``ipip_mode`` / ``vxlan_mode`` on the pool choose the encapsulation."""

    def __init__(self, sim, pool: IpPool = None, as_num: int = DEFAULT_AS, node_mesh: bool = True,
                 store: EtcdStore = None, latency_ns: int = 1_000, bandwidth_bps: int = 10_000_000_000,
                 router_name: str = "router"):
        super().__init__(sim, latency_ns, bandwidth_bps, router_name)
        self.pool = pool or IpPool()
        self.as_num = as_num
        self.node_mesh = node_mesh
        self.store = store if store is not None else EtcdStore(sim)
        self.ipam = Ipam(self.store, self.pool)
        self.nodes = {}
        self.pods = {}
        self.bgp_peers = {}
        self.store.put(f"{RESOURCES}/ippools/{self.pool.name}", go_json(self.pool.resource()))
        self.store.put(f"{RESOURCES}/bgpconfigurations/default", go_json({
            "kind": "BGPConfiguration", "apiVersion": "projectcalico.org/v3", "metadata": {"name": "default"},
            "spec": {"nodeToNodeMeshEnabled": node_mesh, "asNumber": as_num}}))

    # -- nodes ------------------------------------------------------------------------
    def add_node(self, name: str, ip: str, block: str = None, mtu: int = 1500, as_num: int = None,
                 rr_cluster_id: str = None, labels: dict = None) -> CalicoNode:
        """A machine at ``ip`` running calico-node; ``block`` is the IPAM block it gets
        (the next free one of the pool when it first needs an address, if not given);
        ``rr_cluster_id`` makes it a route reflector; ``labels`` are what BGPPeer
        selectors match."""
        if name in self.nodes:
            raise ValueError(f"a node named {name!r} already exists")
        if block is not None:
            self.ipam.check_block(name, block)
        ns, eth0, seg = self.add_machine(name, ip, mtu, [(n.name, n.ip) for n in self.nodes.values()])
        node = CalicoNode(self, name, ns, eth0, ip, seg, as_num or self.as_num, rr_cluster_id, labels)
        self.nodes[name] = node
        if block is not None:
            self.ipam.claim_block(name, block)
        # calico-node's startup: the tunnel address (and VTEP MAC) before Felix starts
        encap = self.pool.encap
        if encap:
            node.tunnel_addr = self.ipam.assign(name, f"{encap}-tunnel-addr-{name}")
        if encap == "vxlan":
            node.vtep_mac = eth_random_addr(self.sim.rng)
        self._put_node(node)
        node.felix = ns.spawn(Felix(node))
        if self.pool.encap != "vxlan":
            node.confd = ns.spawn(Confd(node))
        return node

    def remove_node(self, name: str) -> None:
        """Take a node out of the cluster as an operator does: calico-node stops (BIRD sends
        its peers Cease "Administrative shutdown", so they withdraw its routes at once),
        then ``calicoctl delete node`` removes its Node resource and releases its blocks,
        and the other nodes' confd drop their peering with it.  The machine itself stays."""
        node = self.nodes.get(name)
        if node is None:
            raise KeyError(f"no Calico node named {name!r}; there are: {', '.join(self.nodes)}")
        if node.bird is not None:
            node.bird.stop()
        for p in (node.confd, node.felix):
            if p is not None:
                p.exit(0)
        node.running = False
        del self.nodes[name]
        for b in self.ipam.host_blocks(name):
            self.ipam.release_block(b)
        self.store.delete(f"{RESOURCES}/nodes/{name}")

    def add_bgp_peer(self, name: str, node_selector: str = "all()", peer_selector: str = None,
                     peer_ip: str = None, as_number: int = None) -> BgpPeerResource:
        """``calicoctl apply`` of a ``BGPPeer``, e.g. every node with the route reflectors:
        ``add_bgp_peer("peer-with-route-reflectors", "all()", "route-reflector == 'true'")``."""
        if (peer_selector is None) == (peer_ip is None):
            raise ValueError(f"BGPPeer {name}: give either a peer selector or a peer IP")
        for sel in (node_selector, peer_selector):
            if sel is not None:
                selector_matches(sel, {})       # refuse what cannot be parsed, now
        res = BgpPeerResource(name, node_selector, peer_selector, peer_ip, as_number)
        self.bgp_peers[name] = res
        self.store.put(f"{RESOURCES}/bgppeers/{name}", go_json(res.resource()))
        return res

    def set_node_mesh(self, enabled: bool) -> None:
        """``BGPConfiguration default``: ``nodeToNodeMeshEnabled``."""
        self.node_mesh = enabled
        self.store.put(f"{RESOURCES}/bgpconfigurations/default", go_json({
            "kind": "BGPConfiguration", "apiVersion": "projectcalico.org/v3", "metadata": {"name": "default"},
            "spec": {"nodeToNodeMeshEnabled": enabled, "asNumber": self.as_num}}))

    def established(self) -> bool:
        """Every node's BGP sessions are up (VXLAN mode has none)."""
        return all(n.bird is None or all(st == "Established" for st in n.bird.sessions().values())
                   for n in self.nodes.values() if n.running)

    def _put_node(self, node: CalicoNode) -> None:
        self.store.put(f"{RESOURCES}/nodes/{node.name}", go_json(node.resource()))

    # -- pods -------------------------------------------------------------------------
    def add_pod(self, node, name: str, ip: str = None, k8s_namespace: str = "default") -> Pod:
        """The CNI ADD the kubelet runs for a new pod on ``node``."""
        if isinstance(node, str):
            node = self.nodes[node]
        if name in self.pods:
            raise ValueError(f"a pod named {name!r} already exists")
        host_name = veth_name(k8s_namespace, name)
        if host_name in node.ns.devices:
            raise ValueError(f"{host_name} already exists on {node.name}")
        if name in self.sim.namespaces:
            raise ValueError(f"a namespace named {name!r} already exists")
        addr = self.ipam.assign(node.name, f"k8s-pod-network.{k8s_namespace}.{name}", ip)
        pns, inside, outside = cni_add(node.ns, name, str(addr), node.mtu, k8s_namespace)
        pod = Pod(name, node, pns, str(addr), inside.mac, outside, inside)
        node.pods.append(pod)
        self.pods[name] = pod
        wep = f"{node.name}-k8s-{name.replace('-', '--')}-eth0"
        self.store.put(f"{RESOURCES}/workloadendpoints/{k8s_namespace}/{wep}", go_json({
            "kind": "WorkloadEndpoint", "apiVersion": "projectcalico.org/v3",
            "metadata": {"name": wep, "namespace": k8s_namespace},
            "spec": {"orchestrator": "k8s", "node": node.name, "pod": name, "endpoint": "eth0",
                     "ipNetworks": [f"{addr}/32"], "interfaceName": host_name,
                     "mac": mac_to_str(inside.mac)}}))
        return pod

    # -- time -------------------------------------------------------------------------
    def settle(self, seconds: float = 0.01) -> None:
        self.sim.run(until=self.sim.time + seconds)


def calico_cluster(sim, nodes: int, peering: str = "mesh", pods_per_node: int = 1, pool: IpPool = None,
                   reflectors: int = 2, settle_limit: float = 600.0) -> CalicoCluster:
    """A Calico cluster of ``nodes`` nodes on one segment, ``pods_per_node`` pods each, run
    until every BGP session is up and every node has every other node's block.

    ``peering`` is "mesh" (the node-to-node mesh) or "rr": ``reflectors`` extra nodes
    ``rr1``… with cluster id 244.0.0.1 and the BGPPeer of Calico's route-reflector guide,
    the mesh off.  Nodes are 192.168.0.2 upwards (192.168.0.0/16), blocks /24 of the pool
    (10.0.0.0/8 unless given) in order."""
    if peering not in ("mesh", "rr"):
        raise ValueError(f"peering {peering!r}: one of 'mesh', 'rr'")
    c = CalicoCluster(sim, pool or IpPool("10.0.0.0/8", block_size=24), node_mesh=peering == "mesh")
    seg = c.add_segment("lan0", "192.168.0.0/16")
    base = int(seg.network.network_address)
    addrs = (str(ipaddress.IPv4Address(base + 2 + i)) for i in range(nodes + reflectors))
    workers = [c.add_node(f"node{i + 1}", next(addrs)) for i in range(nodes)]
    if peering == "rr":
        for i in range(reflectors):
            c.add_node(f"rr{i + 1}", next(addrs), rr_cluster_id="244.0.0.1", labels={"route-reflector": "true"})
        c.add_bgp_peer("peer-with-route-reflectors", "all()", "route-reflector == 'true'")
    for node in workers:
        for j in range(pods_per_node):
            c.add_pod(node, f"{node.name}-pod{j + 1}")
    want = len(workers) - 1

    def converged() -> bool:
        if not c.established():
            return False
        return all(sum(1 for r in n.ns.fib.main.routes() if r.proto == "bird" and r.type == "unicast") >= want
                   for n in workers)

    while not converged():
        if sim.time >= settle_limit:
            raise RuntimeError(f"calico_cluster: not converged after {settle_limit} s of virtual time")
        sim.run(until=sim.time + 0.5)
    return c


__all__ = ["CalicoCluster", "calico_cluster", "cni_add", "CalicoNode", "Felix", "Confd", "Ipam", "IpPool", "Block", "BgpPeerResource",
           "selector_matches", "veth_name",
           "HOST_VETH_MAC", "POD_GATEWAY", "DEFAULT_AS", "VXLAN_DEVICE", "VXLAN_VNI", 
           "FELIX_PROTO"]
