"""Packet traces: each scenario's path pinned observation point by observation point, against
the seed's step lists; the reason a packet dies and the ICMP error sent back about it;
encapsulation shown as carrying the same packet; the trace's own outputs."""
import json
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, strategies as st
from scapy.layers.inet import GRE, ICMP, IP, UDP
from scapy.layers.l2 import Dot1Q, Ether
from scapy.layers.vxlan import VXLAN

from emunet.apps import Ping
from emunet.cli import main
from emunet.observe.show import run_command
from emunet.observe.trace import Trace, describe, layers
from emunet.scenarios import get
from emunet.wire.ethernet import mac_to_str
from tests.stack.test_ipv4 import routed
from tests.tshark import needs_tshark, problems


def points(steps):
    return [(s.namespace, s.device, s.point) for s in steps]


def journey(name, src, dst, **kw):
    lab = get(name).build(1)
    trace, pid = lab.trace_packet(src, dst, **kw)
    return lab, trace, pid


# -- the seed's paths, observation point by observation point -------------------------------
def test_docker_bridge_c1_to_c2():
    """The seed's single-host chapter: c1 looks up its route (172.17.0.0/16 dev eth0, no
    gateway: c2 is on the same segment), resolves c2's MAC by ARP, and docker0 switches the
    frame to c2's veth by its FDB; dockerd loaded br_netfilter, so the bridged packet meets
    the host's PREROUTING, FORWARD (Docker's ICC accept) and POSTROUTING on the way."""
    lab, trace, pid = journey("docker-bridge", "c1", "172.17.0.8")
    v1, v2 = lab.c1.veth_host.name, lab.c2.veth_host.name
    nf = ("host", "(netfilter)", "netfilter")
    assert points(trace.steps(pid)) == [
        ("c1", "(send)", "send"), ("c1", "(routing)", "routing"), ("c1", "(neigh)", "neigh"),
        ("c1", "eth0", "tx"), ("host", v1, "rx"), nf, ("host", "docker0", "bridge"), nf, nf, nf, nf, nf,
        ("host", v2, "tx"), ("c2", "eth0", "rx"), ("c2", "(deliver)", "deliver")]
    steps = trace.steps(pid)
    assert steps[1].text == "172.17.0.8 matches 172.17.0.0/16 dev eth0"
    assert steps[6].text == f"fdb hit 02:42:ac:11:00:08 → {v2}"
    # the chains FORWARD sent it into (as the kernel's TRACE shows them), then the accept
    assert [s.text for s in steps[7:11]] == [
        "netfilter: filter FORWARD rule 1: -A FORWARD -j DOCKER-USER",
        "netfilter: filter FORWARD rule 2: -A FORWARD -j DOCKER-ISOLATION-STAGE-1",
        "netfilter: filter FORWARD rule 4: -A FORWARD -o docker0 -j DOCKER",
        "netfilter: filter FORWARD rule 6: -A FORWARD -i docker0 -o docker0 -j ACCEPT"]
    assert steps[3].packet == "ICMP echo request 172.17.0.7 > 172.17.0.8 ttl 64"
    assert steps[0].crossings == (1,) and trace.drop_reason(pid) is None


def test_docker_bridge_arp_request_is_flooded_and_answered():
    """The seed's ARP process: the request is broadcast, the bridge learns c1's port and
    floods it (and passes it up to the host, which ignores it), and c2 answers."""
    lab, trace, _ = journey("docker-bridge", "c1", "172.17.0.8")
    arp = next(r.pid for r in trace.records if r.data and describe(r.data) ==
               "ARP who-has 172.17.0.8 tell 172.17.0.7")
    v1, v2 = lab.c1.veth_host.name, lab.c2.veth_host.name
    steps = trace.steps(arp)
    assert points(steps) == [
        ("c1", "eth0", "tx"), ("host", v1, "rx"), ("host", "docker0", "bridge"), ("host", v2, "tx"),
        ("host", "(neigh)", "neigh"), ("c2", "eth0", "rx"), ("c2", "(neigh)", "neigh"),
        ("c2", "(neigh)", "neigh")]
    assert "broadcast → flood and up the stack" in steps[2].text
    assert steps[6].text == "who-has 172.17.0.8 (ours) → reply"


def test_host_network_c1_to_the_host():
    """--net=host: the host's own stack answers on docker0's address; no veth of its own."""
    lab, trace, pid = journey("host-network", "c1", "172.17.0.1")
    v1 = lab.c1.veth_host.name
    assert points(trace.steps(pid)) == [
        ("c1", "(send)", "send"), ("c1", "(routing)", "routing"), ("c1", "(neigh)", "neigh"),
        ("c1", "eth0", "tx"), ("host", v1, "rx"), ("host", "(netfilter)", "netfilter"),
        ("host", "(netfilter)", "netfilter"), ("host", "docker0", "bridge"), ("host", "(deliver)", "deliver")]
    steps = trace.steps(pid)
    assert steps[5].text == ("netfilter: nat PREROUTING rule 1: -A PREROUTING -m addrtype --dst-type LOCAL "
                             "-j DOCKER")
    assert steps[7].text == "to the bridge's own MAC → up the stack"


#: the seed's ten steps of Flannel UDP (Container-1 → Container-4), and the observation
#: points each covers: (seed step, namespace, device or decision, point)
FLANNEL_UDP = [
    (1, "container-1", "(send)", "send"),         # step 1: default via 100.96.1.1 dev eth0
    (1, "container-1", "(routing)", "routing"),
    (1, "container-1", "(neigh)", "neigh"),
    (1, "container-1", "eth0", "tx"),
    (2, "node1", "{veth1}", "rx"),                # step 2: into docker0, the host's route table
    (2, "node1", "docker0", "bridge"),
    (2, "node1", "(routing)", "routing"),         #   100.96.0.0/16 dev flannel0
    (3, "node1", "flannel0", "tx"),               # steps 3-6: flannel0 → flanneld → UDP → out
    (4, "node1", "flanneld", "user"),             #   read() from the TUN
    (5, "node1", "flanneld", "user"),             #   the lease in etcd → sendto node2:8285
    (6, "node1", "(routing)", "routing"),
    (6, "node1", "(neigh)", "neigh"),
    (6, "node1", "eth0", "tx"),
    (7, "node2", "eth0", "rx"),                   # steps 7-8: node2's flanneld → flannel0
    (7, "node2", "(socket)", "socket"),
    (8, "node2", "flannel0", "rx"),
    (9, "node2", "(routing)", "routing"),         # step 9: 100.96.2.0/24 dev docker0
    (9, "node2", "(neigh)", "neigh"),
    (10, "node2", "docker0", "tx"),               # step 10: docker0 → the veth → Container-4
    (10, "node2", "{veth4}", "tx"),
    (10, "container-4", "eth0", "rx"),
    (10, "container-4", "(deliver)", "deliver"),
]


