"""emunet's tracepath: exact output (the virtual clock makes the round trips exact) and the
probes on the wire.  The real one on the same topologies: tests/kernel/test_kernel_tracepath.py
(each output below that the kernel side also printed was checked against it, but for the
round trips)."""
import struct

import pytest
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.l2 import Ether

from emunet.apps.tracepath import UPTIME_NS, Tracepath
from emunet.apps.udp import UdpEchoServer
from emunet.scenarios import docker_bridge, flannel_pmtu


def _docker(*rules):
    lab = docker_bridge.build(seed=1)
    for rule in rules:
        lab.c2.ns.netfilter.iptables(rule)
    return lab


def _run(lab, ns, argv, until: float = 40.0, names=None):
    tp = ns.spawn(Tracepath.from_argv(argv, names=names))
    lab.sim.run(until=lab.sim.time + until)
    assert not tp.running
    return tp


def test_reached_twice_across_docker0():
    """The first 65507-byte send is refused locally with the route's MTU; the 1500-byte probe
    reaches c2; the MTU changed during that TTL, so tracepath probes once more."""
    lab = _docker()
    tp = _run(lab, lab.c1.ns, ["-n", "172.17.0.8"])
    assert tp.stdout == [" 1?: [LOCALHOST]                      pmtu 1500",
                         " 1:  172.17.0.8                                            0.008ms reached",
                         " 1:  172.17.0.8                                            0.004ms reached",
                         "     Resume: pmtu 1500 hops 1 back 1 "]


def test_pmtu_1450_on_flannel_pmtu():
    lab = flannel_pmtu.build(seed=1)
    lab.settle()
    tp = _run(lab, lab.client.ns, ["-n", lab.server.ip])
    assert tp.stdout == [" 1?: [LOCALHOST]                      pmtu 1500",
                         " 1:  100.96.1.1                                            0.004ms ",
                         " 1:  100.96.1.1                                            0.002ms ",
                         " 2:  100.96.1.1                                            0.002ms pmtu 1450",
                         " 2:  100.96.2.0                                            0.013ms ",
                         " 3:  100.96.2.2                                            0.013ms reached",
                         "     Resume: pmtu 1450 hops 3 back 3 "]


def test_probes_on_flannel_pmtu():
    """The probes: one socket (one source port), ports 44444 on, DF and IP ID 0 (an
    unconnected DO socket), TTL from IP_TTL, 1500 bytes until node1's fragmentation needed
    says 1450; the payload is the TTL (little-endian), padding, the monotonic send time,
    zeros.  The path MTU and the hops are right whatever the TTLs of the answers."""
    lab = flannel_pmtu.build(seed=1)
    lab.settle()
    t0 = lab.sim.now
    tp = _run(lab, lab.client.ns, ["-n", lab.server.ip])
    assert tp.stdout[3] == " 2:  100.96.1.1                                            0.002ms pmtu 1450"
    assert tp.stdout[-1].startswith("     Resume: pmtu 1450 hops 3 ")
    pkts = [Ether(r.data) for r in lab.capture.on("pod-1/eth0") if r.direction == "out"]
    probes = [p for p in pkts if UDP in p]
    assert [(p[IP].ttl, p[IP].len, p[UDP].dport) for p in probes] == [
        (1, 1500, 44444), (1, 1500, 44445), (2, 1500, 44446), (2, 1450, 44447), (3, 1450, 44448)]
    assert len({p[UDP].sport for p in probes}) == 1
    assert all(p[IP].flags == "DF" and p[IP].id == 0 for p in probes)
    times = [r.time_ns for r in lab.capture.on("pod-1/eth0") if r.direction == "out" and UDP in Ether(r.data)]
    for p, t in zip(probes, times):
        data = bytes(p[UDP].payload)
        ttl, pad, sec, nsec = struct.unpack_from("<IIqq", data)
        assert (ttl, pad) == (p[IP].ttl, 0) and data[24:] == bytes(len(data) - 24)
        sent = sec * 10**9 + nsec - UPTIME_NS           # CLOCK_MONOTONIC: the uptime, then the clock
        assert t0 <= sent <= t < sent + 10_000          # on the wire at once (the first after ARP)
    errors = [Ether(r.data) for r in lab.capture.on("pod-1/eth0") if r.direction == "in"
              and ICMP in Ether(r.data)]
    assert [(e[ICMP].type, e[ICMP].code) for e in errors] == [(11, 0), (11, 0), (3, 4), (11, 0), (3, 3)]


