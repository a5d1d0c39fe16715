"""Path-MTU discovery and fragmentation on the output path: what a fragmentation needed
teaches a namespace (``__ip_rt_update_pmtu``), how ``ip route get`` and ``ip route show
cache`` show it, DF per socket mode, forwarding a packet longer than the next link, and a
tunnel's outer packet that does not fit its underlay."""
from scapy.layers.inet import ICMP, IP
from scapy.layers.l2 import Ether

from emunet.apps import Ping, UdpSender
from emunet.observe.show.iproute import ip_route_get, ip_route_show_cache
from emunet.sim import S
from emunet.stack.fib import IP_RT_MIN_PMTU
from emunet.wire.ipv4 import ip_to_int

from tests.stack.test_ipv4 import routed

RIGHT = ip_to_int("10.0.2.2")


def _capture(sim):
    return next(o for o in sim.observers if hasattr(o, "on"))


def test_a_fragmentation_needed_is_learned_for_600_s_and_shown_by_ip_route():
    sim, left, r, right = routed(mtu_right=1400)
    left.spawn(Ping("10.0.2.2", count=1, size=1472, pmtudisc="do"))
    sim.run(until=1.0)
    e = left.fib.exceptions[RIGHT]
    assert e.mtu == 1400 and not e.locked
    assert ip_route_get(left, "10.0.2.2") == \
        "10.0.2.2 via 10.0.1.1 dev eth0 src 10.0.1.2 uid 0 \n    cache expires 599sec mtu 1400 \n"
    assert ip_route_show_cache(left) == "10.0.2.2 via 10.0.1.1 dev eth0 \n    cache expires 599sec mtu 1400 \n"
    # the router forwards on its device's MTU and learns nothing
    assert r.fib.exceptions == {}
    assert ip_route_get(r, "10.0.2.2").endswith("\n    cache \n")
    sim.run(until=601.0)
    assert ip_route_get(left, "10.0.2.2").endswith("uid 0 \n    cache \n")
    assert ip_route_show_cache(left) == "" and left.fib.exceptions == {}


def test_update_pmtu_never_raises_the_mtu_and_clamps_at_the_minimum():
    sim, left, _, _ = routed()
    fib = left.fib
    assert fib.update_pmtu(RIGHT, 1400) and fib.exceptions[RIGHT].mtu == 1400
    assert not fib.update_pmtu(RIGHT, 1450)              # an increase is ignored
    assert fib.exceptions[RIGHT].mtu == 1400
    assert fib.update_pmtu(RIGHT, 300)                   # below ip_rt_min_pmtu: 552, locked
    e = fib.exceptions[RIGHT]
    assert (e.mtu, e.locked) == (IP_RT_MIN_PMTU, True)
    assert "mtu lock 552" in ip_route_get(left, "10.0.2.2")
    # a route change leaves the exception behind: it belonged to the old route
    left.route_del("default")
    left.route_add("10.0.2.0/24", via="10.0.1.1")
    assert fib.mtu(RIGHT, fib.lookup(RIGHT)) == 1500 and RIGHT not in fib.exceptions


def test_udp_want_sets_df_when_it_fits_and_fragments_when_it_does_not():
    sim, left, r, right = routed(mtu_right=1400)
    cap = _capture(sim)
    left.spawn(UdpSender("10.0.2.2", 9, b"x" * 100))
    left.spawn(UdpSender("10.0.2.2", 9, b"y" * 2000))
    sim.run(until=1.0)
    sent = [Ether(rec.data) for rec in cap.on("left/eth0") if Ether(rec.data).haslayer(IP)
            and Ether(rec.data)[IP].src == "10.0.1.2"]
    shapes = [(p[IP].len, p[IP].flags.DF, p[IP].flags.MF, p[IP].frag * 8) for p in sent]
    assert shapes == [(128, 1, 0, 0), (1500, 0, 1, 0), (548, 0, 0, 1480)]
    # the router cuts the 1500-byte piece again for its 1400-byte link, offsets kept
    fwd = [Ether(rec.data)[IP] for rec in cap.on("router/eth2") if Ether(rec.data).haslayer(IP)
           and Ether(rec.data)[IP].src == "10.0.1.2"]
    assert [(p.len, p.flags.MF, p.frag * 8) for p in fwd] == \
        [(128, 0, 0), (1396, 1, 0), (124, 1, 1376), (548, 0, 1480)]
    assert right.ipv4.stats["ReasmOKs"] == 1 and r.ipv4.stats["FragCreates"] == 2


def test_forwarding_with_df_answers_frag_needed_from_the_incoming_routes_source():
    sim, left, r, right = routed(mtu_right=1400)
    cap = _capture(sim)
    p = left.spawn(Ping("10.0.2.2", count=1, size=1472, pmtudisc="do"))
    sim.run(until=1.0)
    assert p.stdout[1] == "From 10.0.1.1 icmp_seq=1 Frag needed and DF set (mtu = 1400)"
    err = [Ether(rec.data) for rec in cap.on("left/eth0") if Ether(rec.data).haslayer(ICMP)
           and Ether(rec.data)[ICMP].type == 3]
    assert len(err) == 1
    ip = err[0][IP]
    assert (ip.src, ip.tos, ip.flags.DF, ip.len) == ("10.0.1.1", 0xC0, 0, 576)
    assert (err[0][ICMP].code, err[0][ICMP].nexthopmtu) == (4, 1400)
    assert r.ipv4.stats["FragFails"] == 1 and r.drop_reasons["PKT_TOO_BIG"] == 1