def test_flannel_udp_follows_the_seeds_ten_steps():
    lab, trace, pid = journey("flannel-udp", "container-1", "100.96.2.2")
    names = {"{veth1}": lab.container1.veth_host.name, "{veth4}": lab.container4.veth_host.name}
    expected = [(ns, names.get(dev, dev), point) for _, ns, dev, point in FLANNEL_UDP]
    steps = trace.steps(pid)
    assert points(steps) == expected
    # every seed step is covered, in order
    seed = [n for n, *_ in FLANNEL_UDP]
    assert seed == sorted(seed) and set(seed) == set(range(1, 11))
    by_seed = {}
    for (n, *_), s in zip(FLANNEL_UDP, steps):
        by_seed.setdefault(n, []).append(s)
    assert by_seed[1][1].text == "100.96.2.2 matches default via 100.96.1.1 dev eth0"
    assert by_seed[2][2].text == "100.96.2.2 matches 100.96.0.0/16 dev flannel0 (forwarding)"
    assert by_seed[9][0].text == "100.96.2.2 matches 100.96.2.0/24 dev docker0 (forwarding)"
    # the seed's three copies between user and kernel space on the sending side, and two
    # more when node2's flanneld hands the packet back to its kernel
    assert [s.crossings for s in steps if s.crossings] == [(1,), (2,), (3,), (4, 5)]
    # the outer UDP datagram carries the same packet; TTL 64 → 60, as the seed's path has it
    outer = by_seed[6][-1]
    assert outer.packet == ("flannel UDP 10.168.0.2:8285 > 10.168.0.3:8285 carrying ICMP echo request "
                            "100.96.1.2 > 100.96.2.2 ttl 62")
    assert outer.carrying == "ICMP echo request 100.96.1.2 > 100.96.2.2 ttl 62"
    assert steps[-2].packet.endswith("ttl 60")


def test_flannel_vxlan_encapsulates_in_the_kernel():
    """The VTEP does in the kernel what flanneld's proxy does in user space: no crossing
    between the pod's send and the delivery."""
    lab, trace, pid = journey("flannel-vxlan", "pod-1", "100.96.2.2")
    v1, v4 = lab.pod1.veth_host.name, lab.pod4.veth_host.name
    steps = trace.steps(pid)
    assert points(steps) == [
        ("pod-1", "(send)", "send"), ("pod-1", "(routing)", "routing"), ("pod-1", "(neigh)", "neigh"),
        ("pod-1", "eth0", "tx"),
        ("node1", v1, "rx"), ("node1", "cni0", "bridge"), ("node1", "(routing)", "routing"),
        ("node1", "flannel.1", "tx"), ("node1", "(encap)", "encap"), ("node1", "(routing)", "routing"),
        ("node1", "(neigh)", "neigh"), ("node1", "eth0", "tx"),
        ("node2", "eth0", "rx"), ("node2", "(socket)", "socket"), ("node2", "(decap)", "decap"),
        ("node2", "flannel.1", "rx"), ("node2", "(routing)", "routing"), ("node2", "(neigh)", "neigh"),
        ("node2", "cni0", "tx"), ("node2", v4, "tx"), ("pod-4", "eth0", "rx"),
        ("pod-4", "(deliver)", "deliver")]
    assert steps[6].text == "100.96.2.2 matches 100.96.2.0/24 via 100.96.2.0 dev flannel.1 (forwarding)"
    assert steps[9].text == "10.168.0.3 matches 10.168.0.0/24 dev eth0"
    assert steps[11].packet.startswith("VXLAN vni 1 10.168.0.2:")
    assert steps[11].carrying == "ICMP echo request 100.96.1.2 > 100.96.2.2 ttl 63"
    assert steps[12].carrying == steps[11].carrying          # the same packet on node2's eth0
    assert [s.crossings for s in steps if s.crossings] == [(1,)]


def test_flannel_host_gw_is_two_plain_routed_hops():
    """host-gw: node1's route ``192.168.1.0/24 via 10.20.0.3 dev eth0`` makes node2 the
    next hop, found by ARP; no tunnel, no encapsulation."""
    lab, trace, pid = journey("flannel-host-gw", "pod-1", "192.168.1.2")
    v1, v2 = lab.pod1.veth_host.name, lab.pod2.veth_host.name
    steps = trace.steps(pid)
    assert points(steps) == [
        ("pod-1", "(send)", "send"), ("pod-1", "(routing)", "routing"), ("pod-1", "(neigh)", "neigh"),
        ("pod-1", "eth0", "tx"),
        ("node1", v1, "rx"), ("node1", "cni0", "bridge"), ("node1", "(routing)", "routing"),
        ("node1", "(neigh)", "neigh"), ("node1", "eth0", "tx"),
        ("node2", "eth0", "rx"), ("node2", "(routing)", "routing"), ("node2", "(neigh)", "neigh"),
        ("node2", "cni0", "tx"), ("node2", v2, "tx"), ("pod-2", "eth0", "rx"),
        ("pod-2", "(deliver)", "deliver")]
    assert steps[6].text == "192.168.1.2 matches 192.168.1.0/24 via 10.20.0.3 dev eth0 (forwarding)"
    assert steps[7].text == "10.20.0.3 INCOMPLETE: packet queued, ARP who-has sent"
    assert not any(s.carrying for s in steps)
    # the seed: "the next hop in the routing table will be used to set the destination MAC"
    wire = Ether(steps[8].data)
    assert wire.dst == mac_to_str(lab.node2.ns.dev("eth0").mac) and wire[IP].dst == "192.168.1.2"


