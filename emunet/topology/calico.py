"""A Calico cluster: machines on an underlay running calico-node with one IP pool.

Each node runs Felix (:mod:`emunet.control.calico.felix`) and, where BGP distributes the
routes (the BGP and IPIP modes), confd with its BIRD (:mod:`emunet.control.calico.confd`);
pods are wired by the CNI plugin (:mod:`emunet.control.calico.cni`) with addresses from
``calico-ipam`` (:mod:`emunet.control.calico.ipam`).  The cluster writes the datastore's
resources as ``calicoctl`` and calico-node would: the pool, the BGP configuration, one Node
per machine, the BGPPeers, a WorkloadEndpoint per pod (labelled as the pod is), and, as
kube-controllers does, a profile per namespace and service account and the Calico form of
each Kubernetes NetworkPolicy (:meth:`CalicoCluster.add_network_policy`).
"""
import ipaddress

from emunet.control.calico.cni import cni_add, veth_name
from emunet.control.calico.confd import Confd
from emunet.control.calico.datastore import (DEFAULT_AS, RESOURCES, BgpPeerResource, IpPool,
                                             bgp_configuration, selector_matches)
from emunet.control.calico.felix import Felix
from emunet.control.calico.ipam import Ipam
from emunet.control.calico.policy import NetworkPolicy, k8s_network_policy_to_calico
from emunet.control.etcd import EtcdStore
from emunet.control.gojson import go_json
from emunet.stack.namespace import Namespace
from emunet.topology.underlay import Machine, Pod, Segment, Underlay
from emunet.wire.ethernet import eth_random_addr, mac_to_str


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


