"""The seed's Flannel UDP walkthrough, frame by frame and table by table."""
import json

import pytest
from scapy.layers.inet import ICMP, IP, UDP, UDPerror
from scapy.layers.l2 import Ether

from emunet.apps.udp import UdpSender
from emunet.scenarios import flannel_udp
from emunet.scenarios.base import udp_payload
from emunet.wire.frame import LINKTYPE_RAW
from emunet.observe.capture import Capture
from tests.tshark import needs_tshark, fields, problems

SEED_NODE1 = """\
default via 10.168.0.1 dev eth0
100.96.0.0/16 dev flannel0 proto kernel scope link src 100.96.1.0
100.96.1.0/24 dev docker0 proto kernel scope link src 100.96.1.1
10.168.0.0/24 dev eth0 proto kernel scope link src 10.168.0.2""".splitlines()
SEED_NODE2 = """\
default via 10.168.0.1 dev eth0
100.96.0.0/16 dev flannel0 proto kernel scope link src 100.96.2.0
100.96.2.0/24 dev docker0 proto kernel scope link src 100.96.2.1
10.168.0.0/24 dev eth0 proto kernel scope link src 10.168.0.3""".splitlines()


@pytest.fixture(scope="module")
def lab():
    return flannel_udp.build(seed=1).run()


def test_container1_pings_container4_and_gets_the_datagram_echoed(lab):
    assert lab.ping.received == 1 and lab.ping.exit_code == 0
    # two kernel forwards and two decrements in flanneld's proxy (proxy_amd64.c decrement_ttl)
    assert "64 bytes from 100.96.2.2: icmp_seq=1 ttl=60" in lab.ping.stdout[1]
    assert [len(d) for d, _ in lab.sender.replies] == [1400]
    assert lab.sender.replies[0][0] == udp_payload()


def test_node_routing_tables_are_the_seeds_line_for_line(lab):
    for node, seed in ((lab.node1, SEED_NODE1), (lab.node2, SEED_NODE2)):
        lines = node.ip_route()
        assert sorted(lines) == sorted(seed)
        # `ip route` walks the FIB trie: by address, so 10.168.0.0/24 comes before 100.96.0.0/16
        # (the seed lists them in another order)
        assert lines == [seed[0], seed[3], seed[1], seed[2]]


def test_emunet_show_prints_the_seeds_tables():
    pytest.importorskip("emunet.observe.show")
    from emunet.cli import main
    import contextlib
    import io
    for node, seed in (("node1", SEED_NODE1), ("node2", SEED_NODE2)):
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            assert main(["show", "flannel-udp", node, "ip route"]) == 0
        assert sorted(line.rstrip() for line in buf.getvalue().splitlines()) == sorted(seed)


def test_flannel0_is_a_layer3_tun_device_as_flanneld_configures_it(lab):
    tun = lab.node1.ns.dev("flannel0")
    assert tun.kind == "tun" and tun.linktype == LINKTYPE_RAW and tun.mac == b"\0" * 6
    assert tun.mtu == 1472 and tun.noarp and tun.pointopoint and tun.running
    a = lab.node1.ns.addresses(tun)[0]
    assert (str(a.ip), a.prefixlen, a.broadcast) == ("100.96.1.0", 16, None)
    # captured as raw IP: the first byte is the IPv4 version/IHL
    recs = lab.capture.on("node1/flannel0")
    assert recs and all(r.linktype == LINKTYPE_RAW and r.data[0] == 0x45 for r in recs)


def test_leases_subnet_env_and_config_are_flannels(lab):
    etcd = lab.cluster.etcd
    cfg = json.loads(etcd.get("/coreos.com/network/config").value)
    assert cfg == {"Network": "100.96.0.0/16", "SubnetLen": 24, "Backend": {"Type": "udp"}}
    # the udp backend publishes the PublicIP only (backend/udp/udp.go)
    assert etcd.get("/coreos.com/network/subnets/100.96.1.0-24").value == '{"PublicIP":"10.168.0.2"}'
    assert etcd.get("/coreos.com/network/subnets/100.96.2.0-24").value == '{"PublicIP":"10.168.0.3"}'
    lease = etcd.leases[etcd.get("/coreos.com/network/subnets/100.96.1.0-24").lease]
    assert lease.ttl == 24 * 3600
    assert lab.node1.flanneld.files["/run/flannel/subnet.env"] == (
        "FLANNEL_NETWORK=100.96.0.0/16\nFLANNEL_SUBNET=100.96.1.1/24\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=false\n")
    # docker was started with --bip/--mtu from it; containers get 02:42 + their address
    assert lab.node1.bridge.name == "docker0" and lab.node1.bridge.mtu == 1472
    assert lab.container1.mac == bytes.fromhex("0242") + bytes((100, 96, 1, 2))
    assert lab.container1.veth_host.name.startswith("veth") and len(lab.container1.veth_host.name) == 11


def test_the_datagram_on_the_wire_is_the_bare_inner_packet_in_udp_8285(lab):
    pid = lab.ping.pids[0]
    inner = next(r for r in lab.capture.on("node1/flannel0") if r.pid == pid)
    outer = next(r for r in lab.capture.on("node1/eth0") if r.pid == pid and r.direction == "out")
    e = Ether(outer.data)
    assert len(outer.data) == 14 + 20 + 8 + 84 == 126
    assert (e[IP].src, e[IP].dst, e[IP].flags, e[IP].ttl) == ("10.168.0.2", "10.168.0.3", "DF", 64)
    assert (e[UDP].sport, e[UDP].dport) == (8285, 8285)
    payload = bytes(e[UDP].payload)
    assert payload[8] == inner.data[8] - 1 and payload[9:10] == inner.data[9:10]   # proxy's TTL − 1
    assert payload[12:] == inner.data[12:]
    q = Ether(outer.data)
    del q[IP].chksum, q[UDP].chksum
    assert bytes(Ether(bytes(q))) == outer.data