#: the seed's Calico BGP path (Container1 → Container3) and the observation points of each:
#: (seed's step, namespace, device or decision, point)
CALICO_BGP = [
    ("container", "pod-1", "(send)", "send"),
    ("container", "pod-1", "(routing)", "routing"),   # default via 169.254.1.1 (proxy ARP)
    ("container", "pod-1", "(neigh)", "neigh"),
    ("container", "pod-1", "eth0", "tx"),
    ("cali veth", "node1", "{cali1}", "rx"),
    ("host routing via the BGP route", "node1", "(routing)", "routing"),
    ("eth0", "node1", "eth0", "tx"),                  # node2's MAC known: the BGP session ARPed
    ("peer node", "node2", "eth0", "rx"),
    ("peer node", "node2", "(routing)", "routing"),   # the pod's /32 into its cali veth
    ("cali", "node2", "{cali3}", "tx"),                # Felix's static ARP entry: no ARP
    ("container", "pod-3", "eth0", "rx"),
    ("container", "pod-3", "(deliver)", "deliver"),
]


def test_calico_bgp_follows_the_seeds_path():
    """The seed: container → cali veth → the host's route learned by BGP → eth0 → the peer
    node → its cali veth → the container; no bridge and no encapsulation on the way."""
    lab, trace, pid = journey("calico-bgp", "pod-1", "10.20.1.2")
    names = {"{cali1}": lab.pod1.veth_host.name, "{cali3}": lab.pod3.veth_host.name}
    steps = trace.steps(pid)
    assert points(steps) == [(ns, names.get(dev, dev), point) for _, ns, dev, point in CALICO_BGP]
    by = {}
    for (seed, *_), s in zip(CALICO_BGP, steps):
        by.setdefault(seed, []).append(s)
    assert by["host routing via the BGP route"][0].text == \
        "10.20.1.2 matches 10.20.1.0/24 via 192.168.0.3 dev eth0 (forwarding)"
    assert "10.20.1.0/24 via 192.168.0.3 dev eth0 proto bird " in run_command(lab, "node1", "ip route")
    assert by["peer node"][1].text == f"10.20.1.2 matches 10.20.1.2 dev {lab.pod3.veth_host.name} (forwarding)"
    assert not any(s.carrying for s in steps) and trace.drop_reason(pid) is None
    wire = Ether(by["eth0"][0].data)
    assert wire.dst == mac_to_str(lab.node2.ns.dev("eth0").mac)
    assert (wire[IP].src, wire[IP].dst, wire[IP].ttl) == ("10.20.0.2", "10.20.1.2", 63)
    assert steps[-2].packet.endswith("ttl 62")


def test_calico_bgp_across_a_router_dies_at_the_router():
    """BGP mode with the nodes on two subnets: BIRD resolves the other node's address
    through the default route, so the pod's packet goes to the router, which knows no pod
    network; its net unreachable cannot be routed back either."""
    lab = get("calico-bgp").build(1)
    t = Trace()
    arrived, _, drops = lab.across_router(observers=[t])
    assert not arrived and drops == ["IP_NOROUTE at router/eth0"]
    pid = next(r.pid for r in t.records if r.text.startswith("ping: "))
    own = t.steps(pid, errors=False)
    assert [(s.namespace, s.device, s.point) for s in own[-4:]] == [
        ("node1", "(routing)", "routing"), ("node1", "eth0", "tx"),
        ("router", "eth0", "rx"), ("router", "eth0", "drop")]
    assert own[-4].text.endswith("via 192.168.0.1 dev eth0 (forwarding)")
    assert t.drop_reason(pid) == "IP_NOROUTE"
    assert [(s.namespace, s.point, s.reason) for s in _error_steps(t, pid)] == [("router", "drop", "IP_NOROUTE")]


def test_calico_bgp_rr_data_path_skips_the_reflector():
    """With a route reflector the routes come through rr1 but keep their next hop: pod-1's
    packet goes from node1 straight to node4 (ARP for node4 first: they never talked)."""
    lab, trace, pid = journey("calico-bgp-rr", "pod-1", "10.20.3.2")
    c1, c4 = lab.pods[0].veth_host.name, lab.pods[3].veth_host.name
    steps = trace.steps(pid)
    assert points(steps) == [
        ("pod-1", "(send)", "send"), ("pod-1", "(routing)", "routing"), ("pod-1", "(neigh)", "neigh"),
        ("pod-1", "eth0", "tx"), ("node1", c1, "rx"), ("node1", "(routing)", "routing"),
        ("node1", "(neigh)", "neigh"), ("node1", "eth0", "tx"), ("node4", "eth0", "rx"),
        ("node4", "(routing)", "routing"), ("node4", c4, "tx"), ("pod-4", "eth0", "rx"),
        ("pod-4", "(deliver)", "deliver")]
    assert steps[5].text == "10.20.3.2 matches 10.20.3.0/24 via 192.168.0.5 dev eth0 (forwarding)"
    assert steps[6].text == "192.168.0.5 INCOMPLETE: packet queued, ARP who-has sent"
    assert "rr1" not in {s.namespace for s in steps}


def test_calico_bgp_rr_cut_cable_then_withdrawn_after_the_hold_timer():
    """node4 unplugged: node1 still has the route and node4's MAC, so the frame is flooded
    by the switch (node4's port forgotten) and every other NIC drops it, OTHERHOST. After
    rr1's hold timer the block is withdrawn everywhere: the packet follows node1's default
    route and dies at the router, IP_NOROUTE."""
    lab, _, _ = journey("calico-bgp-rr", "pod-1", "10.20.3.2")
    lab.cluster.unplug(lab.nodes[3])
    t, pid = lab.trace_packet("pod-1", "10.20.3.2", wait=5.0)
    steps = t.steps(pid)
    tx = next(i for i, s in enumerate(steps) if (s.namespace, s.device, s.point) == ("node1", "eth0", "tx"))
    others = ("router", "node2", "node3", "rr1")
    assert points(steps[tx + 1:]) == [(ns, "eth0", p) for ns in others for p in ("rx", "drop")]
    assert {s.reason for s in steps if s.point == "drop"} == {"OTHERHOST"}
    assert not _error_steps(t, pid)
    lab.sim.run(until=lab.sim.time + 245)
    assert "10.20.3.0/24" not in run_command(lab, "node1", "ip route")
    t, pid = lab.trace_packet("pod-1", "10.20.3.2", wait=5.0)
    own = t.steps(pid, errors=False)
    assert own[4].text == "10.20.3.2 matches default via 192.168.0.1 dev eth0 (forwarding)"
    assert (own[-1].namespace, own[-1].device, own[-1].reason) == ("router", "eth0", "IP_NOROUTE")


