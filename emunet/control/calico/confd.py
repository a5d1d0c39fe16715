"""calico-node's confd (``confd/etc/calico/confd/templates/bird*.cfg.template``): BIRD's
configuration rendered from the datastore, and the filters and peer template those
templates hold.

In the BGP and IPIP modes each node runs :class:`~emunet.control.bird.Bird` as confd
configures it: router id and AS from the Node resource; with the node-to-node mesh one
``protocol bgp Mesh_A_B_C_D`` per other node (passive towards an address that sorts
higher), none on route reflectors; one ``Node_A_B_C_D`` per peer a ``BGPPeer`` resource
selects, in both directions, with ``rr client; rr cluster id`` where a reflector meets a
node of another cluster; ``protocol static`` with a blackhole per block of the node; the
export filter ``calico_export_to_bgp_peers`` (each block exactly, nothing inside it) and the
kernel filter ``calico_kernel_programming`` (``krt_tunnel = "tunl0"`` for IPIP pools, only
towards other subnets with CrossSubnet).  confd re-renders when the datastore changes and
BIRD reconfigures: new peers start, removed ones get Cease "Peer de-configured".  VXLAN
mode needs no BGP (``calico_backend: vxlan``).

confd is given its node (a machine of a Calico cluster: ``name``, ``ip``, ``as_num``,
``rr_cluster_id``, ``labels``, ``network``, ``blocks``, ``running``, and its ``cluster``
with ``store``, ``pool``, ``nodes``, ``bgp_peers``, ``node_mesh`` and ``as_num``).
"""
import ipaddress

from emunet.apps.base import Process
from emunet.control.bird import Bird, BgpPeer, KernelRoute, StaticRoute
from emunet.control.calico.datastore import DEFAULT_AS, IPAM, RESOURCES, selector_matches
from emunet.wire import bgp as W

#: what Calico's ``bird.cfg.template`` (``bgp_template``, 2019-2022 releases) sets on every peer:
#: ``multihop; gateway recursive; add paths on; graceful restart; connect delay time 2;
#: connect retry time 5; error wait time 5,30;``
CALICO_PEER = dict(multihop=64, gateway="recursive", add_paths=W.ADD_PATH_FULL,
                   graceful_restart=True, connect_delay_time=2, connect_retry_time=5,
                   error_wait_time=(5, 30), description="Connection to BGP peer")
#: ``birdcl``'s greeting in calico/node (``BIRD v0.3.3+birdv1.6.8 ready.``)
CALICO_BIRD_VERSION = "v0.3.3+birdv1.6.8"


# -- Calico's filters, as BIRD code written in Python -------------------------------------------
def calico_export_to_bgp_peers(pools, blocks=()):
    """Calico's ``calico_export_to_bgp_peers`` (``bird_ipam.cfg.template`` with
    ``calico_aggr`` from ``bird_aggr.cfg.template``): a node exports its own blocks exactly,
    nothing more specific inside them (its pod /32s), and whatever else falls in an IP pool;
    everything else is rejected."""
    pool_nets = [ipaddress.IPv4Network(p) for p in pools]
    block_nets = [ipaddress.IPv4Network(b) for b in blocks]

    def calico_export_to_bgp_peers(r) -> bool:
        net = r.network
        for b in block_nets:
            if net == b:
                return True
            if net.subnet_of(b):
                return False
        return any(net.subnet_of(p) for p in pool_nets)
    return calico_export_to_bgp_peers