def test_three_copies_on_the_sending_node_as_the_seed_counts(lab):
    pid = lab.sender.pids[0]
    # the container's send(), flanneld's read() from flannel0 and its sendto()
    assert 1 + lab.node1.flanneld.crossings[pid] == 3
    # and on node2: flanneld's recv() and write() into flannel0
    assert lab.node2.flanneld.crossings[pid] == 2
    notes = [c for r in lab.capture.on("node1/flannel0") if r.pid == pid for c in r.comments]
    assert any("read() the packet from flannel0" in c for c in notes)
    assert any("sendto 10.168.0.3:8285" in c for c in notes)


@needs_tshark
def test_tshark_decodes_the_inner_icmp_with_udp_8285_as_ip(lab, tmp_path):
    path = tmp_path / "flannel-udp.pcapng"
    lab.capture.write(str(path))
    assert problems(path) == []
    rows = fields(path, ["frame.interface_name", "frame.len", "udp.port", "icmp.type", "ip.ttl"],
                  ["-Y", "icmp && udp.port == 8285"])
    on_eth0 = [r for r in rows if r[0] == "node1/eth0"]
    assert {r[3] for r in on_eth0} == {"8", "0"}          # request out, reply in
    req = next(r for r in on_eth0 if r[3] == "8")
    assert req[1] == "126" and req[4] == "64,62"          # outer TTL 64, inner 62 after the proxy


def test_a_destination_without_a_lease_gets_flanneld_s_net_unreachable_which_the_node_drops(lab):
    """flanneld writes ICMP net unreachable (TTL 8, from flannel0's own address) into the TUN;
    the node's kernel refuses it as a martian source (its own address, coming in on
    flannel0, accept_local=0), so the container never hears of it: the real kernel does
    exactly this (tests/kernel/test_kernel_flannel.py::test_flannel_udp_through_flannel0)."""
    sim = lab.sim
    app = lab.container1.ns.spawn(UdpSender("100.96.9.9", 53, b"q"))
    sim.run(until=sim.time + 1)
    assert app.errors == []

    def net_unreachable(records, read):
        """flanneld's error: a packet of its own (its own pid), found by the datagram it quotes."""
        return [p for p in (read(r.data) for r in records if r.direction == "in")
                if ICMP in p and p[ICMP].type == 3 and UDPerror in p and p[UDPerror].dport == 53]

    back = net_unreachable(Capture.of(sim).on("node1/flannel0"), IP)
    assert back and back[0][ICMP].code == 0
    assert back[0][IP].src == "100.96.1.0" and back[0][IP].ttl == 8 and back[0][IP].id == 0
    assert not net_unreachable(Capture.of(sim).on("container-1/eth0"), Ether)
    # flanneld's proxy finds no lease, then node1 refuses what it writes back
    assert [(d.reason, d.where) for d in Capture.of(sim).drops if d.pid == app.pids[0]] == [
        ("IP_NOROUTE", "node1/flannel0")]
    assert [d.where for d in Capture.of(sim).drops if d.reason == "IP_LOCAL_SOURCE"] == ["node1/flannel0"]
    # with accept_local on flannel0 it is forwarded (TTL 7), and still not reported to the
    # connected socket: net unreachable is a soft error
    lab.node1.ns.set_sysctl("net.ipv4.conf.flannel0.accept_local", 1)
    app = lab.container1.ns.spawn(UdpSender("100.96.9.9", 53, b"q"))
    sim.run(until=sim.time + 1)
    icmp = net_unreachable(Capture.of(sim).on("container-1/eth0"), Ether)
    assert icmp and icmp[0][ICMP].code == 0 and icmp[0][IP].ttl == 8 - 1
    assert app.errors == []


def test_when_node2s_lease_expires_node1_forgets_it_and_the_next_packet_dies_in_flanneld():
    lab = flannel_udp.build(seed=1, capture=True)
    lab.settle()
    lab.node2.flanneld.stop()
    # a TUN device without TUNSETPERSIST goes away with the process
    assert "flannel0" not in lab.node2.ns.devices
    lab.sim.run(until=23 * 3600)
    assert lab.cluster.etcd.get("/coreos.com/network/subnets/100.96.2.0-24") is not None
    lab.sim.run(until=24 * 3600 + 1)
    assert lab.cluster.etcd.get("/coreos.com/network/subnets/100.96.2.0-24") is None
    fl = lab.node1.flanneld
    assert fl.backend.routes == {} and not fl.leases
    assert any("Subnet removed: 100.96.2.0/24" in line for line in fl.stderr)
    # node1's own lease was renewed an hour before expiry and is still there
    assert any("Lease renewed" in line for line in fl.stderr)
    p = lab.container1.ping("100.96.2.2", linger=2.0)
    lab.sim.run(until=lab.sim.time + 3)
    assert p.received == 0
    drops = [d for d in lab.capture.drops if d.pid == p.pids[0]]
    assert [(d.reason, d.where) for d in drops] == [("IP_NOROUTE", "node1/flannel0")]