def test_calico_ipip_outer_frame_carries_the_pods_packet_across_the_router():
    """IPIP CrossSubnet to the node behind the router: into tunl0, encapsulated towards the
    route's next hop (node3), routed out of eth0 by the outer header, forwarded by the
    router, decapsulated by node3 onto its tunl0, routed to the pod. 20 bytes of overhead."""
    lab, trace, pid = journey("calico-ipip", "pod-1", "10.20.2.2")
    c1, c5 = lab.pod1.veth_host.name, lab.pod5.veth_host.name
    steps = trace.steps(pid)
    assert points(steps) == [
        ("pod-1", "(send)", "send"), ("pod-1", "(routing)", "routing"), ("pod-1", "(neigh)", "neigh"),
        ("pod-1", "eth0", "tx"), ("node1", c1, "rx"), ("node1", "(routing)", "routing"),
        ("node1", "tunl0", "tx"), ("node1", "(encap)", "encap"), ("node1", "(routing)", "routing"),
        ("node1", "eth0", "tx"), ("router", "eth0", "rx"), ("router", "(routing)", "routing"),
        ("router", "eth1", "tx"), ("node3", "eth0", "rx"), ("node3", "(decap)", "decap"),
        ("node3", "tunl0", "rx"), ("node3", "(routing)", "routing"), ("node3", c5, "tx"),
        ("pod-5", "eth0", "rx"), ("pod-5", "(deliver)", "deliver")]
    assert steps[5].text == "10.20.2.2 matches 10.20.2.0/24 via 192.168.1.2 dev tunl0 (forwarding)"
    assert steps[7].text == "ipip encap 192.168.0.2 → 192.168.1.2"
    assert steps[8].text == "192.168.1.2 matches default via 192.168.0.1 dev eth0"
    outer, inner = steps[9], steps[6]
    assert outer.packet == ("IPIP 192.168.0.2 > 192.168.1.2 carrying ICMP echo request "
                            "10.20.0.2 > 10.20.2.2 ttl 63")
    assert steps[10].carrying == steps[12].carrying == steps[13].carrying == outer.carrying == inner.packet
    assert steps[11].text == "192.168.1.2 matches 192.168.1.0/24 dev eth1 (forwarding)"
    # tunl0 has no link-layer header: Ethernet + the outer IPv4 header is all that is added
    wire = Ether(outer.data)
    assert wire[IP].proto == 4 and bytes(wire[IP].payload) == inner.data
    assert len(outer.data) - len(inner.data) == 14 + 20 and wire[IP].len - wire[IP][1].len == 20
    assert (wire[IP].ttl, wire[IP].flags) == (wire[IP][1].ttl, wire[IP][1].flags)   # ttl inherit, DF copied
    assert Ether(steps[13].data)[IP].ttl == 62 and Ether(steps[13].data)[IP][1].ttl == 63


def test_calico_ipip_same_subnet_is_not_encapsulated():
    lab, trace, pid = journey("calico-ipip", "pod-1", "10.20.1.2")
    steps = trace.steps(pid)
    assert [(s.namespace, s.device) for s in steps if s.is_frame] == [
        ("pod-1", "eth0"), ("node1", lab.pod1.veth_host.name), ("node1", "eth0"), ("node2", "eth0"),
        ("node2", lab.pod3.veth_host.name), ("pod-3", "eth0")]
    assert steps[5].text == "10.20.1.2 matches 10.20.1.0/24 via 192.168.0.3 dev eth0 (forwarding)"
    assert not any(s.carrying for s in steps) and trace.drop_reason(pid) is None


@needs_tshark
def test_ipip_journey_pcapng_is_clean(tmp_path):
    """The journey file mixes raw-IP interfaces (tunl0) with Ethernet ones; tshark reads
    every frame, the IPIP ones as IP in IP."""
    lab, trace, pid = journey("calico-ipip", "pod-1", "10.20.2.2")
    path = trace.write_pcapng(tmp_path / "ipip.pcapng", pid)
    assert problems(path) == []
    from tests.tshark import fields
    rows = fields(path, ["frame.interface_name", "frame.protocols"])
    assert ["node1/tunl0", "raw:ip:icmp:data"] in rows
    assert ["node1/eth0", "eth:ethertype:ip:ip:icmp:data"] in rows


def test_calico_vxlan_in_the_kernel_to_port_4789():
    """vxlan.calico: Felix's route, neighbour and FDB entries; VNI 4096 to UDP 4789."""
    lab, trace, pid = journey("calico-vxlan", "pod-1", "10.20.1.2")
    c1, c3 = lab.pod1.veth_host.name, lab.pod3.veth_host.name
    steps = trace.steps(pid)
    assert points(steps) == [
        ("pod-1", "(send)", "send"), ("pod-1", "(routing)", "routing"), ("pod-1", "(neigh)", "neigh"),
        ("pod-1", "eth0", "tx"), ("node1", c1, "rx"), ("node1", "(routing)", "routing"),
        ("node1", "vxlan.calico", "tx"), ("node1", "(encap)", "encap"), ("node1", "(routing)", "routing"),
        ("node1", "(neigh)", "neigh"), ("node1", "eth0", "tx"), ("node2", "eth0", "rx"),
        ("node2", "(socket)", "socket"), ("node2", "(decap)", "decap"), ("node2", "vxlan.calico", "rx"),
        ("node2", "(routing)", "routing"), ("node2", c3, "tx"), ("pod-3", "eth0", "rx"),
        ("pod-3", "(deliver)", "deliver")]
    assert steps[5].text == "10.20.1.2 matches 10.20.1.0/24 via 10.20.1.0 dev vxlan.calico (forwarding)"
    outer = steps[10]
    assert outer.packet.startswith("VXLAN vni 4096 192.168.0.2:") and ":4789 carrying" in outer.packet
    assert outer.carrying == "ICMP echo request 10.20.0.2 > 10.20.1.2 ttl 63"
    frame = Ether(outer.data)
    assert frame[VXLAN].vni == 4096 and frame[UDP].dport == 4789
    assert len(outer.data) - len(steps[6].data) == 50


