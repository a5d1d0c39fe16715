"""Calico's VXLAN mode on the seed's nodes: what Felix and the CNI plugin program, and the
frames on the wire (Scapy and tshark reading them)."""
import json

import pytest
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.l2 import Ether
from scapy.layers.vxlan import VXLAN

from emunet.control.calico import veth_name
from emunet.observe.show import run_command
from emunet.scenarios.calico_vxlan import build
from tests.tshark import fields, needs_tshark, problems


@pytest.fixture(scope="module")
def lab():
    return build().run()


def test_felix_programs_vxlan_routes_neighbour_fdb_and_blackhole(lab):
    n1 = lab.node1
    vtep2 = lab.node2.ns.dev("vxlan.calico")
    assert run_command(lab, "node1", "ip route").splitlines() == [
        "default via 192.168.0.1 dev eth0 ",
        "blackhole 10.20.0.0/24 proto 80 ",
        f"10.20.0.2 dev {veth_name('default', 'pod-1')} scope link ",
        f"10.20.0.3 dev {veth_name('default', 'pod-2')} scope link ",
        "10.20.1.0/24 via 10.20.1.0 dev vxlan.calico proto 80 onlink ",
        "192.168.0.0/24 dev eth0 proto kernel scope link src 192.168.0.2 ",
    ]
    mac2 = ":".join(f"{b:02x}" for b in vtep2.mac)
    assert f"10.20.1.0 dev vxlan.calico lladdr {mac2} PERMANENT" in run_command(lab, "node1", "ip neigh")
    assert run_command(lab, "node1", "bridge fdb show dev vxlan.calico") == f"{mac2} dst 192.168.0.3 self permanent\n"
    dev = n1.ns.dev("vxlan.calico")
    assert (dev.vni, dev.dstport, dev.learning, dev.mtu) == (4096, 4789, False, 1450)
    assert "inet 10.20.0.0/32 scope global vxlan.calico" in run_command(lab, "node1", "ip addr show vxlan.calico")


def test_the_cni_plugin_wires_pods_as_calico_does(lab):
    host = veth_name("default", "pod-1")
    assert len(host) == 15 and host.startswith("cali")
    assert run_command(lab, "pod-1", "ip route") == \
        "default via 169.254.1.1 dev eth0 \n169.254.1.1 dev eth0 scope link \n"
    assert "inet 10.20.0.2/32 scope global eth0" in run_command(lab, "pod-1", "ip addr")
    assert "mtu 1450" in run_command(lab, "pod-1", "ip link show eth0")
    link = run_command(lab, "node1", f"ip link show {host}")
    assert "link/ether ee:ee:ee:ee:ee:ee brd ff:ff:ff:ff:ff:ff" in link and "mtu 1450" in link
    cali = lab.node1.ns.dev(host)
    assert cali.conf["proxy_arp"] == 1 and cali.conf["proxy_delay_ms"] == 0 and cali.conf["forwarding"] == 1
    # Felix's static ARP entry: the host never ARPs for its pods
    pod_mac = ":".join(f"{b:02x}" for b in lab.pod1.mac)
    assert f"10.20.0.2 dev {host} lladdr {pod_mac} PERMANENT" in run_command(lab, "node1", "ip neigh")


def test_the_pods_arp_for_the_gateway_is_answered_by_proxy_with_the_cali_mac(lab):
    recs = lab.capture.on("pod-1/eth0")
    req, rep = Ether(recs[0].data), Ether(recs[1].data)
    assert req.pdst == "169.254.1.1" and req.psrc == "10.20.0.2" and req.dst == "ff:ff:ff:ff:ff:ff"
    assert rep.op == 2 and rep.hwsrc == "ee:ee:ee:ee:ee:ee" and rep.psrc == "169.254.1.1"
    # proxy_delay 0: the reply follows the request by the veth's crossing times alone
    assert recs[1].time_ns - recs[0].time_ns < 10_000


def test_the_echo_request_on_node1_eth0_is_vxlan_4096_on_4789(lab):
    outer = [Ether(r.data) for r in lab.capture.on("node1/eth0") if r.direction == "out" and len(r.data) == 148]
    p = outer[0]
    assert p[IP].src == "192.168.0.2" and p[IP].dst == "192.168.0.3" and p[IP].ttl == 64
    assert not p[IP].flags.DF
    assert p[UDP].dport == 4789 and 32768 <= p[UDP].sport <= 60999
    assert p[VXLAN].vni == 4096 and p[VXLAN].flags == 0x08
    inner = p[VXLAN].payload
    assert inner.src == ":".join(f"{b:02x}" for b in lab.node1.ns.dev("vxlan.calico").mac)
    assert inner.dst == ":".join(f"{b:02x}" for b in lab.node2.ns.dev("vxlan.calico").mac)
    assert inner[ICMP].type == 8 and inner[IP].ttl == 63 and inner[IP].flags.DF


def test_the_datastore_holds_calicos_resources(lab):
    store = lab.cluster.store
    node = json.loads(store.get("/calico/resources/v3/projectcalico.org/nodes/node2").value)
    assert node["spec"]["ipv4VXLANTunnelAddr"] == "10.20.1.0"
    assert node["spec"]["bgp"]["ipv4Address"] == "192.168.0.3/24"
    block = json.loads(store.get("/calico/ipam/v2/assignment/ipv4/block/10.20.0.0-24").value)
    assert block["affinity"] == "host:node1"
    assert [i for i, a in enumerate(block["allocations"]) if a is not None] == [0, 2, 3]
    pool = json.loads(store.get("/calico/resources/v3/projectcalico.org/ippools/default-ipv4-ippool").value)
    assert pool["spec"]["vxlanMode"] == "Always" and pool["spec"]["blockSize"] == 24


def test_ping_and_the_datagram_get_through(lab):
    assert lab.ping.received == 1
    assert sum(len(d) for d, _ in lab.sender.replies) == 1400


@needs_tshark
def test_tshark_decodes_the_inner_icmp_without_being_told(lab, tmp_path):
    path = lab.capture.write(str(tmp_path / "c.pcapng"))
    assert problems(path) == []
    rows = fields(path, ["frame.interface_name", "vxlan.vni", "icmp.type"])
    on_eth0 = [r for r in rows if r[0] == "node1/eth0" and r[1]]
    assert on_eth0 and all(r[1] == "4096" for r in on_eth0)
    assert {r[2] for r in on_eth0} >= {"8", "0"}


def test_ip_d_link_shows_the_vxlan_type_line_as_kernel_6_18_prints_it(lab):
    out = run_command(lab, "node1", "ip -d link show vxlan.calico").splitlines()
    assert out[1].endswith("promiscuity 0  allmulti 0 minmtu 68 maxmtu 65535 ")
    assert out[2].startswith("    vxlan id 4096 local 192.168.0.2 dev eth0 srcport 0 0 dstport 4789 nolearning "
                             "ttl auto ageing 300 udpcsum noudp6zerocsumtx noudp6zerocsumrx addrgenmode eui64 ")
