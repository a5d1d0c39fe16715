"""Flannel's VXLAN backend: what flanneld programs, what the kernel puts on the wire,
and what happens when leases come and go."""
import json
import struct

import pytest
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.l2 import Ether
from scapy.layers.vxlan import VXLAN

from emunet import Simulator
from emunet.scenarios import flannel_vxlan
from emunet.topology import Cluster
from emunet.wire.ethernet import mac_to_str
from emunet.wire.frame import Frame
from emunet.wire.vxlan import TunnelTemplate
from emunet.observe.capture import Capture
from tests.tshark import fields, needs_tshark, problems


@pytest.fixture(scope="module")
def lab():
    return flannel_vxlan.build(seed=1).run()


def _vtep(node):
    return node.ns.dev("flannel.1")


def test_pod1_pings_pod4_and_the_datagram_is_echoed(lab):
    assert lab.ping.received == 1
    assert "64 bytes from 100.96.2.2: icmp_seq=1 ttl=62" in lab.ping.stdout[1]
    assert [len(d) for d, _ in lab.sender.replies] == [1400]


def test_flannel1_is_configured_as_flanneld_creates_it(lab):
    for node, sn in ((lab.node1, "100.96.1.0"), (lab.node2, "100.96.2.0")):
        dev = _vtep(node)
        assert (dev.vni, dev.dstport, dev.learning, dev.mtu) == (1, 8472, False, 1450)
        assert dev.lower is node.eth0 and dev.mac[0] & 0x03 == 0x02     # random, local, unicast
        a = node.ns.addresses(dev)[0]
        assert (str(a.ip), a.prefixlen) == (sn, 32)
        assert dev.details().startswith(f"vxlan id 1 local {node.ip} dev eth0 srcport 0 0 dstport 8472 "
                                        "nolearning ttl auto ageing 300 udpcsum")
        assert node.bridge.name == "cni0" and node.bridge.mtu == 1450
    assert lab.pod1.mac == bytes.fromhex("0a58") + bytes((100, 96, 1, 2))


def test_for_the_remote_lease_flanneld_adds_neighbour_fdb_and_onlink_route(lab):
    n1, n2 = lab.node1, lab.node2
    vtep2 = mac_to_str(_vtep(n2).mac)
    neigh = [n.show() for n in n1.ns.neigh if n.dev.name == "flannel.1"]
    assert neigh == [f"100.96.2.0 dev flannel.1 lladdr {vtep2} PERMANENT"]
    assert _vtep(n1).fdb_lines() == [f"{vtep2} dst 10.168.0.3 self permanent"]
    assert "100.96.2.0/24 via 100.96.2.0 dev flannel.1 onlink" in n1.ip_route()
    assert n1.ip_route() == [
        "default via 10.168.0.1 dev eth0",
        "10.168.0.0/24 dev eth0 proto kernel scope link src 10.168.0.2",
        "100.96.1.0/24 dev cni0 proto kernel scope link src 100.96.1.1",
        "100.96.2.0/24 via 100.96.2.0 dev flannel.1 onlink",
    ]


def test_leases_carry_the_vtep_mac_and_subnet_env_the_vxlan_mtu(lab):
    etcd = lab.cluster.etcd
    v = etcd.get("/coreos.com/network/subnets/100.96.2.0-24").value
    assert v == ('{"PublicIP":"10.168.0.3","BackendType":"vxlan","BackendData":{"VtepMAC":"%s"}}'
                 % mac_to_str(_vtep(lab.node2).mac))
    assert json.loads(etcd.get("/coreos.com/network/config").value)["Backend"] == {"Type": "vxlan"}
    assert lab.node2.flanneld.subnet_env == {"FLANNEL_NETWORK": "100.96.0.0/16",
                                             "FLANNEL_SUBNET": "100.96.2.1/24",
                                             "FLANNEL_MTU": "1450", "FLANNEL_IPMASQ": "false"}


