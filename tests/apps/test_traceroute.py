"""emunet's traceroute on the scenarios' topologies: what it prints, exactly (the virtual
clock makes the times exact too), and the probes it puts on the wire, read back with Scapy.
The same behaviour against the real traceroute: tests/kernel/test_kernel_traceroute.py."""
import pytest
from scapy.layers.inet import ICMP, IP, UDP, UDPerror
from scapy.layers.l2 import Ether

from emunet.apps.traceroute import ICMP_PROBE_NS, UDP_PROBE_NS, Traceroute
from emunet.scenarios import docker_bridge, flannel_pmtu, flannel_vxlan
from emunet.sim import MS, S, US

PROBE_DATA = bytes(range(0x40, 0x60))     # 0x40 + (i & 0x3f), i = 0..31


def _run(lab, ns, argv, until: float = 30.0):
    tr = ns.spawn(Traceroute.from_argv(argv))
    lab.sim.run(until=lab.sim.time + until)
    return tr


def _ip_frames(lab, iface: str):
    return [Ether(r.data) for r in lab.capture.on(iface) if Ether(r.data).type == 0x0800]


def test_udp_probes_across_docker0():
    """``traceroute 172.17.0.8`` from c1: sixteen probes at once (-N 16), TTL 1, 1, 1, 2, ...
    6, to ports 33434 to 33449, each from its own socket (a fresh source port, a connected
    socket's random IP ID), DF clear, 32 data bytes 0x40...0x5f; c2 answers six with port
    unreachable before its rate limit (burst 6) stops it, each before the next probe leaves;
    hop 1 is final.  Without -n each address is printed as its name and itself."""
    lab = docker_bridge.build(seed=1)
    tr = _run(lab, lab.c1.ns, ["172.17.0.8"])
    assert tr.stdout == ["traceroute to 172.17.0.8 (172.17.0.8), 30 hops max, 60 byte packets",
                         " 1  172.17.0.8 (172.17.0.8)  0.008 ms  0.004 ms  0.004 ms"]
    assert tr.exit_code == 0 and not tr.stderr
    pkts = _ip_frames(lab, "c1/eth0")
    probes = [p for p in pkts if UDP in p and p[IP].src == "172.17.0.7"]
    errors = [p for p in pkts if ICMP in p]
    assert len(probes) == 16 and len(errors) == 6
    assert [p[IP].ttl for p in probes] == [n // 3 + 1 for n in range(16)]
    assert [p[UDP].dport for p in probes] == list(range(33434, 33450))
    assert len({p[UDP].sport for p in probes}) == 16 and all(32768 <= p[UDP].sport <= 60999 for p in probes)
    for p in probes:
        assert p[IP].len == 60 and p[IP].flags == 0 and p[IP].tos == 0 and bytes(p[UDP].payload) == PROBE_DATA
        q = Ether(bytes(p))
        del q[IP].chksum, q[UDP].chksum
        assert bytes(Ether(bytes(q))) == bytes(p)          # both checksums as Scapy computes them
    # probe, answer, probe, answer ...: each port unreachable quotes the probe just before it
    order = [("probe" if UDP in p and ICMP not in p else "error") for p in pkts]
    assert order == ["probe", "error"] * 6 + ["probe"] * 10
    for probe, err in zip(probes, errors):
        assert (err[ICMP].type, err[ICMP].code, err[IP].src) == (3, 3, "172.17.0.8")
        assert err[UDPerror].sport == probe[UDP].sport and err[UDPerror].dport == probe[UDP].dport
    times = [r.time_ns for r in lab.capture.on("c1/eth0") if Ether(r.data).type == 0x0800]
    assert times[0] == UDP_PROBE_NS + 4 * US        # the first probe waited for ARP (4 µs)


def test_icmp_echo_probes_across_docker0():
    """``traceroute -n -I``: one raw socket, identifier = traceroute's pid, sequence 1 to 16,
    the connected socket's IP IDs one after the other, 32 data bytes 0x48... (the fill counts
    the ICMP header); every request is answered (echo replies are not rate-limited)."""
    lab = docker_bridge.build(seed=1)
    tr = _run(lab, lab.c1.ns, ["-n", "-I", "172.17.0.8"])
    assert tr.stdout == ["traceroute to 172.17.0.8 (172.17.0.8), 30 hops max, 60 byte packets",
                         " 1  172.17.0.8  0.008 ms  0.004 ms  0.004 ms"]
    pkts = _ip_frames(lab, "c1/eth0")
    reqs = [p for p in pkts if p[ICMP].type == 8]
    replies = [p for p in pkts if p[ICMP].type == 0]
    assert len(reqs) == len(replies) == 16
    assert [p[ICMP].seq for p in reqs] == list(range(1, 17)) and {p[ICMP].id for p in reqs} == {tr.ident}
    assert [p[IP].ttl for p in reqs] == [n // 3 + 1 for n in range(16)]
    assert all(p[IP].len == 60 and p[IP].flags == 0 and bytes(p[ICMP].payload) == bytes(range(0x48, 0x68))
               for p in reqs)
    assert [(p[IP].id - reqs[0][IP].id) & 0xFFFF for p in reqs] == list(range(16))
    times = [r.time_ns for r in lab.capture.on("c1/eth0") if Ether(r.data).type == 0x0800]
    assert times[2] == 2 * ICMP_PROBE_NS and tr.ident not in lab.c1.ns.icmp.sockets   # closed at exit


def test_three_hops_through_flannel_vxlan():
    """pod-1 → pod-4 across flannel.1: cni0's address on node1, flannel.1's on node2 (where
    the time exceeded goes back through the tunnel from), then the pod."""
    lab = flannel_vxlan.build(seed=1)
    lab.settle()
    tr = _run(lab, lab.client.ns, ["-n", lab.server.ip])
    assert tr.stdout == ["traceroute to 100.96.2.2 (100.96.2.2), 30 hops max, 60 byte packets",
                         " 1  100.96.1.1  0.004 ms  0.002 ms  0.002 ms",
                         " 2  100.96.2.0  0.010 ms  0.006 ms  0.006 ms",
                         " 3  100.96.2.2  0.010 ms  0.008 ms  0.008 ms"]


def test_mtu_discovery_on_flannel_pmtu():
    """``traceroute -n --mtu`` on flannel-pmtu (pods at 1500, flannel.1 at 1450): the first
    65000-byte probe is refused locally (``F=1500``), node1 refuses a 1500-byte one with
    fragmentation needed (``F=1450``), the rest cross at 1450."""
    lab = flannel_pmtu.build(seed=1)
    lab.settle()
    tr = _run(lab, lab.client.ns, ["-n", "--mtu", lab.server.ip])
    assert tr.stdout == ["traceroute to 100.96.2.2 (100.96.2.2), 30 hops max, 65000 byte packets",
                         " 1  100.96.1.1  0.004 ms F=1500  0.002 ms  0.002 ms",
                         " 2  100.96.2.0  0.013 ms F=1450  0.010 ms  0.009 ms",
                         " 3  100.96.2.2  0.014 ms  0.011 ms  0.012 ms"]
    sizes = [p[IP].len for p in _ip_frames(lab, f"{lab.client.ns.name}/eth0") if UDP in p and ICMP not in p]
    assert sizes == [1500] * 4 + [1450] * 6


def test_dropped_probe_is_a_star_after_three_round_trips():
    """c2 drops the probe to 33435: it expires HERE (3) times probe 1's round trip plus 1 ms
    after it was sent, in poll's whole milliseconds; traceroute then prints and exits."""
    lab = docker_bridge.build(seed=1)
    lab.c2.ns.netfilter.iptables("-A INPUT -p udp --dport 33435 -j DROP")
    tr = lab.c1.ns.spawn(Traceroute("172.17.0.8", numeric=True))
    # probe 2 leaves at 200 µs and would expire at 200 µs + 3 × (4 µs + 1 ms) = 3.212 ms; do_it
    # polls from 1.6 ms (after the sixteenth probe) for ceil(1.612) = 2 ms: 3.6 ms
    lab.sim.run(until=3.599e-3)
    assert tr.running
    lab.sim.run(until=3.601e-3)
    assert tr.exit_code == 0
    assert tr.stdout[1] == " 1  172.17.0.8  0.008 ms *  0.004 ms"


def test_every_probe_lost():
    """Nobody answers (c2 drops all UDP): one star per hop with -q 1, each after the whole
    wait (-w 1: HERE and NEAR are 0), the three probes out at once."""
    lab = docker_bridge.build(seed=1)
    lab.c2.ns.netfilter.iptables("-A INPUT -p udp -j DROP")
    tr = lab.c1.ns.spawn(Traceroute.from_argv(["-n", "-m", "3", "-q", "1", "-w", "1", "172.17.0.8"]))
    lab.sim.run(until=1.0)
    assert tr.running and tr.stdout == ["traceroute to 172.17.0.8 (172.17.0.8), 3 hops max, 60 byte packets"]
    lab.sim.run(until=2.0)
    assert tr.stdout[1:] == [" 1  *", " 2  *", " 3  *"] and tr.exit_code == 0


def test_host_unreachable_when_arp_fails():
    """Nobody has 172.17.0.99: the probes queue behind ARP; after three requests 1 s apart
    c1 answers each itself with host unreachable, from its own address: ``!H``."""
    lab = docker_bridge.build(seed=1)
    tr = _run(lab, lab.c1.ns, ["-n", "172.17.0.99"], until=5.0)
    assert tr.stdout == ["traceroute to 172.17.0.99 (172.17.0.99), 30 hops max, 60 byte packets",
                         " 1  172.17.0.7  3000.001 ms !H  2999.901 ms !H  2999.801 ms !H"]
    assert len([r for r in lab.capture.on("c1/lo") if r.direction == "in"]) == 16


def test_net_unreachable_from_the_docker_host():
    """10.1.1.1: c1's default route leads to the docker host, which has none: ``!N``."""
    lab = docker_bridge.build(seed=1)
    tr = _run(lab, lab.c1.ns, ["-n", "-q", "1", "10.1.1.1"], until=2.0)
    assert tr.stdout[1] == " 1  172.17.0.1  0.004 ms !N"


def test_dont_fragment_refused_locally():
    """``-F`` with 2000-byte packets on a 1500-byte eth0: every send fails with EMSGSIZE,
    the local error says 1500, nothing reaches the wire (not even ARP)."""
    lab = docker_bridge.build(seed=1)
    tr = _run(lab, lab.c1.ns, ["-n", "-F", "172.17.0.8", "2000"], until=2.0)
    assert tr.stdout == ["traceroute to 172.17.0.8 (172.17.0.8), 30 hops max, 2000 byte packets",
                         " 1  *  1.500 ms !F-1500 *  1.400 ms !F-1500 *  1.300 ms !F-1500"]
    assert lab.capture.on("c1/eth0") == []


def test_names_and_loopback():
    """Without -n, 127.0.0.1 is ``localhost`` (/etc/hosts) and ``names`` stands for what
    getnameinfo would find; ICMP mode's header counts 20 + 8 bytes at least."""
    lab = docker_bridge.build(seed=1)
    tr = _run(lab, lab.c1.ns, ["127.0.0.1"], until=1.0)
    assert tr.stdout[1] == " 1  localhost (127.0.0.1)  0.002 ms  0.002 ms  0.002 ms"
    tr = lab.c1.ns.spawn(Traceroute("172.17.0.8", 10, icmp=True, names={"172.17.0.8": "c2"}))
    lab.sim.run(until=lab.sim.time + 1.0)
    assert tr.stdout == ["traceroute to 172.17.0.8 (172.17.0.8), 30 hops max, 28 byte packets",
                         " 1  c2 (172.17.0.8)  0.008 ms  0.004 ms  0.004 ms"]


@pytest.mark.parametrize("argv, out, err, code", [
    (["-n", "-f", "40", "1.2.3.4"], [], ["first hop out of range"], 2),
    (["-n", "-q", "11", "1.2.3.4"], [], ["no more than 10 probes per hop"], 2),
    (["-n", "-m", "256", "1.2.3.4"], [], ["max hops cannot be more than 255"], 2),
    (["-n", "c9.example"], [], ["c9.example: Name or service not known",
                                "Cannot handle \"host\" cmdline arg `c9.example' on position 1 (argc 1)"], 2),
    # no route: the UDP probe's connect() fails after the header; ICMP's connect comes first
    (["-n", "10.1.1.1"], ["traceroute to 10.1.1.1 (10.1.1.1), 30 hops max, 60 byte packets"],
     ["connect: Network is unreachable"], 1),
    (["-n", "-I", "10.1.1.1"], [], ["", "connect: Network is unreachable"], 1),
])
def test_errors_as_traceroute_prints_them(argv, out, err, code):
    lab = docker_bridge.build(seed=1)
    lab.c1.ns.route_del("default")
    tr = _run(lab, lab.c1.ns, argv, until=1.0)
    assert (tr.stdout, tr.stderr, tr.exit_code) == (out, err, code)


def test_command_line():
    tr = Traceroute.from_argv(["-n", "-I", "-q2", "-m", "5", "-f", "2", "-N", "1", "-p", "40000", "-w", "2,1",
                               "172.17.0.8", "100"])
    assert (tr.numeric, tr.icmp, tr.probes_per_hop, tr.max_hops, tr.first_hop, tr.sim_probes, tr.port_seq,
            tr.packet_len) == (True, True, 2, 5, 2, 1, 40000, 100)
    assert (tr.wait_secs, tr.here_factor, tr.near_factor) == (2.0, 1.0, 0.0)
    assert Traceroute("x").here_factor == 3.0 and Traceroute("x", wait=4).near_factor == 0.0
    with pytest.raises(ValueError, match="not modelled"):
        Traceroute.from_argv(["-T", "172.17.0.8"])


def test_first_hop_port_and_queries():
    """``-f 2 -q 1 -N 1 -p 40000``: one probe at a time, from TTL 2, to port 40000 on."""
    lab = flannel_vxlan.build(seed=1)
    lab.settle()
    tr = _run(lab, lab.client.ns, ["-n", "-f", "2", "-q", "1", "-N", "1", "-p", "40000", lab.server.ip])
    assert tr.stdout[1:] == [" 2  100.96.2.0  0.012 ms", " 3  100.96.2.2  0.011 ms"]
    probes = [p for p in _ip_frames(lab, f"{lab.client.ns.name}/eth0") if UDP in p and ICMP not in p]
    assert [(p[IP].ttl, p[UDP].dport) for p in probes] == [(2, 40000), (3, 40001)]


def test_timing_constants_outlast_a_round_trip():
    """The per-probe system-call times are what keeps answers between probes: they must
    be longer than a round trip of the model's clusters (11 µs across flannel's VXLAN)."""
    assert UDP_PROBE_NS > ICMP_PROBE_NS > 11 * US and UDP_PROBE_NS < MS < S