def test_calico_vxlan_an_address_no_pod_holds_dies_on_the_blackhole():
    """10.20.1.9 is in node2's block: through the tunnel, then node2's blackhole for its own
    block; a blackhole route sends no ICMP error."""
    lab, trace, pid = journey("calico-vxlan", "pod-1", "10.20.1.9", wait=3.0)
    last = trace.steps(pid)[-1]
    assert (last.namespace, last.device, last.point) == ("node2", "vxlan.calico", "drop")
    assert last.text == "IP_NOROUTE: blackhole route 10.20.1.0/24"
    assert not _error_steps(trace, pid)


def test_bgp_border_two_routed_hops_by_the_learned_route():
    lab, trace, pid = journey("bgp-border", "host1", "10.2.0.2")
    steps = trace.steps(pid)
    assert points(steps) == [
        ("host1", "(send)", "send"), ("host1", "(routing)", "routing"), ("host1", "(neigh)", "neigh"),
        ("host1", "eth0", "tx"), ("Route1", "eth0", "rx"), ("Route1", "(routing)", "routing"),
        ("Route1", "eth1", "tx"), ("Route2", "eth1", "rx"), ("Route2", "(routing)", "routing"),
        ("Route2", "(neigh)", "neigh"), ("Route2", "eth0", "tx"), ("host3", "eth0", "rx"),
        ("host3", "(deliver)", "deliver")]
    assert steps[5].text == "10.2.0.2 matches 10.2.0.0/24 via 172.16.0.2 dev eth1 (forwarding)"
    assert "10.2.0.0/24 via 172.16.0.2 dev eth1 proto bird " in run_command(lab, "Route1", "ip route")
    assert steps[-2].packet.endswith("ttl 62")


def test_bgp_border_before_the_session_the_border_router_has_no_route():
    lab = get("bgp-border").build(1)
    t = Trace()
    lab.sim.observers.append(t)
    ping = lab.host1.spawn(Ping("10.2.0.2", count=1, linger=1.0))
    lab.sim.run(until=1.0)
    pid = ping.pids[0]
    own = t.steps(pid, errors=False)
    assert (own[-1].namespace, own[-1].device, own[-1].reason) == ("Route1", "eth0", "IP_NOROUTE")
    sent = next(s for s in _error_steps(t, pid) if s.point == "tx")
    assert sent.packet.startswith("ICMP net unreachable 10.1.0.1 > 10.1.0.2")
    assert _error_steps(t, pid)[-1].namespace == "host1"


def test_vlan_router_on_a_stick_tags_on_the_trunk_only():
    """h10a → h20a: untagged on the access ports, VID 10 up the trunk, VID 20 down it; the
    router's eth0 hands the frame to eth0.10 and eth0.20's frame leaves by eth0."""
    lab, trace, pid = journey("vlan", "h10a", "192.168.20.11")
    steps = trace.steps(pid)
    assert points(steps) == [
        ("h10a", "(send)", "send"), ("h10a", "(routing)", "routing"), ("h10a", "(neigh)", "neigh"),
        ("h10a", "eth0", "tx"), ("router", "eth0", "rx"), ("router", "eth0", "stack"),
        ("router", "eth0.10", "rx"), ("router", "(routing)", "routing"), ("router", "(neigh)", "neigh"),
        ("router", "eth0.20", "tx"), ("router", "eth0", "tx"), ("h20a", "eth0", "rx"),
        ("h20a", "(deliver)", "deliver")]
    assert steps[7].text == "192.168.20.11 matches 192.168.20.0/24 dev eth0.20 (forwarding)"
    tags = [(f"{s.namespace}/{s.device}", Ether(s.data)[Dot1Q].vlan if Dot1Q in Ether(s.data) else None)
            for s in steps if s.is_frame]
    assert tags == [("h10a/eth0", None), ("router/eth0", 10), ("router/eth0.10", None),
                    ("router/eth0.20", None), ("router/eth0", 20), ("h20a/eth0", None)]
    assert steps[4].packet.startswith("vlan 10 ICMP echo request") and steps[10].packet.startswith("vlan 20 ")


def test_vlan_host_on_the_wrong_vlan_neigh_failed():
    """stray is on a VLAN 20 port with a VLAN 10 address: h10a's ARP requests are flooded in
    VLAN 10 only (h10b and the router's eth0.10), never reach stray; NEIGH_FAILED."""
    lab, trace, pid = journey("vlan", "h10a", "192.168.10.13", wait=5.0)
    own = trace.steps(pid, errors=False)
    assert (own[-1].namespace, own[-1].device, own[-1].reason) == ("h10a", "eth0", "NEIGH_FAILED")
    assert _error_steps(trace, pid)[-1].point == "socket"
    requests = [r.pid for r in trace.records if r.data and r.point == "tx" and
                describe(r.data) == "ARP who-has 192.168.10.13 tell 192.168.10.11"]
    assert len(requests) == 3
    for arp in requests:
        assert {(s.namespace, s.device) for s in trace.steps(arp) if s.point == "rx"} == {
            ("h10b", "eth0"), ("router", "eth0"), ("router", "eth0.10")}


# -- where packets die ---------------------------------------------------------------------
def _error_steps(trace, pid):
    return [s for s in trace.steps(pid) if s.role == "icmp-error"]


