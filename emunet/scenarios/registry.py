"""The list of scenarios and the one way to run one (used by the CLI and the tests)."""
import importlib
import os

from emunet.scenarios.base import Scenario

_MODULES = [
    ("docker-bridge", "emunet.scenarios.docker_bridge",
     "two containers on docker0: ARP, bridge learning, ping (the seed's c1 → c2)"),
    ("docker-fragment", "emunet.scenarios.docker_fragment",
     "c1 pings c2 with 3000 bytes: three fragments each way, put back together on docker0 by "
     "br_netfilter and reassembled by c2 and c1"),
    ("host-network", "emunet.scenarios.host_network",
     "--net=host: nginx in the host namespace, reached over docker0 and lo; a second nginx "
     "fails to bind port 80"),
    ("docker-nat", "emunet.scenarios.docker_nat",
     "a container reaches a machine outside its host: ping and a DNS query leave eth0 "
     "MASQUERADEd, conntrack brings the answers back"),
    ("docker-publish", "emunet.scenarios.docker_publish",
     "docker run -p 8080:80: a machine outside fetches nginx's page from the host's port "
     "8080, DNATed to the container"),
    ("flannel-udp", "emunet.scenarios.flannel_udp",
     "two nodes, Flannel's UDP backend: flannel0 TUN, flanneld encapsulating IP in UDP 8285"),
    ("flannel-vxlan", "emunet.scenarios.flannel_vxlan",
     "two nodes, Flannel's VXLAN backend: flannel.1 VTEP, VNI 1, UDP 8472"),
    ("flannel-pmtu", "emunet.scenarios.flannel_pmtu",
     "flannel-vxlan with the pods at MTU 1500 over a 1450 flannel.1: node1 fragments, refuses DF "
     "with fragmentation needed, pod-1 learns the path MTU and TCP's MSS follows"),
    ("k8s-service", "emunet.scenarios.k8s_service",
     "a ClusterIP Service on the flannel-vxlan cluster: kube-proxy's DNAT, a node's connection "
     "masqueraded, three endpoints chosen by the statistic rules"),
    ("flannel-host-gw", "emunet.scenarios.flannel_host_gw",
     "two nodes on one L2 segment, Flannel's host-gw backend: plain routes via the peer node"),
    ("calico-bgp", "emunet.scenarios.calico_bgp",
     "the seed's Calico picture: BIRD's node-to-node mesh over TCP 179, /24 blocks, routes via the peer node"),
    ("calico-bgp-rr", "emunet.scenarios.calico_bgp_rr",
     "four Calico nodes and a route reflector: one session each, ORIGINATOR_ID and CLUSTER_LIST"),
    ("calico-ipip", "emunet.scenarios.calico_ipip",
     "Calico IPIP CrossSubnet: tunl0 (protocol 4) to a node behind a router, plain routing on the same subnet"),
    ("calico-vxlan", "emunet.scenarios.calico_vxlan",
     "two nodes, Calico in VXLAN mode: vxlan.calico (VNI 4096, UDP 4789) programmed by Felix, no BGP"),
    ("calico-policy", "emunet.scenarios.calico_policy",
     "Calico NetworkPolicy: default-deny ingress on a web pod, allow the frontend; Felix's cali-* chains "
     "accept one curl and drop the other's SYN"),
    ("vlan", "emunet.scenarios.vlan",
     "two 802.1Q VLANs on one switch, a router on a stick (eth0.10, eth0.20), a host on the wrong VLAN"),
    ("bgp-border", "emunet.scenarios.bgp_border",
     "two LANs joined by border routers Route1 and Route2 exchanging their LAN routes over eBGP"),
]


def _load():
    return {name: Scenario(name, summary, importlib.import_module(module).build)
            for name, module, summary in _MODULES}


SCENARIOS = _load()


def get(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        raise KeyError(f"no scenario named {name!r}; there are: {', '.join(SCENARIOS)}") from None


def run_scenario(name: str, out_dir: str = None, seed: int = 1, per_interface: bool = False):
    """Build and run scenario ``name``; write ``<out_dir>/<name>.pcapng`` even if the run fails
    part-way, so nothing captured so far is lost.  Returns the finished Lab."""
    lab = get(name).build(seed)
    try:
        lab.run()
    finally:
        if out_dir is not None and lab.capture is not None:
            os.makedirs(out_dir, exist_ok=True)
            lab.capture.write(os.path.join(out_dir, f"{name}.pcapng"))
            if per_interface:
                sub = os.path.join(out_dir, name)
                os.makedirs(sub, exist_ok=True)
                lab.capture.write_per_interface(sub)
    return lab
