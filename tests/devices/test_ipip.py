"""tunl0, the IPIP fallback device, with Scapy as the oracle.

* For any inner IPv4 packet, the outer packet tunl0 builds dissects (Scapy) as IPv4
  protocol 4 from the node to the route's next hop, TTL inherited, DF copied, the ECN
  bits carried, length and checksum right, and the inner packet unchanged after it;
  stripping the outer header gives the inner packet back byte for byte.
* Through two namespaces joined by a switch, a packet routed ``via NODE dev tunl0 onlink``
  leaves eth0 encapsulated and is received on the other tunl0 and forwarded on.
"""
import ipaddress

from hypothesis import example, given, settings, strategies as st
from scapy.layers.inet import IP

from emunet import Simulator
from emunet.devices.ipip import IPIP_OVERHEAD, Ipip, ipip_decap, ipip_encap
from emunet.devices.switch import Nic, Switch
from emunet.stack.namespace import Namespace
from emunet.strategies import ipv4_packets
from emunet.wire.checksum import internet_checksum
from emunet.wire.frame import LINKTYPE_RAW
from emunet.observe.capture import Capture

PROPS = settings(deadline=None, max_examples=80)


@PROPS
@given(inner=ipv4_packets(), ident=st.integers(0, 0xFFFF), ttl=st.sampled_from([0, 64]))
@example(inner=bytes.fromhex("4500001c000000000002bae1") + bytes(16), ident=0, ttl=0)  # "IGMP"
def test_encap_then_decap_gives_the_inner_packet_back_and_scapy_agrees(inner, ident, ttl):
    inner = bytes(inner)
    src, dst = ipaddress.IPv4Address("192.168.0.2").packed, ipaddress.IPv4Address("192.168.1.2").packed
    outer = ipip_encap(inner, src, dst, ident, ttl=ttl)
    assert ipip_decap(outer) == inner
    p = IP(outer)
    assert (p.version, p.ihl, p.proto, p.src, p.dst, p.id) == (4, 5, 4, "192.168.0.2", "192.168.1.2", ident)
    assert p.len == len(inner) + IPIP_OVERHEAD == len(outer)
    assert p.ttl == (ttl or inner[8])
    assert bool(p.flags.DF) == bool(inner[6] & 0x40) and not p.flags.MF and p.frag == 0
    ecn = inner[1] & 3
    assert p.tos == (2 if ecn == 3 else ecn)
    assert internet_checksum(outer[:20]) == 0
    # what Scapy dissected as the inner packet, not its rebuild: once any test has loaded
    # scapy.contrib.igmpv3, bytes() of a dissected IGMP message rewrites fields of its own
    # (an inner "IGMP" of eight zero bytes comes back with 0x94 in it)
    assert isinstance(p.payload, IP) and p.payload.original == inner


def _pair():
    """node1 and node2 on two segments joined by a router; tunl0 on each, routes to the
    other's 10.20.N.0/24 via the other node onlink through tunl0 (what BIRD installs)."""
    sim = Simulator(seed=3)
    Capture.attach(sim)
    r = Namespace(sim, "router")
    r.set_sysctl("net.ipv4.ip_forward", 1)
    nodes = []
    for i, (net, ip) in enumerate((("192.168.0", "192.168.0.2"), ("192.168.1", "192.168.1.2"))):
        sw = Switch(sim, f"lan{i}")
        rn = Nic(sim, f"eth{i}", b"\x42\x01" + ipaddress.IPv4Address(f"{net}.1").packed)
        r.add_device(rn)
        sw.connect(rn)
        rn.set_up()
        r.addr_add(rn, f"{net}.1/24")
        ns = Namespace(sim, f"node{i + 1}")
        ns.set_sysctl("net.ipv4.ip_forward", 1)
        eth0 = Nic(sim, "eth0", b"\x42\x01" + ipaddress.IPv4Address(ip).packed)
        ns.add_device(eth0)
        sw.connect(eth0)
        eth0.set_up()
        ns.addr_add(eth0, f"{ip}/24")
        ns.route_add("default", via=f"{net}.1")
        t = ns.add_device(Ipip(sim))
        ns.addr_add(t, f"10.20.{i}.0/32")
        t.set_up()
        nodes.append(ns)
    n1, n2 = nodes
    n1.route_add("10.20.1.0/24", dev="tunl0", via="192.168.1.2", onlink=True, proto="bird")
    n2.route_add("10.20.0.0/24", dev="tunl0", via="192.168.0.2", onlink=True, proto="bird")
    return sim, n1, n2


def test_a_ping_to_the_remote_tunnel_address_crosses_the_router_encapsulated():
    from emunet.apps.ping import Ping
    sim, n1, n2 = _pair()
    ping = n1.spawn(Ping("10.20.1.0", count=1))
    sim.run(until=3)
    assert ping.received == 1, ping.output
    cap = Capture.of(sim)
    outer = [r for r in cap.on("node1/eth0") if len(r.data) > 60 and r.data[23] == 4]
    assert len(outer) == 2     # the request out, the reply in
    req = IP(outer[0].data[14:])
    assert (req.src, req.dst, req.proto, req.ttl) == ("192.168.0.2", "192.168.1.2", 4, 64)
    assert req.payload.src == "10.20.0.0" and req.payload.dst == "10.20.1.0"
    on_tunl = cap.on("node1/tunl0")
    assert [r.linktype for r in on_tunl] == [LINKTYPE_RAW, LINKTYPE_RAW]
    assert on_tunl[0].data == bytes(req.payload)
    assert n2.dev("tunl0").decapsulated == 1 and n1.dev("tunl0").encapsulated == 1


def test_a_down_tunl0_drops_what_arrives_and_a_looping_route_is_refused():
    sim, n1, n2 = _pair()
    from emunet.apps.ping import Ping
    n2.dev("tunl0").set_down()
    n1.spawn(Ping("10.20.1.0", count=1))
    sim.run(until=3)
    assert n2.drop_reasons["NO_SOCKET"] == 1
    n1.route_add("192.168.1.2/32", dev="tunl0", onlink=True)
    n1.spawn(Ping("10.20.1.0", count=1))
    sim.run(until=6)
    assert n1.dev("tunl0").drop_reasons["IP_OUTNOROUTES"] == 1


def test_ip_link_shows_tunl0_as_the_kernel_does():
    from emunet.observe.show import ip_link
    sim, n1, _ = _pair()
    text = ip_link(n1, "tunl0")
    assert text.splitlines()[0].split(" ", 1)[1].startswith("tunl0@NONE: <NOARP,UP,LOWER_UP> mtu 1480 qdisc noqueue "
                                                            "state UNKNOWN mode DEFAULT group default qlen 1000")
    assert text.splitlines()[1] == "    link/ipip 0.0.0.0 brd 0.0.0.0"
    assert n1.dev("tunl0").details() == "ipip any remote any local any ttl inherit nopmtudisc"