def test_unroutable_address_ip_noroute_and_net_unreachable_back():
    lab, trace, pid = journey("docker-bridge", "c1", "10.9.9.9")
    own = trace.steps(pid, errors=False)
    assert trace.drop_reason(pid) == "IP_NOROUTE"
    assert (own[-1].namespace, own[-1].device, own[-1].point) == ("host", "docker0", "drop")
    assert own[-1].reason == "IP_NOROUTE"
    err = _error_steps(trace, pid)
    assert err[0].text.startswith("icmp net unreachable to 172.17.0.7")
    sent = next(s for s in err if s.point == "tx")
    assert sent.packet == ("ICMP net unreachable 172.17.0.1 > 172.17.0.7 ttl 64 about "
                           "[ICMP echo request 172.17.0.7 > 10.9.9.9]")
    assert (err[-1].namespace, err[-1].point) == ("c1", "socket")
    assert lab.docker.ns.drop_reasons["IP_NOROUTE"] == 1


def test_silent_neighbour_neigh_failed_and_host_unreachable_back():
    """A local packet: three ARP probes a second apart, then FAILED; the kernel sends the
    host unreachable to itself, over lo."""
    lab, trace, pid = journey("docker-bridge", "c1", "172.17.0.99")
    own = trace.steps(pid, errors=False)
    assert trace.drop_reason(pid) == "NEIGH_FAILED"
    assert (own[-1].namespace, own[-1].device) == ("c1", "eth0")
    assert own[-1].time_ns - own[0].time_ns == 3_000_000_000
    err = _error_steps(trace, pid)
    assert [s.device for s in err if s.is_frame] == ["lo", "lo"]
    assert "ICMP host unreachable 172.17.0.7 > 172.17.0.7" in err[2].packet
    assert "NEIGH_FAILED" in run_command(lab, "c1", "drops")


def test_silent_neighbour_behind_a_router():
    """Forwarded: node2 cannot resolve 192.168.1.99 on cni0; the error's source is the one
    of node2's route back to pod-1 (eth0's 10.20.0.3: icmp_errors_use_inbound_ifaddr is 0)."""
    lab, trace, pid = journey("flannel-host-gw", "pod-1", "192.168.1.99", wait=5.0)
    own = trace.steps(pid, errors=False)
    assert trace.drop_reason(pid) == "NEIGH_FAILED"
    assert (own[-1].namespace, own[-1].device) == ("node2", "cni0")
    sent = next(s for s in _error_steps(trace, pid) if s.point == "tx")
    assert sent.packet.startswith("ICMP host unreachable 10.20.0.3 > 192.168.0.2")
    assert _error_steps(trace, pid)[-1].namespace == "pod-1"


def test_df_over_a_smaller_mtu_pkt_too_big_and_fragmentation_needed_back():
    """node2's cni0 has a smaller MTU than the path before it: node2 drops the DF packet
    and tells pod-1 the MTU to use."""
    lab = get("flannel-host-gw").build(1)
    lab.node2.ns.dev("cni0").mtu = 1400
    trace, pid = lab.trace_packet("pod-1", "192.168.1.2", size=1400)
    own = trace.steps(pid, errors=False)
    assert trace.drop_reason(pid) == "PKT_TOO_BIG"
    assert own[-1].namespace == "node2" and "1428 bytes with DF > MTU 1400 of cni0" in own[-1].text
    sent = next(s for s in _error_steps(trace, pid) if s.point == "tx")
    assert sent.packet.startswith("ICMP fragmentation needed (mtu 1400) 10.20.0.3 > 192.168.0.2")
    assert _error_steps(trace, pid)[-1].point == "socket"
    assert lab.node2.ns.drop_reasons["PKT_TOO_BIG"] == 1


def test_df_over_the_senders_own_mtu_is_a_local_error_without_icmp():
    """ping -M do: refused before a packet exists (EMSGSIZE), no ICMP."""
    lab, trace, pid = journey("flannel-vxlan", "pod-1", "100.96.2.2", size=1450, pmtudisc="do")
    steps = trace.steps(pid)
    assert [(s.namespace, s.point, s.reason) for s in steps] == [("pod-1", "drop", "PKT_TOO_BIG")]
    assert "1478 bytes > MTU 1450 of eth0" in steps[0].text


def test_a_datagram_over_the_senders_own_mtu_leaves_in_fragments_and_is_reassembled():
    """ping's default (-M want): 1478 bytes over pod-1's 1450 leave as two fragments, which
    node1 and node2 forward as they are and pod-2 puts back together."""
    lab, trace, pid = journey("flannel-vxlan", "pod-1", "100.96.2.2", size=1450)
    steps = trace.steps(pid)
    tx = [s for s in steps if (s.namespace, s.device, s.point) == ("pod-1", "eth0", "tx")]
    assert len(tx) == 2 and "fragment 1/2 (MTU 1450)" in tx[0].text, [s.text for s in tx]
    assert trace.drop_reason(pid) is None
    assert any(s.text.startswith("reassembled: 1478 bytes from 2 fragments") for s in steps), \
        [(s.namespace, s.text) for s in steps]
    assert tx[1].packet == "IP fragment 100.96.1.2 > 100.96.2.2 proto 1 at 1424 ttl 64"
    assert lab.sim.ns("pod-1").ipv4.stats["FragCreates"] == 2


def test_ttl_expired_and_time_exceeded_back():
    lab, trace, pid = journey("flannel-vxlan", "pod-1", "100.96.2.2", ttl=1)
    assert trace.drop_reason(pid) == "TTL_EXPIRED"
    sent = next(s for s in _error_steps(trace, pid) if s.point == "tx")
    assert sent.packet.startswith("ICMP time exceeded 100.96.1.1 > 100.96.1.2")


def test_flanneld_without_a_lease_answers_net_unreachable_through_its_tun():
    """flanneld writes its net unreachable into flannel0 from flannel0's own address, and
    node1 drops it as a martian source (accept_local=0), as the real kernel does."""
    lab, trace, pid = journey("flannel-udp", "container-1", "100.96.3.2", proto="udp")
    own = trace.steps(pid, errors=False)
    assert trace.drop_reason(pid) == "IP_NOROUTE"
    assert (own[-1].namespace, own[-1].device) == ("node1", "flannel0")
    assert "no lease holds 100.96.3.2" in own[-1].text
    err = _error_steps(trace, pid)
    assert (err[0].device, err[0].point) == ("flannel0", "rx")      # written into the TUN
    assert err[0].packet.startswith("ICMP net unreachable 100.96.1.0 > 100.96.1.2 ttl 8")
    assert (err[-1].namespace, err[-1].device, err[-1].point, err[-1].reason) == \
        ("node1", "flannel0", "drop", "IP_LOCAL_SOURCE")