def test_the_echo_request_on_node1_eth0_is_148_bytes_as_on_the_kernel(lab):
    pid = lab.ping.pids[0]
    req = next(r for r in lab.capture.on("node1/eth0") if r.pid == pid and r.direction == "out")
    rep = next(r for r in lab.capture.on("node1/eth0") if r.direction == "in" and len(r.data) == 148)
    assert len(req.data) == 148 == 14 + 20 + 8 + 8 + 98 and len(rep.data) == 148
    e = Ether(req.data)
    assert e.src == "42:01:0a:a8:00:02" and e.dst == "42:01:0a:a8:00:03"
    assert (e[IP].len, e[IP].flags, e[IP].ttl, e[IP].proto) == (134, 0, 64, 17)
    assert (e[IP].src, e[IP].dst, e[UDP].dport) == ("10.168.0.2", "10.168.0.3", 8472)
    assert 32768 <= e[UDP].sport < 60999
    assert e[VXLAN].flags == 0x08 and e[VXLAN].vni == 1
    inner = e[VXLAN].payload
    assert inner.src == mac_to_str(_vtep(lab.node1).mac) and inner.dst == mac_to_str(_vtep(lab.node2).mac)
    assert inner[IP].ttl == 63 and inner[IP].flags == "DF" and inner[ICMP].type == 8
    # both checksums as Scapy recomputes them: the outer UDP checksum is filled in (udpcsum)
    assert e[UDP].chksum != 0
    q = Ether(req.data)
    del q[IP].chksum, q[UDP].chksum
    assert bytes(Ether(bytes(q))) == req.data
    assert Ether(rep.data)[IP].src == "10.168.0.3" and Ether(rep.data)[ICMP].type == 0


def test_the_1400_byte_datagram_fits_and_carries_50_bytes_of_overhead(lab):
    pid = lab.sender.pids[0]
    inner = next(r for r in lab.capture.on("pod-1/eth0") if r.pid == pid and r.direction == "out")
    outer = next(r for r in lab.capture.on("node1/eth0") if r.pid == pid and r.direction == "out")
    assert len(inner.data) == 1442 and len(outer.data) == 1492 and len(outer.data) - 14 <= 1500


@needs_tshark
def test_tshark_decodes_the_inner_icmp_with_8472_as_vxlan(lab, tmp_path):
    path = tmp_path / "flannel-vxlan.pcapng"
    lab.capture.write(str(path))
    assert problems(path) == []
    rows = fields(path, ["frame.interface_name", "frame.len", "vxlan.vni", "icmp.type", "ip.ttl"],
                  ["-Y", "vxlan && icmp"])
    req = [r for r in rows if r[0] == "node1/eth0" and r[3] == "8"]
    assert req and req[0][1] == "148" and req[0][2] == "1" and req[0][4] == "64,63"


def test_one_flow_one_source_port_and_one_kernel_gives_both_directions_the_same():
    for shared in (False, True):
        sim = Simulator(seed=4)
        Capture.attach(sim)
        c = Cluster(sim, backend="vxlan", shared_kernel=shared)
        c.add_segment("lan0", "10.168.0.0/24")
        n1, n2 = c.add_node("node1", "10.168.0.2"), c.add_node("node2", "10.168.0.3")
        a, b = c.add_pod(n1, "a"), c.add_pod(n2, "b")
        c.settle()
        p = a.ping(b.ip, count=3, interval=0.2)
        sim.run(until=sim.time + 2)
        assert p.received == 3
        sport = {r.direction: set() for r in Capture.of(sim).on("node1/eth0")}
        for r in Capture.of(sim).on("node1/eth0"):
            e = Ether(r.data)
            if VXLAN in e:
                sport[r.direction].add(e[UDP].sport)
        assert len(sport["out"]) == 1 and len(sport["in"]) == 1
        # on one kernel (the netns test bed of the wire facts) the reply's port is the request's
        assert (sport["out"] == sport["in"]) == shared


def _cluster(seed=2, **kw):
    sim = Simulator(seed=seed)
    Capture.attach(sim)
    c = Cluster(sim, backend="vxlan", **kw)
    c.add_segment("lan0", "10.168.0.0/24")
    return sim, c


def test_lease_expiry_removes_neighbour_fdb_and_route_and_the_next_packet_dies():
    sim, c = _cluster()
    n1 = c.add_node("node1", "10.168.0.2", subnet="100.96.1.0/24")
    n2 = c.add_node("node2", "10.168.0.3", subnet="100.96.2.0/24")
    a, b = c.add_pod(n1, "a"), c.add_pod(n2, "b")
    c.settle()
    assert len(_vtep(n1).fdb) == 1
    n2.flanneld.stop()                      # node2 dies: nobody renews its lease
    sim.run(until=24 * 3600 - 10)
    assert "100.96.2.0/24 via 100.96.2.0 dev flannel.1 onlink" in n1.ip_route()
    sim.run(until=24 * 3600 + 1)
    assert not any("100.96.2.0/24" in line for line in n1.ip_route())
    assert _vtep(n1).fdb == {} and [n for n in n1.ns.neigh if n.dev.name == "flannel.1"] == []
    assert any("removing subnet: 100.96.2.0/24" in text for _, _, text in n1.flanneld.log)
    # node1's own lease was renewed, so node2's flannel.1 (still in the kernel) keeps its entries
    assert "100.96.1.0/24 via 100.96.1.0 dev flannel.1 onlink" in n2.ip_route()
    p = a.ping(b.ip, linger=2.0)
    sim.run(until=sim.time + 3)
    assert p.received == 0
    # without the /24 route the packet takes node1's default route to the router, which has none
    drops = [(d.reason, d.where) for d in Capture.of(sim).drops if d.pid == p.pids[0]]
    assert drops == [("IP_NOROUTE", "router/eth0")]