def calico_kernel_programming(pools, local_subnet: str = None):
    """Calico's ``calico_kernel_programming`` filter.  ``pools`` is a list of
    ``(cidr, ipip_mode, vxlan_mode)`` with modes "Always", "CrossSubnet" or "Never" (None);
    routes in a VXLAN pool are rejected (Felix programs those), routes in an IPIP pool get
    ``krt_tunnel = "tunl0"`` -- with CrossSubnet only when the BGP next hop is outside
    ``local_subnet`` -- and everything else is accepted as it is."""
    parsed = [(ipaddress.IPv4Network(c), (i or "Never"), (v or "Never")) for c, i, v in pools]
    local = ipaddress.IPv4Network(local_subnet) if local_subnet else None

    def calico_kernel_programming(kr: KernelRoute) -> bool:
        net = ipaddress.IPv4Network(kr.prefix)
        for cidr, ipip, vxlan in parsed:
            if net.subnet_of(cidr):
                if vxlan != "Never":
                    return False
                if ipip == "CrossSubnet":
                    nh = kr.bgp_next_hop
                    if nh is not None and local is not None and ipaddress.IPv4Address(nh) in local:
                        kr.krt_tunnel = ""
                    else:
                        kr.krt_tunnel = "tunl0"
                elif ipip == "Always":
                    kr.krt_tunnel = "tunl0"
                else:
                    kr.krt_tunnel = ""
                return True
        return True
    return calico_kernel_programming


def calico_mesh_peer(node_ip: str, peer_ip: str, asn: int = DEFAULT_AS, **kw) -> BgpPeer:
    """``protocol bgp Mesh_A_B_C_D from bgp_template``: the full-mesh peer of Calico's
    template, passive towards a peer whose address sorts higher (the template compares the
    addresses as strings, as Go's templates do)."""
    name = "Mesh_" + peer_ip.replace(".", "_")
    passive = kw.pop("passive", peer_ip > node_ip)
    cfg = dict(CALICO_PEER)
    cfg.update(kw)
    return BgpPeer(peer_ip, asn, name=name, source_address=node_ip, passive=passive, **cfg)


# -- the text confd writes (``/etc/calico/confd/config/bird*.cfg``) ----------------------------
#: ``bird.cfg.template``'s fixed sections (kernel, device and direct protocols), 2019-2022 releases
_BIRD_CFG_PROTOCOLS = """# Configure synchronization between routing tables and kernel.
protocol kernel {
  learn;             # Learn all alien routes from the kernel
  persist;           # Don't remove routes on bird shutdown
  scan time 2;       # Scan kernel routing table every 2 seconds
  import all;
  export filter calico_kernel_programming; # Default is export none
  graceful restart;  # Turn on graceful restart to reduce potential flaps in
                     # routes when reloading BIRD configuration.  With a full
                     # automatic mesh, there is no way to prevent BGP from
                     # flapping since multiple nodes update their BGP
                     # configuration at the same time, GR is not guaranteed to
                     # work correctly in this scenario.
}

# Watch interface up/down events.
protocol device {
  debug { states };
  scan time 2;    # Scan interfaces every 2 seconds
}

protocol direct {
  debug { states };
  interface -"cali*", -"kube-ipvs*", "*"; # Exclude cali* and kube-ipvs* but
                                          # include everything else.  In
                                          # IPVS-mode, kube-proxy creates a
                                          # kube-ipvs0 interface. We exclude
                                          # kube-ipvs0 because this interface
                                          # gets an address for every in use
                                          # cluster IP. We use static routes
                                          # for when we legitimately want to
                                          # export cluster IPs.
}
"""
#: what a peer may carry beyond the template, as ``bird.cfg`` spells it (a test's shorter timers)
_PEER_KEYWORDS = (("hold_time", "hold time"), ("keepalive_time", "keepalive time"),
                  ("connect_delay_time", "connect delay time"), ("connect_retry_time", "connect retry time"))


