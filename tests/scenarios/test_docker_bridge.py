"""The seed's single-host network: c1 → c2 across docker0, checked frame by frame."""
import struct

from scapy.layers.inet import ICMP, IP
from scapy.layers.l2 import ARP, Ether

from emunet import Simulator
from emunet.docker import DockerHost
from emunet.scenarios import docker_bridge
from emunet.wire.ethernet import mac_to_str


def _run():
    return docker_bridge.build(seed=1).run()


def test_docker0_sees_arp_then_icmp_with_linux_field_values():
    lab = _run()
    pkts = [Ether(r.data) for r in lab.capture.on("host/docker0")]
    req, rep, echo, reply = pkts[:4]

    assert len(req) == 42 and req.dst == "ff:ff:ff:ff:ff:ff" and req.src == "02:42:ac:11:00:07"
    assert req[ARP].op == 1 and req[ARP].hwsrc == "02:42:ac:11:00:07" and req[ARP].psrc == "172.17.0.7"
    assert req[ARP].hwdst == "00:00:00:00:00:00" and req[ARP].pdst == "172.17.0.8"

    assert len(rep) == 42 and rep.dst == "02:42:ac:11:00:07" and rep.src == "02:42:ac:11:00:08"
    assert rep[ARP].op == 2 and (rep[ARP].hwsrc, rep[ARP].psrc) == ("02:42:ac:11:00:08", "172.17.0.8")
    assert (rep[ARP].hwdst, rep[ARP].pdst) == ("02:42:ac:11:00:07", "172.17.0.7")

    assert len(echo) == 98 and echo[IP].len == 84 and echo[IP].flags == "DF"
    assert echo[IP].ttl == 64 and echo[IP].tos == 0 and echo[ICMP].type == 8 and echo[ICMP].seq == 1
    data = bytes(echo[ICMP].payload)
    assert len(data) == 56 and data[16:] == bytes(range(0x10, 0x38))
    sec, usec = struct.unpack("<qq", data[:16])
    assert sec * 10**9 + usec * 1000 <= lab.sim.epoch_ns + 10**9

    assert len(reply) == 98 and reply[IP].flags == 0 and reply[IP].ttl == 64
    assert reply[ICMP].type == 0 and reply[ICMP].id == echo[ICMP].id and bytes(reply[ICMP].payload) == data
    assert reply[IP].id != echo[IP].id
    # checksums as the sender computed them are the ones Scapy recomputes
    for p in (echo, reply):
        raw = bytes(p)
        q = Ether(raw)
        del q[IP].chksum, q[ICMP].chksum
        assert bytes(Ether(bytes(q))) == raw


def test_frame_crosses_every_interface_on_its_path_in_order():
    lab = _run()
    echo_pid = lab.ping.pids[0]
    path = [(r.iface, r.direction) for r in lab.capture.records if r.pid == echo_pid][:5]
    v1 = lab.c1.veth_host.name
    v2 = lab.c2.veth_host.name
    assert path == [("c1/eth0", "out"), (f"host/{v1}", "in"), ("host/docker0", "in"),
                    (f"host/{v2}", "out"), ("c2/eth0", "in")]
    comments = {r.iface: r.comments for r in lab.capture.records if r.pid == echo_pid}
    assert any("route 172.17.0.0/16 dev eth0" in c for c in comments["c1/eth0"])
    assert any(c.startswith("fdb hit 02:42:ac:11:00:08") for c in comments["host/docker0"])


def test_arp_request_is_flooded_and_learned():
    lab = _run()
    first = lab.capture.on("host/docker0")[0]
    assert any("learn 02:42:ac:11:00:07" in c and "flood" in c for c in first.comments)
    fdb = {mac_to_str(e.mac): e for e in lab.docker.bridge.fdb_entries()}
    assert fdb["02:42:ac:11:00:07"].port is lab.c1.veth_host
    assert fdb["02:42:ac:11:00:08"].port is lab.c2.veth_host
    assert not fdb["02:42:ac:11:00:07"].is_local


def test_ping_transcript_is_iputils():
    lab = _run()
    out = lab.ping.stdout
    assert out[0] == "PING 172.17.0.8 (172.17.0.8) 56(84) bytes of data."
    assert out[1].startswith("64 bytes from 172.17.0.8: icmp_seq=1 ttl=64 time=0.0")
    assert out[1].endswith(" ms")
    assert out[3] == "--- 172.17.0.8 ping statistics ---"
    assert out[4] == "1 packets transmitted, 1 received, 0% packet loss, time 0ms"
    assert out[5].startswith("rtt min/avg/max/mdev = ")
    assert lab.ping.exit_code == 0


def test_python_api_of_the_issue():
    sim = Simulator(seed=1)
    host = DockerHost(sim)
    c1 = host.run("c1")
    c2 = host.run("c2")
    assert (c1.ip, c2.ip) == ("172.17.0.2", "172.17.0.3")
    assert mac_to_str(c2.mac) == "02:42:ac:11:00:03"
    assert c1.veth_host.name.startswith("veth") and len(c1.veth_host.name) == 11
    p = c1.ping("172.17.0.3", count=3)
    sim.run()
    assert p.received == 3 and p.exit_code == 0
    assert "3 packets transmitted, 3 received, 0% packet loss, time 2000ms" in p.stdout


def test_neighbour_states_after_the_ping():
    lab = docker_bridge.build(seed=1)
    lab.traffic()
    lab.sim.run(until=1.0)
    c1 = lab.c1.ns
    n = c1.neigh.lookup(c1.dev("eth0"), 0xAC110008)
    assert n.state == "REACHABLE" and mac_to_str(n.lladdr) == "02:42:ac:11:00:08"
    # c2 learned c1 from the request (STALE), used it for the reply (DELAY), then probes
    c2 = lab.c2.ns
    assert c2.neigh.lookup(c2.dev("eth0"), 0xAC110007).state == "DELAY"
    lab.sim.run(until=6.0)
    assert c2.neigh.lookup(c2.dev("eth0"), 0xAC110007).state == "REACHABLE"
    probe = [r for r in lab.capture.on("c2/eth0") if r.direction == "out"][-1]
    arp = Ether(probe.data)[ARP]
    assert arp.op == 1 and Ether(probe.data).dst == "02:42:ac:11:00:07"  # unicast probe


def test_bad_topology_is_refused_with_the_culprit_named():
    import pytest
    sim = Simulator(seed=1)
    host = DockerHost(sim)
    host.run("c1", ip="172.17.0.7")
    with pytest.raises(ValueError, match="172.17.0.7 is c1's"):
        host.run("c2", ip="172.17.0.7")
    with pytest.raises(ValueError, match="c1.*already in use"):
        host.run("c1")
    with pytest.raises(ValueError, match="10.0.0.5.*172.17.0.0/16"):
        host.run("c3", ip="10.0.0.5")
    with pytest.raises(KeyError, match="nosuch"):
        host.ns.dev("nosuch")
    with pytest.raises(ValueError, match="already on eth0"):
        sim.ns("c1").addr_add("lo", "172.17.0.7/32")