class CalicoCluster(Underlay):
    """Machines on an underlay running Calico with one IP pool.

    ``CalicoCluster(sim, IpPool("10.20.0.0/16", block_size=24))`` is the seed's BGP picture;
    ``ipip_mode`` / ``vxlan_mode`` on the pool choose the encapsulation.

    ``felix_iptables`` runs Felix's iptables dataplane (the ``cali-*`` chains and IP sets
    that enforce NetworkPolicy) on every node.  A real Felix always runs it; here it is
    asked for, so that the scenarios made before netfilter keep their packet path (and
    the simulator's random draws) unchanged."""

    def __init__(self, sim, pool: IpPool = None, as_num: int = DEFAULT_AS, node_mesh: bool = True,
                 store: EtcdStore = None, latency_ns: int = 1_000, bandwidth_bps: int = 10_000_000_000,
                 router_name: str = "router", felix_iptables: bool = False):
        super().__init__(sim, latency_ns, bandwidth_bps, router_name)
        self.felix_iptables = felix_iptables
        self.network_policies = {}
        self.pool = pool or IpPool()
        self.as_num = as_num
        self.node_mesh = node_mesh
        self.store = store if store is not None else EtcdStore(sim)
        self.ipam = Ipam(self.store, self.pool)
        self.nodes = {}
        self.pods = {}
        self.bgp_peers = {}
        self.store.put(f"{RESOURCES}/ippools/{self.pool.name}", go_json(self.pool.resource()))
        self.store.put(f"{RESOURCES}/bgpconfigurations/default",
                       go_json(bgp_configuration(node_mesh, as_num)))

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
        self.store.put(f"{RESOURCES}/bgpconfigurations/default",
                       go_json(bgp_configuration(enabled, self.as_num)))

    def established(self) -> bool:
        """Every node's BGP sessions are up (VXLAN mode has none)."""
        return all(n.bird is None or all(st == "Established" for st in n.bird.sessions().values())
                   for n in self.nodes.values() if n.running)

    def _put_node(self, node: CalicoNode) -> None:
        self.store.put(f"{RESOURCES}/nodes/{node.name}", go_json(node.resource()))

    # -- pods -------------------------------------------------------------------------
    def add_pod(self, node, name: str, ip: str = None, k8s_namespace: str = "default", labels: dict = None,
                service_account: str = "default") -> Pod:
        """The CNI ADD the kubelet runs for a new pod on ``node``; ``labels`` are the pod's
        (what NetworkPolicy selectors match).  The WorkloadEndpoint carries them with
        Calico's own (``projectcalico.org/namespace``, ``/orchestrator``,
        ``/serviceaccount``) and the profiles ``kns.<namespace>`` and
        ``ksa.<namespace>.<service account>``, which kube-controllers writes the first time
        they are needed."""
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
        pod = Pod(name, node, pns, str(addr), inside.mac, outside, inside, labels)
        node.pods.append(pod)
        self.pods[name] = pod
        self._put_profiles(k8s_namespace, service_account)
        wep = f"{node.name}-k8s-{name.replace('-', '--')}-eth0"
        wep_labels = {**pod.labels, "projectcalico.org/namespace": k8s_namespace,
                      "projectcalico.org/orchestrator": "k8s", "projectcalico.org/serviceaccount": service_account}
        self.store.put(f"{RESOURCES}/workloadendpoints/{k8s_namespace}/{wep}", go_json({
            "kind": "WorkloadEndpoint", "apiVersion": "projectcalico.org/v3",
            "metadata": {"name": wep, "namespace": k8s_namespace, "labels": dict(sorted(wep_labels.items()))},
            "spec": {"orchestrator": "k8s", "node": node.name, "pod": name, "endpoint": "eth0",
                     "serviceAccountName": service_account, "ipNetworks": [f"{addr}/32"],
                     "profiles": [f"kns.{k8s_namespace}", f"ksa.{k8s_namespace}.{service_account}"],
                     "interfaceName": host_name, "mac": mac_to_str(inside.mac)}}))
        return pod

    def _put_profiles(self, k8s_namespace: str, service_account: str) -> None:
        """kube-controllers' namespace and service account profiles (``NamespaceToProfile``:
        allow everything both ways, the namespace's name as a ``pcns.`` label;
        ``ServiceAccountToProfile``: no rules, the account's name as a ``pcsa.`` label)."""
        for name, spec in ((f"kns.{k8s_namespace}",
                            {"ingress": [{"action": "Allow", "source": {}, "destination": {}}],
                             "egress": [{"action": "Allow", "source": {}, "destination": {}}],
                             "labelsToApply": {"pcns.projectcalico.org/name": k8s_namespace}}),
                           (f"ksa.{k8s_namespace}.{service_account}",
                            {"labelsToApply": {"pcsa.projectcalico.org/name": service_account}})):
            key = f"{RESOURCES}/profiles/{name}"
            if self.store.get(key) is None:
                self.store.put(key, go_json({"kind": "Profile", "apiVersion": "projectcalico.org/v3",
                                             "metadata": {"name": name}, "spec": spec}))

    def add_network_policy(self, policy: NetworkPolicy) -> dict:
        """``kubectl apply`` of a Kubernetes NetworkPolicy: kube-controllers' policy
        controller writes its Calico form, ``knp.default.<name>`` in the policy's
        namespace (:func:`~emunet.control.calico.policy.k8s_network_policy_to_calico`),
        which every Felix reads.  Returns that resource."""
        resource = k8s_network_policy_to_calico(policy)
        self.network_policies[(policy.namespace, policy.name)] = policy
        self.store.put(f"{RESOURCES}/networkpolicies/{policy.namespace}/{resource['metadata']['name']}",
                       go_json(resource))
        return resource

    def delete_network_policy(self, name: str, k8s_namespace: str = "default") -> None:
        """``kubectl delete networkpolicy``: the Calico form leaves the datastore."""
        if self.network_policies.pop((k8s_namespace, name), None) is None:
            raise KeyError(f"no NetworkPolicy {k8s_namespace}/{name}")
        self.store.delete(f"{RESOURCES}/networkpolicies/{k8s_namespace}/knp.default.{name}")

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


__all__ = ["CalicoNode", "CalicoCluster", "calico_cluster"]
