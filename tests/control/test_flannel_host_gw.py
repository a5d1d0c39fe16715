"""Flannel's host-gw backend: plain routes on one L2 segment, refused across a router."""
import pytest
from scapy.layers.inet import IP
from scapy.layers.l2 import Ether

from emunet.scenarios import flannel_host_gw
from tests.tshark import fields, needs_tshark, problems

REFUSAL = ("Error adding route to 192.168.2.0/24 via 10.20.1.2 dev index 2: network is unreachable")


@pytest.fixture(scope="module")
def lab():
    return flannel_host_gw.build(seed=1).run()


def test_the_seeds_route_via_the_peer_node(lab):
    n1 = lab.node1
    assert "192.168.1.0/24 via 10.20.0.3 dev eth0" in n1.ip_route()
    assert n1.ip_route() == [
        "default via 10.20.0.1 dev eth0",
        "10.20.0.0/24 dev eth0 proto kernel scope link src 10.20.0.2",
        "192.168.0.0/24 dev cni0 proto kernel scope link src 192.168.0.1",
        "192.168.1.0/24 via 10.20.0.3 dev eth0",
    ]
    assert "192.168.0.0/24 via 10.20.0.2 dev eth0" in lab.node2.ip_route()
    assert lab.cluster.etcd.get("/coreos.com/network/subnets/192.168.1.0-24").value == \
        '{"PublicIP":"10.20.0.3","BackendType":"host-gw"}'
    assert lab.node1.flanneld.subnet_env["FLANNEL_MTU"] == "1500"


def test_pod1_reaches_pod2_in_two_plain_ip_hops(lab):
    assert lab.ping.received == 1 and "ttl=62" in lab.ping.stdout[1]
    pid = lab.ping.pids[0]
    wire = next(r for r in lab.capture.on("node1/eth0") if r.pid == pid and r.direction == "out")
    e = Ether(wire.data)
    assert len(wire.data) == 98 and e.dst == "42:01:0a:14:00:03"   # node2's NIC: the next hop's MAC
    assert e[IP].src == "192.168.0.2" and e[IP].dst == "192.168.1.2" and e[IP].ttl == 63
    assert [len(d) for d, _ in lab.sender.replies] == [1400]


def test_flanneld_refuses_the_route_to_a_node_behind_the_router(lab):
    fl = lab.node1.flanneld
    assert fl.errors() == [REFUSAL]
    assert any(line.startswith("E") and line.endswith("route_network.go] " + REFUSAL) for line in fl.stderr)
    assert not any("192.168.2.0/24" in line for line in lab.node1.ip_route())
    assert lab.node1.flanneld.backend.refused
    # node3 refuses node1's and node2's routes in turn
    assert len(lab.node3.flanneld.errors()) == 2


def test_the_ping_to_node3s_pod_dies_at_the_router(lab):
    assert lab.ping3.received == 0 and lab.ping3.exit_code == 1
    pid = lab.ping3.pids[0]
    drops = [(d.reason, d.where) for d in lab.capture.drops if d.pid == pid]
    assert drops == [("IP_NOROUTE", "router/eth0")]
    rec = next(r for r in lab.capture.on("router/eth0") if r.pid == pid)
    assert any(c.startswith("DROP IP_NOROUTE") for c in rec.comments)


def test_emunet_trace_shows_where_the_packet_dies():
    lab = flannel_host_gw.build(seed=1)
    trace, pid = lab.trace_packet("pod-1", "192.168.2.2", wait=3.0)
    assert trace.drop_reason(pid) == "IP_NOROUTE"
    last = trace.steps(pid, errors=False)[-1]
    assert (last.point, last.namespace) == ("drop", "router")
    assert "192.168.2.2 matches default via 10.20.0.1 dev eth0 (forwarding)" in trace.format(pid)


def test_a_deleted_route_is_recovered_within_ten_seconds(lab):
    ns = lab.node1.ns
    ns.route_del("192.168.1.0/24", dev="eth0")
    lab.sim.run(until=lab.sim.time + 10.5)
    assert "192.168.1.0/24 via 10.20.0.3 dev eth0" in lab.node1.ip_route()
    assert any("Route recovered 192.168.1.0/24 : 10.20.0.3" in line for line in lab.node1.flanneld.stderr)
    # the refused route is retried too, silently (the kernel's error is a net.Error)
    assert lab.node1.flanneld.errors() == [REFUSAL]


@needs_tshark
def test_tshark_reads_the_capture_cleanly(lab, tmp_path):
    path = tmp_path / "flannel-host-gw.pcapng"
    lab.capture.write(str(path))
    assert problems(path) == []
    rows = fields(path, ["frame.interface_name", "icmp.type", "ip.ttl"], ["-Y", "icmp"])
    assert ["node1/eth0", "8", "63"] in rows
