"""UDP sockets' IP_TTL and IP_RECVERR (``__udp4_lib_err``, ``ip_icmp_error``): what
traceroute and tracepath rely on."""
import errno

from emunet.scenarios import flannel_pmtu, flannel_vxlan
from emunet.stack.ipv4 import IP_PMTUDISC_DONT


def _socket(ns, dst, port, ttl=None, recverr=True, pmtudisc=None):
    sk = ns.udp.socket()
    sk.ip_ttl = ttl
    sk.recverr = recverr
    if pmtudisc is not None:
        sk.pmtudisc = pmtudisc
    sk.connect((dst, port))
    got = []
    sk.on_recverr = lambda *ee: got.append(ee[:6])   # the TTL (7th) comes from icmp.py
    sk.on_error = lambda e, origin: got.append(("on_error", e, origin))
    return sk, got


def test_ttl_exceeded_reaches_only_a_recverr_socket():
    """TTL 1 from pod-1: node1 answers with time exceeded from cni0's address.  With
    IP_RECVERR the socket hears it (EHOSTUNREACH, soft); without, a connected socket does not."""
    lab = flannel_vxlan.build(seed=1)
    lab.settle()
    ns = lab.client.ns
    a, got_a = _socket(ns, "100.96.2.2", 33434, ttl=1)
    b, got_b = _socket(ns, "100.96.2.2", 33435, ttl=1, recverr=False)
    c, got_c = _socket(ns, "100.96.2.2", 33436, ttl=2)
    for sk in (a, b, c):
        sk.send(b"probe")
    lab.sim.run(until=lab.sim.time + 0.1)
    assert got_a == [(errno.EHOSTUNREACH, "100.96.1.1", 11, 0, 0, 33434)] and a.error == errno.EHOSTUNREACH
    assert got_b == [] and b.error == 0
    assert got_c == [(errno.EHOSTUNREACH, "100.96.2.0", 11, 0, 0, 33436)]
    pkts = [r for r in lab.capture.on("pod-1/eth0") if r.direction == "out" and r.data[23] == 17]
    assert [r.data[22] for r in pkts] == [1, 1, 2]          # IP_TTL on the wire


def test_port_unreachable_and_fragmentation_needed_with_recverr():
    """flannel-pmtu: a 1500-byte datagram, DF set (IP_PMTUDISC_WANT), meets flannel.1's 1450:
    fragmentation needed with the MTU as ``info``; with IP_PMTUDISC_DONT it is fragmented
    and crosses, and the closed port answers with port unreachable (ECONNREFUSED)."""
    lab = flannel_pmtu.build(seed=1)
    lab.settle()
    ns = lab.client.ns
    want, got_want = _socket(ns, "100.96.2.2", 9)
    dont, got_dont = _socket(ns, "100.96.2.2", 10, pmtudisc=IP_PMTUDISC_DONT)
    want.send(bytes(1472))
    dont.send(bytes(1472))
    lab.sim.run(until=lab.sim.time + 0.1)
    assert got_want == [(errno.EMSGSIZE, "100.96.1.1", 3, 4, 1450, 9)]
    assert got_dont == [(errno.ECONNREFUSED, "100.96.2.2", 3, 3, 0, 10)]