def render_bird_cfg(confd: "Confd", krt_tunnel: bool = True) -> dict:
    """The three files confd renders for its node, ``{"bird.cfg": ..., "bird_ipam.cfg": ...,
    "bird_aggr.cfg": ...}``, from what the model configured (``bird.cfg.template``,
    ``bird_ipam.cfg.template``, ``bird_aggr.cfg.template`` of the 2019-2022 releases): what
    the real BIRD 1.6 reads to do what :class:`~emunet.control.bird.Bird` here does.
    ``krt_tunnel=False`` leaves out the ``krt_tunnel`` assignments, which only Calico's
    patched BIRD knows (Debian's 1.6.8 refuses them); they are "" unless the pool is IPIP."""
    node, c = confd.node, confd.cluster
    pool = c.pool
    blocks = [str(b) for b in node.blocks]
    aggr = ["# Generated by confd"]
    if blocks:
        aggr += ["protocol static {", "   # IP blocks for this host."]
        aggr += [f"   route {b} blackhole;" for b in blocks]
        aggr += ["}"]
    else:
        aggr += ["# No IP blocks or static routes for this host."]
    aggr += ["", "# Aggregation of routes on this host; export the block, nothing beneath it.",
             "function calico_aggr ()", "{"]
    for b in blocks:
        aggr += [f"      # Block {b} is confirmed", f"      if ( net = {b} ) then {{ accept; }}",
                 f"      if ( net ~ {b} ) then {{ reject; }}"]
    aggr += ["}", ""]
    tunnel = "tunl0" if pool.ipip_mode != "Never" else ""
    kern = [f"  if ( net ~ {pool.cidr} ) then {{"]
    if pool.vxlan_mode != "Never":
        kern += ["    # Don't program VXLAN routes into the kernel - these are handled by Felix.",
                 "    reject;"]
    elif pool.ipip_mode == "CrossSubnet" and krt_tunnel:
        kern += [f"    if defined(bgp_next_hop) && ( bgp_next_hop ~ {node.network} ) then",
                 '      krt_tunnel = "";', "    else", f'      krt_tunnel = "{tunnel}";', "    accept;"]
    elif krt_tunnel:
        kern += [f'    krt_tunnel = "{tunnel}";', "    accept;"]
    else:
        kern += ["    accept;"]
    ipam = ["# Generated by confd", "filter calico_export_to_bgp_peers {", "  calico_aggr();",
            f"  if ( net ~ {pool.cidr} ) then {{", "    accept;", "  }", "  reject;", "}", "",
            "filter calico_kernel_programming {", *kern, "  }", "  accept;", "}", ""]
    peers = confd.peers()
    mesh = [p for p in peers if p.name.startswith("Mesh_")]
    nodes = [p for p in peers if not p.name.startswith("Mesh_")]
    t = CALICO_PEER
    cfg = ["# Generated by confd", 'include "bird_aggr.cfg";', 'include "bird_ipam.cfg";', "",
           f"router id {node.ip};", "", _BIRD_CFG_PROTOCOLS,
           "# Template for all BGP clients", "template bgp bgp_template {", "  debug { states };",
           f'  description "{t["description"]}";', f"  local as {node.as_num};", "  multihop;",
           "  gateway recursive; # This should be the default, but just in case.",
           "  import all;        # Import all routes, since we don't know what the upstream",
           "                     # topology is and therefore have to trust the ToR/RR.",
           "  export filter calico_export_to_bgp_peers;  # Only want to export routes for workloads.",
           "  add paths on;",
           "  graceful restart;  # See comment in kernel section about graceful restart.",
           f"  connect delay time {t['connect_delay_time']};",
           f"  connect retry time {t['connect_retry_time']};",
           f"  error wait time {t['error_wait_time'][0]},{t['error_wait_time'][1]};",
           *[f"  {kw} {t[attr]};" for attr, kw in _PEER_KEYWORDS[:2] if attr in t], "}", "",
           "# ------------- Node-to-node mesh -------------"]
    if node.rr_cluster_id:
        cfg += [f"# This node ({node.name}) is configured as a route reflector with cluster ID "
                f"{node.rr_cluster_id};", "# ignore node-to-node mesh setting."]
    elif not c.node_mesh:
        cfg += ["# Node-to-node mesh disabled"]
    for p in mesh:
        other = next((n.name for n in c.nodes.values() if n.ip == p.address), p.address)
        cfg += ["", f"# For peer /host/{other}/ip_addr_v4", *_peer_section(p)]
    cfg += ["", "# ------------- Global peers -------------", "# No global peers configured.", "",
            "# ------------- Node-specific peers -------------"]
    if not nodes:
        cfg += ["# No node-specific peers configured."]
    for p in nodes:
        cfg += ["", f"# For peer /host/{node.name}/peer_v4/{p.address}",
                *_peer_section(p, node.rr_cluster_id)]
    return {"bird.cfg": "\n".join(cfg) + "\n", "bird_ipam.cfg": "\n".join(ipam),
            "bird_aggr.cfg": "\n".join(aggr)}