def test_an_error_that_cannot_be_routed_back_is_shown_dying_too():
    """host-gw's router has no route to the pod network: its net unreachable dies there."""
    lab, trace, pid = journey("flannel-host-gw", "pod-1", "192.168.2.2", wait=3.0)
    err = _error_steps(trace, pid)
    assert [(s.namespace, s.point, s.reason) for s in err] == [("router", "drop", "IP_NOROUTE")]
    assert "icmp net unreachable to 192.168.0.2" in err[0].text


def test_the_generic_router_topology():
    sim, left, r, right = routed(mtu_right=1400)
    t = Trace()
    sim.observers.append(t)
    p = Ping("10.0.2.2", count=1, size=1400)
    left.spawn(p)
    sim.run()
    pid = p.pids[0]
    assert t.drop_reason(pid) == "PKT_TOO_BIG"
    assert "1428 bytes with DF > MTU 1400 of eth2" in t.steps(pid, errors=False)[-1].text
    assert any(s.packet.startswith("ICMP fragmentation needed (mtu 1400) 10.0.1.1 > 10.0.1.2")
               for s in _error_steps(t, pid))


# -- encapsulation keeps the packet's identity, whatever the tunnel -----------------------
_INNER = IP(src="100.96.1.2", dst="100.96.2.2", id=7, ttl=63) / ICMP(type=8, id=1, seq=1) / (b"x" * 16)
_OUTER_IP = dict(src="10.0.0.1", dst="10.0.0.2", id=9)


def _ether(pkt):
    return bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / pkt)


class _Dev:
    """Enough of a device for an observer."""

    def __init__(self, ns, name, kind="ether"):
        self.ns = type("NS", (), {"name": ns})()
        self.name = name
        self.kind = kind


def test_ipip_outer_frame_is_shown_carrying_the_packet():
    """An IPIP device (tunl0) that keeps the frame's pid, as Frame.derive does, shows up
    as carrying the packet: nothing in the trace knows IPIP by name."""
    from emunet.wire.frame import Frame
    t = Trace()
    inner = _ether(_INNER)
    outer = _ether(IP(proto=4, **_OUTER_IP) / _INNER)
    t.on_frame(1, _Dev("node1", "tunl0", "ipip"), Frame(bytes(_INNER), 5, 101), "out", None)
    t.on_note(1, None, Frame(outer, 5), "ipip encap 10.0.0.1 → 10.0.0.2")
    t.on_frame(2, _Dev("node1", "eth0"), Frame(outer, 5), "out", "ipip encap 10.0.0.1 → 10.0.0.2")
    t.on_frame(3, _Dev("node2", "eth0"), Frame(outer, 5), "in", None)
    t.on_note(3, None, Frame(outer, 5), "ipip decap from 10.0.0.1 → tunl0")
    t.on_frame(3, _Dev("node2", "tunl0", "ipip"), Frame(inner, 5), "in", None)
    steps = t.steps(5)
    assert [(s.namespace, s.device, s.point) for s in steps] == [
        ("node1", "tunl0", "tx"), ("node1", "(encap)", "encap"), ("node1", "eth0", "tx"),
        ("node2", "eth0", "rx"), ("node2", "(decap)", "decap"), ("node2", "tunl0", "rx")]
    assert steps[2].packet == "IPIP 10.0.0.1 > 10.0.0.2 carrying ICMP echo request 100.96.1.2 > 100.96.2.2 ttl 63"
    assert steps[2].carrying == steps[5].packet


_addr = st.ip_addresses(v=4).map(str)


@given(src=_addr, dst=_addr, ident=st.integers(0, 0xFFFF), ttl=st.integers(1, 255),
       payload=st.binary(max_size=64), proto=st.sampled_from(["icmp", "udp"]),
       tunnel=st.sampled_from(["ipip", "gre", "flannel-udp", "vxlan"]))
def test_any_tunnel_is_seen_through(src, dst, ident, ttl, payload, proto, tunnel):
    """Scapy builds an inner packet and wraps it; ``layers`` finds the inner IPv4 header
    at the offset Scapy puts it, and ``describe`` ends with the inner packet's summary."""
    l4 = ICMP(type=8, id=3, seq=1) if proto == "icmp" else UDP(sport=1234, dport=53)
    inner = IP(src=src, dst=dst, id=ident, ttl=ttl) / l4 / payload
    outer_ip = IP(**_OUTER_IP)
    wrap = {"ipip": lambda p: outer_ip / p,
            "gre": lambda p: outer_ip / GRE(proto=0x0800) / p,
            "flannel-udp": lambda p: outer_ip / UDP(sport=8285, dport=8285) / p,
            "vxlan": lambda p: outer_ip / UDP(sport=40000, dport=8472) / VXLAN(vni=1) /
            Ether(src="02:00:00:00:00:03", dst="02:00:00:00:00:04") / p}[tunnel]
    frame = _ether(wrap(inner))
    found = layers(frame)
    assert len(found) == 2
    assert frame[found[1][0]:] == bytes(inner)
    alone = describe(_ether(inner))
    assert describe(frame).endswith(" carrying " + alone)