def test_a_new_lease_adds_the_entries_and_a_changed_one_replaces_them():
    sim, c = _cluster(seed=3)
    n1 = c.add_node("node1", "10.168.0.2")
    a = c.add_pod(n1, "a")
    c.settle()
    assert _vtep(n1).fdb == {}
    n3 = c.add_node("node3", "10.168.0.4")
    b = c.add_pod(n3, "b")
    assert n3.subnet != n1.subnet and n1.subnet.prefixlen == 24
    c.settle(0.002)
    vtep3 = _vtep(n3).mac
    assert _vtep(n1).fdb[vtep3].dst == 0x0AA80004
    assert f"{n3.subnet} via {n3.subnet.network_address} dev flannel.1 onlink" in n1.ip_route()
    p = a.ping(b.ip)
    sim.run(until=sim.time + 1)
    assert p.received == 1
    # node3's flanneld restarts with a new VTEP MAC (a new flannel.1): same subnet, new lease value
    key = f"/coreos.com/network/subnets/{n3.subnet.network_address}-24"
    lease = json.loads(c.etcd.get(key).value)
    lease["BackendData"]["VtepMAC"] = "0e:00:00:00:00:03"
    c.etcd.put(key, json.dumps(lease, separators=(",", ":")), ttl=24 * 3600)
    c.settle(0.002)
    gw = int(n3.subnet.network_address)
    assert mac_to_str(n1.ns.neigh.lookup(_vtep(n1), gw).lladdr) == "0e:00:00:00:00:03"
    assert bytes.fromhex("0e0000000003") in _vtep(n1).fdb


def test_flanneld_exits_when_its_own_lease_is_revoked():
    sim, c = _cluster(seed=5)
    n1 = c.add_node("node1", "10.168.0.2")
    c.settle()
    c.etcd.delete(f"/coreos.com/network/subnets/{n1.subnet.network_address}-24")
    c.settle()
    assert n1.flanneld.exit_code == 1
    assert n1.flanneld.stderr[-1].endswith("Lease has been revoked. Shutting down daemon.")


def test_a_frame_for_a_vni_nobody_has_is_dropped_by_the_vxlan_socket(lab):
    n2 = lab.node2
    inner = bytes(Ether(src="02:00:00:00:00:01", dst=mac_to_str(_vtep(n2).mac)) /
                  IP(src="100.96.1.9", dst="100.96.2.2", ttl=63, id=1) / ICMP())
    t = TunnelTemplate(bytes((10, 168, 0, 2)), bytes((10, 168, 0, 3)), 8472, vni=42)
    before = n2.ns.drop_reasons["VXLAN_VNI_NOT_FOUND"]
    n2.eth0.receive(Frame(n2.eth0.mac + lab.node1.eth0.mac + b"\x08\x00" + t.build(inner, 40000, 7), 0))
    lab.sim.run(until=lab.sim.time + 0.001)
    assert n2.ns.drop_reasons["VXLAN_VNI_NOT_FOUND"] == before + 1


def test_vxlan_works_across_a_router():
    sim = Simulator(seed=6)
    Capture.attach(sim)
    c = Cluster(sim, backend="vxlan")
    c.add_segment("lan0", "10.168.0.0/24")
    c.add_segment("lan1", "10.168.1.0/24")
    n1, n2 = c.add_node("node1", "10.168.0.2"), c.add_node("node2", "10.168.1.2")
    a, b = c.add_pod(n1, "a"), c.add_pod(n2, "b")
    c.settle()
    p = a.ping(b.ip)
    sim.run(until=sim.time + 1)
    assert p.received == 1
    outer = [Ether(r.data) for r in Capture.of(sim).on("router/eth1") if r.direction == "out"]
    vx = [e for e in outer if VXLAN in e]
    assert vx and vx[0][IP].ttl == 63        # the router forwarded the outer packet
    assert struct.unpack("!H", bytes(vx[0][IP])[6:8])[0] & 0x4000 == 0