def test_names_and_both():
    """Without -n a name (from ``names``; an address without one is itself), with -b both;
    the host field is 52 columns wide."""
    lab = _docker()
    tp = _run(lab, lab.c1.ns, ["-b", "172.17.0.8"], names={"172.17.0.8": "c2"})
    assert tp.stdout[1] == " 1:  c2 (172.17.0.8)                                       0.008ms reached"
    lab = _docker()
    tp = _run(lab, lab.c1.ns, ["172.17.0.8"], names={"172.17.0.8": "c2"})
    assert tp.stdout[1] == " 1:  c2                                                    0.008ms reached"


def test_no_reply_and_too_many_hops():
    """Every probe dropped: three probes per TTL, each given 1 s (select), then ``no reply``
    (four at TTL 1: the MTU changed during the first, which starts the count again); ``-m 2``
    ends with ``Too many hops``; the Resume line has neither hops nor back."""
    lab = _docker("-A INPUT -p udp -j DROP")
    tp = lab.c1.ns.spawn(Tracepath.from_argv(["-n", "-m", "2", "172.17.0.8"]))
    lab.sim.run(until=3.999)
    assert tp.stdout == [" 1?: [LOCALHOST]                      pmtu 1500"]
    lab.sim.run(until=4.001)
    assert tp.stdout[1:] == [" 1:  no reply"]
    lab.sim.run(until=7.001)
    assert tp.stdout[2:] == [" 2:  no reply", "     Too many hops: pmtu 1500", "     Resume: pmtu 1500 "]
    assert tp.exit_code == 0


@pytest.mark.parametrize("rules, dst, hop, answers", [
    # c2 rejects: host unreachable, from c2
    (["-A INPUT -p udp -j REJECT --reject-with icmp-host-unreachable"], "172.17.0.8",
     "172.17.0.8", ["  0.008ms !H", "  0.004ms !H"]),
    # the docker host has no route for it: net unreachable, from docker0's address
    ([], "10.1.1.1", "172.17.0.1", ["  0.004ms !N", "  0.002ms !N"]),
])
def test_unreachables(rules, dst, hop, answers):
    """Twice each: the first answer ends the trace, but the MTU changed during that TTL."""
    lab = _docker(*rules)
    tp = _run(lab, lab.c1.ns, ["-n", dst])
    assert tp.stdout == [" 1?: [LOCALHOST]                      pmtu 1500",
                         f" 1:  {hop:<52}{answers[0]}", f" 1:  {hop:<52}{answers[1]}",
                         "     Resume: pmtu 1500 "]


def test_reply_received_and_pktlen():
    """A UDP answer to the probe (an echo server on 44444): ``reply received 8)``, and the
    trace goes on to the next probe's port unreachable; ``-l 1000`` starts at 1000 bytes
    (no local error)."""
    lab = _docker()
    lab.c2.ns.spawn(UdpEchoServer(44444))
    tp = _run(lab, lab.c1.ns, ["-n", "172.17.0.8"])
    assert tp.stdout[:3] == [" 1?: [LOCALHOST]                      pmtu 1500", " 1?: reply received 8)",
                             " 1:  172.17.0.8                                            0.004ms reached"]
    lab = _docker()
    tp = _run(lab, lab.c1.ns, ["-n", "-l", "1000", "-m", "2", "172.17.0.8"])
    assert tp.stdout[0] == " 1:  172.17.0.8                                            0.008ms reached"
    assert tp.stdout[1].startswith("     Resume: pmtu 1000 hops 1 ")


def test_errors():
    lab = _docker()
    lab.c1.ns.route_del("default")
    tp = _run(lab, lab.c1.ns, ["-n", "10.1.1.1"])       # ten sends fail: no route, no error queued
    assert (tp.stdout, tp.exit_code) == ([" 1:  send failed", "     Resume: pmtu 65535 "], 0)
    tp = _run(lab, lab.c1.ns, ["-n", "c9.example"])
    assert (tp.stdout, tp.stderr, tp.exit_code) == ([], ["tracepath: c9.example: Name or service not known"], 1)
    tp = _run(lab, lab.c1.ns, ["-n", "-l", "28", "172.17.0.8"])
    assert tp.stderr == ["tracepath: pktlen must be within: 28 < value <= 2147483647"]
    tp = Tracepath.from_argv(["-n", "172.17.0.8/33000"])
    lab.c1.ns.spawn(tp)
    assert tp.base_port == 33000 and tp.dst == 0xAC110008