# -- what the trace gives: text, JSON, pcapng, the sequence picture, drop counters ----------
def test_trace_command_prints_steps_and_json(capsys):
    assert main(["trace", "docker-bridge", "--from", "c1", "--to", "10.9.9.9", "--proto", "udp"]) == 0
    out = capsys.readouterr().out
    assert "to the bridge's own MAC → up the stack" in out
    assert "10.9.9.9 matches default via 172.17.0.1 dev eth0" in out
    assert "↩ ICMP error about packet #1" in out
    assert out.strip().endswith("packet dropped: IP_NOROUTE")
    assert main(["trace", "flannel-vxlan", "--from", "pod-1", "--to", "100.96.2.2", "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["step"] for r in records] == list(range(1, len(records) + 1))
    tx = records[3]
    assert (tx["namespace"], tx["device"], tx["point"]) == ("pod-1", "eth0", "tx")
    assert tx["packet"] == "ICMP echo request 100.96.1.2 > 100.96.2.2 ttl 64" and tx["length"] == 98
    outer = next(r for r in records if r["carrying"])
    assert outer["device"] == "eth0" and outer["carrying"] == "ICMP echo request 100.96.1.2 > 100.96.2.2 ttl 63"
    assert records[-1]["point"] == "deliver" and records[0]["crossings"] == [1]


def test_trace_command_follows_a_fragmented_packet_and_ping_dash_m(capsys):
    """``--size 2000`` across docker0: two fragments leave c1, br_netfilter puts them back
    together on the host, c2 reassembles; with ``-M do`` nothing leaves c1."""
    assert main(["trace", "docker-bridge", "--from", "c1", "--to", "172.17.0.8", "--size", "2000"]) == 0
    out = capsys.readouterr().out
    assert "fragment 2/2 (MTU 1500)" in out and "IP fragment 172.17.0.7 > 172.17.0.8 proto 1 at 1480" in out
    assert out.count("reassembled: 2028 bytes from 2 fragments") == 2    # the host (conntrack), c2
    assert main(["trace", "docker-bridge", "--from", "c1", "--to", "172.17.0.8", "--size", "2000",
                 "-M", "do"]) == 0
    out = capsys.readouterr().out
    assert "PKT_TOO_BIG: 2028 bytes > MTU 1500 of eth0, DF demanded (IP_PMTUDISC_DO): EMSGSIZE" in out
    assert main(["trace", "docker-bridge", "--from", "c1", "--to", "172.17.0.8", "--proto", "udp",
                 "-M", "do"]) == 2


def test_capture_comments_and_trace_records_are_the_same_reports():
    """Every frame a Trace recorded is in the capture, at the same time, on the same
    interface, with the same bytes, and the note the trace shows is the capture's comment."""
    lab = get("flannel-udp").build(1)
    trace = Trace()
    lab.sim.observers.append(trace)
    lab.run()
    frames = [r for r in trace.records if r.point in ("tx", "rx", "bridge")]
    later = {r.text for r in trace.records if r.point == "stack"} | \
        {f"DROP {r.text}" for r in trace.records if r.point == "drop"}
    caps = lab.capture.records
    assert len(frames) == len(caps)
    for r, c in zip(frames, caps):
        assert (c.time_ns, c.iface, c.data, c.pid) == (r.time_ns, f"{r.namespace}/{r.device}", r.data, r.pid)
        comments = list(c.comments)
        if r.text:
            assert comments.pop(0) == r.text
        assert all(x in later for x in comments), comments


@needs_tshark
def test_journey_pcapng_is_clean_and_commented(tmp_path):
    lab, trace, pid = journey("flannel-udp", "container-1", "100.96.2.2")
    path = trace.write_pcapng(tmp_path / "journey.pcapng", pid)
    assert problems(path, extra=["-d", "udp.port==8285,ip"]) == []
    from scapy.utils import PcapNgReader
    pkts = list(PcapNgReader(str(path)))
    frames = [s for s in trace.steps(pid) if s.is_frame]
    assert [bytes(p) for p in pkts] == [s.data for s in frames]
    comments = [c.decode() if isinstance(c, bytes) else c for p in pkts for c in (p.comments or [])]
    assert {int(c.split(":")[0][5:]) for c in comments} == set(range(1, len(trace.steps(pid)) + 1))


@pytest.mark.parametrize("name,src,dst", [("docker-bridge", "c1", "10.9.9.9"),
                                          ("flannel-vxlan", "pod-1", "100.96.2.2")])
def test_sequence_picture_has_a_row_per_step_and_a_lane_per_device(name, src, dst):
    lab, trace, pid = journey(name, src, dst)
    svg = trace.sequence_svg(pid, f"{name}: {src} → {dst}")
    root = ET.fromstring(svg)
    texts = ["".join(e.itertext()) for e in root.iter("{http://www.w3.org/2000/svg}text")]
    steps = trace.steps(pid)
    for s in steps:
        assert s.namespace in texts
        if not s.device.startswith("("):
            assert s.device in texts
    assert [t for t in texts if t.strip().isdigit()] == [f"{s.n:>2}" for s in steps]
    drops = [e for e in root.iter("{http://www.w3.org/2000/svg}path") if e.get("stroke") == "#dc2626"]
    assert len(drops) == sum(s.point == "drop" for s in steps)


def test_drop_counters_per_device_and_per_namespace():
    """A device drop (c2's eth0 has a smaller MTU than its veth peer) is counted on the
    device, by reason; a stack drop (no ARP answer) on the namespace."""
    lab = get("docker-bridge").build(1)
    lab.c2.ns.dev("eth0").mtu = 1000
    trace, pid = lab.trace_packet("c1", "172.17.0.8", size=1200, wait=2.0)
    last = trace.steps(pid)[-1]
    assert (last.namespace, last.device, last.reason) == ("c2", "eth0", "PKT_TOO_BIG")
    out = run_command(lab, "c2", "drops").splitlines()
    i = next(i for i, line in enumerate(out) if ": eth0:" in line)
    assert out[i].endswith("eth0: rx dropped 1  tx dropped 0")
    assert out[i + 1].split() == ["PKT_TOO_BIG", "1"]
    assert out[-1] == "stack (namespace c2): dropped 0"
    assert "RX:  bytes packets errors dropped" in run_command(lab, "c2", "ip -s link show eth0")
    lab, trace, pid = journey("docker-bridge", "c1", "172.17.0.99")
    out = run_command(lab, "c1", "drops").splitlines()
    assert out[-2:] == ["stack (namespace c1): dropped 1", "    NEIGH_FAILED  1"]


def test_trace_cost_bench_runs_every_mode():
    from emunet.bench import trace_cost
    m = trace_cost.measure("docker-bridge", "capture+trace", 20)
    # the trace keeps every frame the capture keeps, and the notes besides
    assert m["received"] == 20 and m["trace_records"] > m["capture_frames"] >= 20 * 10
    r = trace_cost.per_report("docker-bridge", count=10, repeat=1)
    assert r["reports_per_ping"] > 10 and r["trace_us_per_report"] > 0