def _peer_section(p: BgpPeer, cluster_id: str = None) -> list:
    """``protocol bgp NAME from bgp_template { ... }``; a timer the model set apart from the
    template (a test's shorter keepalive) is written into the section."""
    out = [f"protocol bgp {p.name} from bgp_template {{", f"  neighbor {p.address} as {p.remote_as};",
           f"  source address {p.source_address};  # The local address we use for the TCP connection"]
    if p.rr_client:
        out += ["  rr client;", f"  rr cluster id {cluster_id};"]
    if p.passive:
        out += ["  passive on; # Mesh is unidirectional, peer will connect to us."]
    defaults = BgpPeer("0.0.0.0", 1)
    for attr, keyword in _PEER_KEYWORDS:
        v = getattr(p, attr)
        if v is not None and v != CALICO_PEER.get(attr, getattr(defaults, attr)):
            out.append(f"  {keyword} {v};")
    return out + ["}"]


# -- confd ------------------------------------------------------------------------------------
class Confd(Process):
    """calico-node's confd: renders BIRD's configuration from the datastore and (re)configures
    the node's ``bird``; one render per batch of changes."""

    name = "confd"

    def __init__(self, node):
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
        peers = self.peers()
        if self.bird is None:
            self._blocks = blocks
            kernel = calico_kernel_programming([(pool.cidr, pool.ipip_mode, pool.vxlan_mode)], str(node.network))
            self.bird = self.ns.spawn(Bird(node.ip, node.as_num, peers=peers,
                                           static_routes=[StaticRoute(b) for b in blocks],
                                           export=self.calico_export_to_bgp_peers, kernel_export=kernel,
                                           rr_cluster_id=node.rr_cluster_id, kernel_persist=True,
                                           direct=("-cali*", "-kube-ipvs*", "*"), version=CALICO_BIRD_VERSION,
                                           kernel_learn=True, static_protocol=bool(blocks)))
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

    def peers(self) -> list:
        """The ``protocol bgp`` sections confd renders for its node, in its order."""
        me, c = self.node, self.cluster
        peers = []
        if c.node_mesh and not me.rr_cluster_id:
            for other in sorted(c.nodes.values(), key=lambda n: n.name):
                if other is me or other.rr_cluster_id or not other.running:
                    continue
                peers.append(calico_mesh_peer(me.ip, other.ip, asn=other.as_num))
        seen = set()
        for res in c.bgp_peers.values():
            targets = []
            if res.peer_ip:
                if selector_matches(res.node_selector, me.labels):
                    targets.append((res.peer_ip, res.as_number or c.as_num, None))
            elif res.peer_selector:
                for other in sorted(c.nodes.values(), key=lambda n: n.name):
                    if other is me or not other.running:
                        continue
                    # the peering applies both ways: we select them, or they select us
                    if (selector_matches(res.node_selector, me.labels) and
                            selector_matches(res.peer_selector, other.labels)) or \
                            (selector_matches(res.node_selector, other.labels) and
                             selector_matches(res.peer_selector, me.labels)):
                        targets.append((other.ip, other.as_num, other.rr_cluster_id or ""))
            for ip, asn, their_cluster in targets:
                if ip == me.ip or ip in seen:
                    continue
                seen.add(ip)
                client = bool(me.rr_cluster_id) and asn == me.as_num and their_cluster != me.rr_cluster_id
                cfg = dict(CALICO_PEER)
                peers.append(BgpPeer(ip, asn, name="Node_" + ip.replace(".", "_"), source_address=me.ip,
                                     rr_client=client, **cfg))
        return peers

    def on_exit(self) -> None:
        for w in self._watches:
            w.cancel()


__all__ = ["CALICO_PEER", "CALICO_BIRD_VERSION", "calico_export_to_bgp_peers", "render_bird_cfg",
           "calico_kernel_programming", "calico_mesh_peer", "Confd"]