def test_icmp_echo_reply_is_fragmented_with_df_clear():
    sim, left, r, right = routed()
    cap = _capture(sim)
    p = left.spawn(Ping("10.0.2.2", count=1, size=3000))
    sim.run(until=1.0)
    assert p.received == 1
    replies = [Ether(rec.data)[IP] for rec in cap.on("right/eth0") if Ether(rec.data).haslayer(IP)
               and Ether(rec.data)[IP].src == "10.0.2.2"]
    assert [(x.len, x.flags.DF, x.flags.MF, x.frag * 8) for x in replies] == \
        [(1500, 0, 1, 0), (1500, 0, 1, 1480), (68, 0, 0, 2960)]
    assert len({x.id for x in replies}) == 1


def test_vxlan_outer_packet_longer_than_the_underlay_is_fragmented_outside():
    """A VXLAN device whose MTU ignores the 50 bytes (flannel.1 at 1500 on a 1500 eth0):
    the outer packet (DF clear, ``df unset``) of a full-size inner packet is 1550 bytes and
    leaves eth0 in two outer fragments, which the far node reassembles before its vxlan
    socket sees the datagram."""
    from emunet.topology import Cluster
    from emunet.sim import Simulator
    from emunet.observe.capture import Capture
    sim = Simulator(seed=1)
    cap = Capture.attach(sim)
    c = Cluster(sim, backend="vxlan", network="100.96.0.0/16", pod_mtu=1500)
    c.add_segment("lan0", "10.168.0.0/24")
    n1 = c.add_node("node1", "10.168.0.2", subnet="100.96.1.0/24")
    n2 = c.add_node("node2", "10.168.0.3", subnet="100.96.2.0/24")
    c.settle()
    for n in (n1, n2):
        n.ns.dev("flannel.1").mtu = 1500
    a = c.add_pod(n1, "a", "100.96.1.2")
    b = c.add_pod(n2, "b", "100.96.2.2")
    p = a.ns.spawn(Ping(b.ip, count=1, size=1472, pmtudisc="do"))
    sim.run(until=sim.time + 2 * S)
    assert p.received == 1
    outer = [Ether(rec.data)[IP] for rec in cap.on("node1/eth0") if Ether(rec.data).haslayer(IP)
             and Ether(rec.data)[IP].dst == "10.168.0.3"]
    assert [(x.len, x.flags.DF, x.flags.MF, x.frag * 8) for x in outer[:2]] == \
        [(1500, 0, 1, 0), (70, 0, 0, 1480)]
    assert n2.ns.ipv4.stats["ReasmOKs"] >= 1


def _ipip_at_1500():
    """calico-ipip, settled, with node1's tunl0, pod-1's eth0 and its cali veth at 1500."""
    from emunet.scenarios import get
    lab = get("calico-ipip").build(seed=1)
    lab.settle()
    node1 = lab.node1.ns
    node1.dev("tunl0").mtu = 1500
    lab.pod1.ns.dev("eth0").mtu = 1500
    next(d for d in node1.devices.values() if d.name.startswith("cali")).mtu = 1500
    return lab


def test_ipip_refuses_a_df_packet_its_underlay_cannot_carry_with_the_mtu_less_20():
    """tunl0 left at 1500 over a 1500 eth0: a 1500-byte DF packet routed into it would be
    1520 outside; node1 answers fragmentation needed with 1480 (tnl_update_pmtu), which
    pod-1 learns, so its next ping, DF clear, leaves pod-1 already cut to 1480 and each
    piece fits the tunnel.  On a fresh lab, the same ping without DF is fragmented outside,
    after encapsulation."""
    lab = _ipip_at_1500()
    node1 = lab.node1.ns
    do = lab.pod1.ns.spawn(Ping("10.20.2.2", count=1, size=1472, pmtudisc="do"))
    lab.sim.run(until=lab.sim.time + 1)
    assert do.stdout[1] == "From 192.168.0.2 icmp_seq=1 Frag needed and DF set (mtu = 1480)"
    assert node1.dev("tunl0").drop_reasons["PKT_TOO_BIG"] == 1
    outer = _outer_of_a_dont_ping(lab)
    assert [(x.len, x.proto, x.flags.MF, x.frag * 8) for x in outer] == [(1496, 4, 0, 0), (64, 4, 0, 0)]
    outer = _outer_of_a_dont_ping(_ipip_at_1500())
    assert [(x.len, x.proto, x.flags.MF, x.frag * 8) for x in outer] == [(1500, 4, 1, 0), (40, 4, 0, 1480)]


def _outer_of_a_dont_ping(lab):
    """pod-1 pings pod-5 with 1472 bytes, DF clear: the outer packets node1 sends."""
    start = lab.sim.now
    dont = lab.pod1.ns.spawn(Ping("10.20.2.2", count=1, size=1472, pmtudisc="dont"))
    lab.sim.run(until=lab.sim.time + 1)
    assert dont.received == 1
    return [Ether(r.data)[IP] for r in lab.capture.on("node1/eth0") if r.time_ns >= start
            and Ether(r.data).haslayer(IP) and Ether(r.data)[IP].src == "192.168.0.2"]
