"""Felix (``felix/dataplane/linux``): the route, ARP and tunnel programming of one node.

For each local workload a route and a static ARP entry (``routetable`` ``DestMAC``: the
host never ARPs for its pods); in IPIP mode it brings ``tunl0`` up with MTU host − 20 and
the node's tunnel address as a /32; in VXLAN mode it creates ``vxlan.calico`` (VNI 4096, port
4789, ``nolearning``, MTU host − 50, a random VTEP MAC it publishes in the Node resource)
and, for every other node's block, what ``vxlan_mgr`` programs: ``<block> via <its VTEP
address> dev vxlan.calico onlink``, the permanent neighbour and the FDB entry ``<VTEP MAC>
dst <node IP>`` (CrossSubnet: nodes on the same subnet get a plain ``<block> via <node IP>
dev eth0 onlink``), and ``blackhole <own block>``; those routes carry ``proto 80``, Felix's
own protocol number.

When the cluster runs Felix's iptables dataplane (``cluster.felix_iptables``), Felix also
programs policy: it keeps the workload endpoints, network policies, profiles and nodes of
the datastore (as its syncer does), and after each batch of changes renders the node's
filter-table chains and IP sets (:mod:`~emunet.control.calico.rules`,
:mod:`~emunet.control.calico.dataplane`) and writes what changed with ``ipset restore``
and ``iptables-restore --noflush``, as Felix v3.26 does.

Felix is given its node (a machine of a Calico cluster: ``name``, ``ip``, ``eth0``,
``network``, ``tunnel_addr``, ``vtep_mac``, ``running``, and its ``cluster`` with ``pool``,
``store``, ``ipam``, ``nodes`` and ``felix_iptables``) and reads the datastore through the
cluster's store.
"""
import ipaddress
import json

from emunet.apps.base import Process
from emunet.control.calico.dataplane import Endpoint, FilterDataplane, Profile, desired_state
from emunet.control.calico.datastore import IPAM, RESOURCES
from emunet.control.calico.policy import policy_from_resource, rules_from_resource
from emunet.control.calico.rules import RuleRenderer
from emunet.devices.ipip import IPIP_OVERHEAD, Ipip
from emunet.devices.vxlan import Vxlan
from emunet.wire.ethernet import mac_to_bytes
from emunet.wire.ipv4 import ip_to_int
from emunet.wire.vxlan import IANA_VXLAN_PORT, VXLAN_OVERHEAD

VXLAN_DEVICE = "vxlan.calico"
#: the datastore prefixes Felix's policy calculation follows
_POLICY_PREFIXES = ("workloadendpoints/", "networkpolicies/", "profiles/", "nodes/")
VXLAN_VNI = 4096
#: ``RTPROT`` number of the routes Felix programs (``ip route`` prints ``proto 80``)
FELIX_PROTO = "80"


class Felix(Process):
    """Felix's route, ARP and tunnel programming for one node."""

    name = "calico-felix"

    def __init__(self, node):
        super().__init__()
        self.node = node
        self.cluster = node.cluster
        self.tunnel = None
        self._remote = {}          # block network -> what was programmed for it
        self._watches = []
        self._sync_pending = False
        #: the policy dataplane (None unless the cluster runs Felix's iptables dataplane)
        self.dataplane = None
        self.renderer = None
        self._cache = {}           # datastore key -> decoded resource, for policy
        self._policy_pending = False

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
        if getattr(self.cluster, "felix_iptables", False):
            self.renderer = RuleRenderer(ipip=pool.encap == "ipip", vxlan=pool.encap == "vxlan")
            self.dataplane = FilterDataplane(ns)
            for prefix in _POLICY_PREFIXES:
                self._watches.append(self.cluster.store.watch(f"{RESOURCES}/{prefix}", self._on_policy_change,
                                                              start_revision=1))

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

    # -- policy -----------------------------------------------------------------------
    def _on_policy_change(self, events) -> None:
        for ev in events:
            if ev.type == "PUT":
                self._cache[ev.kv.key] = json.loads(ev.kv.value)
            else:
                self._cache.pop(ev.kv.key, None)
        # one calculation per batch: every watch delivery of this instant comes first
        if not self._policy_pending:
            self._policy_pending = True
            self.sim.after(0, self.sync_policy)

    def _resources(self, kind: str) -> list:
        prefix = f"{RESOURCES}/{kind}/"
        return [v for k, v in sorted(self._cache.items()) if k.startswith(prefix)]

    def sync_policy(self) -> None:
        """The calculation graph, then the dataplane: the node's chains and IP sets as the
        datastore has them now, written where they changed."""
        self._policy_pending = False
        if not self.running:
            return
        endpoints = []
        for wep in self._resources("workloadendpoints"):
            spec = wep["spec"]
            ip = str(ipaddress.IPv4Interface(spec["ipNetworks"][0]).ip)
            endpoints.append(Endpoint(wep["metadata"]["name"], spec["node"], spec["interfaceName"], ip,
                                      tuple(sorted(wep["metadata"].get("labels", {}).items())),
                                      tuple(spec.get("profiles", ()))))
        policies = [policy_from_resource(r) for r in self._resources("networkpolicies")]
        profiles = {}
        for r in self._resources("profiles"):
            name = r["metadata"]["name"]
            profiles[name] = Profile(name, rules_from_resource(r["spec"].get("ingress")),
                                     rules_from_resource(r["spec"].get("egress")))
        hosts = [str(ipaddress.IPv4Interface(n["spec"]["bgp"]["ipv4Address"]).ip)
                 for n in self._resources("nodes") if "bgp" in n["spec"]]
        state = desired_state(self.node.name, self.renderer, endpoints, policies, profiles, hosts)
        self.dataplane.apply(state, self.renderer)

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


__all__ = ["VXLAN_DEVICE", "VXLAN_VNI", "FELIX_PROTO", "Felix"]
