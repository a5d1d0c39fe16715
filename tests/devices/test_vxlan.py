"""Properties of the encapsulations, with Scapy as the oracle.

* VXLAN: for any inner Ethernet frame, flannel.1's encapsulation dissected by
  Scapy has the VNI, ports, lengths and valid checksums Linux sends, and the
  receiving node's stack (IP, UDP checksum, the vxlan socket, flannel.1) gives
  the inner frame back byte for byte;
* the outer source port is a function of the inner flow only (every packet
  of a flow has the same), symmetric on one kernel, and spread over
  32768..60998 across flows;
* the UDP backend's IP-in-UDP: for any inner IPv4 packet, what flanneld puts on
  node1's eth0 is IPv4/UDP 8285→8285 with valid checksums around the packet
  (TTL − 1, as the proxy decrements it), and what node2's flanneld writes into
  its TUN is the packet with TTL − 2, checksum still valid.
"""
import ipaddress
import random
import struct

from hypothesis import given, settings, strategies as st
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.layers.vxlan import VXLAN

from emunet import Simulator
from emunet.devices.switch import Nic
from emunet.devices.vxlan import (EPHEMERAL, Vxlan, flow_keys, jhash2, skb_get_hash,
                                  udp_flow_src_port)
from emunet.stack.namespace import Namespace
from emunet.topology import Cluster
from emunet.wire.checksum import ones_sum
from emunet.wire.frame import LINKTYPE_RAW, Frame
from emunet.wire.vxlan import TunnelTemplate, parse_tunnel
from emunet.observe.capture import Capture

PROPS = settings(deadline=None, max_examples=60)

LOCAL, REMOTE = "10.168.0.2", "10.168.0.3"


def _vtep_pair():
    """Two namespaces with flannel.1 each, eth0s cabled back to back through a switch."""
    from emunet.devices.switch import Switch
    sim = Simulator(seed=7)
    Capture.attach(sim)
    sw = Switch(sim, "lan0")
    out = []
    for name, ip, peer in (("a", LOCAL, REMOTE), ("b", REMOTE, LOCAL)):
        ns = Namespace(sim, name)
        eth0 = Nic(sim, "eth0", b"\x42\x01" + ipaddress.IPv4Address(ip).packed)
        ns.add_device(eth0)
        sw.connect(eth0)
        eth0.set_up()
        ns.addr_add(eth0, f"{ip}/24")
        vx = Vxlan(sim, "flannel.1", 1, ip, lower=eth0, learning=False)
        ns.add_device(vx)
        vx.set_up()
        out.append((ns, eth0, vx))
    (a, _, va), (b, eb, vb) = out
    va.fdb_add(vb.mac, REMOTE)
    a.neigh.add_permanent(a.dev("eth0"), int(ipaddress.IPv4Address(REMOTE)), eb.mac)
    return sim, out


_PAIR = None


def _pair():
    global _PAIR
    if _PAIR is None:
        _PAIR = _vtep_pair()
    return _PAIR


def inner_frames():
    mac = st.binary(min_size=6, max_size=6)
    return st.builds(lambda d, s, t, p: d + s + struct.pack("!H", t) + p,
                     mac, mac.filter(lambda m: m[0] & 1 == 0),
                     st.sampled_from([0x0800, 0x0806, 0x86DD, 0x8100, 0x1234]),
                     st.binary(min_size=0, max_size=1436))


def _scapy_checksums_valid(outer: bytes) -> None:
    p = IP(outer)
    q = IP(outer)
    del q.chksum
    del q[UDP].chksum
    assert bytes(IP(bytes(q))) == outer, "Scapy recomputes different checksums"
    assert p[UDP].chksum != 0


@PROPS
@given(inner=inner_frames(), ident=st.integers(0, 0xFFFF))
def test_vxlan_encap_is_what_linux_sends_and_decap_returns_the_frame(inner, ident):
    sim, ((a, ea, va), (b, eb, vb)) = _pair()
    outer = va.encapsulate(inner, int(ipaddress.IPv4Address(REMOTE)), ident)
    p = IP(outer)
    assert p.version == 4 and p.ihl == 5 and p.len == len(outer) == 36 + len(inner)
    assert p.flags == 0 and p.frag == 0 and p.ttl == 64 and p.proto == 17 and p.id == ident
    assert (p.src, p.dst) == (LOCAL, REMOTE)
    assert p[UDP].dport == 8472 and EPHEMERAL[0] <= p[UDP].sport < EPHEMERAL[1]
    assert p[UDP].len == len(outer) - 20
    assert p[VXLAN].flags == 0x08 and p[VXLAN].vni == 1
    assert p[VXLAN].payload.original == inner   # what Scapy dissected, not its rebuild (test_ipip)
    _scapy_checksums_valid(outer)
    # decapsulation by the real receive path: eth0 → ip_rcv → udp (checksum) → vxlan socket
    before = len(Capture.of(sim).on("b/flannel.1"))
    small = b.drop_reasons["PKT_TOO_SMALL"]
    eb.receive(Frame(eb.mac + ea.mac + b"\x08\x00" + outer, 999))
    sim.run(until=sim.time + 0.001)
    got = Capture.of(sim).on("b/flannel.1")[before:]
    if len(inner) < 20 and inner[12:14] in (b"\x81\x00", b"\x88\xa8"):
        # a tagged inner frame too short to untag: __netif_receive_skb_core frees it on
        # flannel.1 before any tap (skb_vlan_untag), as on any device
        assert got == [] and b.drop_reasons["PKT_TOO_SMALL"] == small + 1
        return
    assert [r.data for r in got] == [inner]


@PROPS
@given(inner=inner_frames())
def test_a_wrong_vni_or_a_missing_I_flag_is_dropped_with_the_kernels_reason(inner):
    sim, ((a, ea, va), (b, eb, vb)) = _pair()
    t = TunnelTemplate(ea.ns.addresses(ea)[0].ip.packed, eb.ns.addresses(eb)[0].ip.packed, 8472, vni=2)
    n = b.drop_reasons["VXLAN_VNI_NOT_FOUND"]
    eb.receive(Frame(eb.mac + ea.mac + b"\x08\x00" + t.build(inner, 40000, 1), 1))
    sim.run(until=sim.time + 0.001)
    assert b.drop_reasons["VXLAN_VNI_NOT_FOUND"] == n + 1
    bad = bytearray(va.encapsulate(inner, int(ipaddress.IPv4Address(REMOTE)), 1))
    bad[28] = 0x00                                   # VXLAN flags without I
    struct.pack_into("!H", bad, 26, 0)               # zero UDP checksum: "not computed"
    n = b.drop_reasons["VXLAN_INVALID_HDR"]
    eb.receive(Frame(eb.mac + ea.mac + b"\x08\x00" + bytes(bad), 2))
    sim.run(until=sim.time + 0.001)
    assert b.drop_reasons["VXLAN_INVALID_HDR"] == n + 1


def _ip_frame(src, dst, proto, sport, dport, ident=1, ttl=64, payload=b"", src_mac=b"\x0a\x58\0\0\0\1",
              dst_mac=b"\x0a\x58\0\0\0\2"):
    l4 = struct.pack("!HH", sport, dport) + payload if proto in (6, 17) else b"\x08\0\0\0" + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), ident, 0, ttl, proto, 0,
                     ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed)
    return dst_mac + src_mac + b"\x08\x00" + ip + l4


addresses = st.integers(0, 2**32 - 1).map(lambda n: str(ipaddress.IPv4Address(n)))


@PROPS
@given(src=addresses, dst=addresses, proto=st.sampled_from([1, 6, 17]), sport=st.integers(0, 65535),
       dport=st.integers(0, 65535), key=st.integers(0, 2**32 - 1),
       packets=st.lists(st.tuples(st.integers(0, 0xFFFF), st.integers(1, 255), st.binary(max_size=64)),
                        min_size=2, max_size=6))
def test_every_packet_of_a_flow_gets_the_same_source_port_both_ways_on_one_kernel(
        src, dst, proto, sport, dport, key, packets):
    sim = Simulator(seed=1)
    ns = Namespace(sim, "n")
    vx = Vxlan(sim, "flannel.1", 1, "10.0.0.1", hashrnd=key)
    ns.add_device(vx)
    ports = {vx.src_port(_ip_frame(src, dst, proto, sport, dport, ident, ttl, payload))
             for ident, ttl, payload in packets}
    back = vx.src_port(_ip_frame(dst, src, proto, dport, sport, 7, 64, b"reply"))
    assert len(ports) == 1 and ports == {back}
    (port,) = ports
    assert EPHEMERAL[0] <= port < EPHEMERAL[1]
    if proto == 1:   # ICMP has no ports in the flow keys: the ports drawn do not matter
        assert port == vx.src_port(_ip_frame(src, dst, 1, 0, 0))


def test_source_ports_spread_over_the_range_across_flows():
    rng = random.Random(5)
    key = 0x5EED1234
    ports = []
    for _ in range(4000):
        f = _ip_frame(f"100.96.{rng.randrange(1, 255)}.{rng.randrange(2, 254)}",
                      f"100.96.{rng.randrange(1, 255)}.{rng.randrange(2, 254)}",
                      rng.choice([6, 17]), rng.randrange(32768, 61000), rng.choice([53, 80, 443, 7]))
        ports.append(udp_flow_src_port(skb_get_hash(f, key)))
    lo, hi = EPHEMERAL
    assert all(lo <= p < hi for p in ports)
    buckets = [0] * 10
    for p in ports:
        buckets[(p - lo) * 10 // (hi - lo)] += 1
    assert min(buckets) > 300 and max(buckets) < 500, buckets   # 400 expected per bucket
    assert len(set(ports)) > 3500


def test_flow_keys_and_port_formula_follow_the_kernel():
    f = _ip_frame("100.96.1.2", "100.96.2.2", 17, 40000, 7)
    keys = flow_keys(f)
    # basic: n_proto 0x0800 read little-endian (0x0008) | ip_proto << 16; ports as stored
    assert keys[0] == 0x0008 | (17 << 16)
    assert len(keys) == 7
    # the consistentified keys are the same for the reverse direction
    assert flow_keys(_ip_frame("100.96.2.2", "100.96.1.2", 17, 7, 40000)) == keys
    h = jhash2(keys, 1)
    assert udp_flow_src_port(h) == (((h ^ (h << 16)) & 0xFFFFFFFF) * (60999 - 32768) >> 32) + 32768
    assert udp_flow_src_port(0) == 32768 and udp_flow_src_port(0xFFFFFFFF) < 60999


# -- the UDP backend's IP-in-UDP --------------------------------------------------
_UDP = None


def _udp_cluster():
    global _UDP
    if _UDP is None:
        sim = Simulator(seed=3)
        Capture.attach(sim)
        c = Cluster(sim, backend="udp", runtime="docker")
        c.add_segment("lan0", "10.168.0.0/24")
        n1 = c.add_node("node1", "10.168.0.2", subnet="100.96.1.0/24")
        n2 = c.add_node("node2", "10.168.0.3", subnet="100.96.2.0/24")
        c.settle()
        _UDP = sim, n1, n2
    return _UDP


def _with_ttl(packet: bytes, ttl: int) -> bytes:
    p = bytearray(packet)
    p[8] = ttl
    p[10:12] = b"\0\0"
    struct.pack_into("!H", p, 10, ~ones_sum(p[:20]) & 0xFFFF)
    return bytes(p)


@PROPS
@given(proto=st.integers(0, 255), ttl=st.integers(3, 255), tos=st.integers(0, 255),
       ident=st.integers(0, 0xFFFF), df=st.booleans(), payload=st.binary(max_size=1400),
       src_host=st.integers(2, 254), dst_host=st.integers(2, 254))
def test_udp_backend_ip_in_udp_is_a_valid_datagram_around_the_packet(proto, ttl, tos, ident, df, payload,
                                                                     src_host, dst_host):
    sim, n1, n2 = _udp_cluster()
    hdr = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, tos, 20 + len(payload), ident, 0x4000 if df else 0,
                                ttl, proto, 0, bytes((100, 96, 1, src_host)), bytes((100, 96, 2, dst_host))))
    struct.pack_into("!H", hdr, 10, ~ones_sum(hdr) & 0xFFFF)
    packet = bytes(hdr) + payload
    pid = sim.new_pid()
    tun1 = n1.ns.dev("flannel0")
    tun1.dev_queue_xmit(Frame(packet, pid, LINKTYPE_RAW))      # as the kernel routes a packet to flannel0
    sim.run(until=sim.time + 0.001)
    wire = [r for r in Capture.of(sim).on("node1/eth0") if r.pid == pid and r.direction == "out"]
    assert len(wire) == 1
    e = Ether(wire[0].data)
    assert e.type == 0x0800 and e[IP].src == "10.168.0.2" and e[IP].dst == "10.168.0.3"
    assert e[IP].proto == 17 and e[IP].ttl == 64 and e[IP].flags == "DF"
    assert e[UDP].sport == 8285 and e[UDP].dport == 8285 and e[UDP].len == 8 + len(packet)
    outer = bytes(e[IP])
    _scapy_checksums_valid(outer)
    _, _, _, inner = parse_tunnel(outer, vxlan=False)
    assert inner == _with_ttl(packet, ttl - 1)
    written = [r for r in Capture.of(sim).on("node2/flannel0") if r.pid == pid and r.direction == "in"]
    assert len(written) == 1 and written[0].linktype == LINKTYPE_RAW
    assert written[0].data == _with_ttl(packet, ttl - 2)


@PROPS
@given(payload=st.binary(max_size=1472), sport=st.integers(1, 65535), ident=st.integers(0, 0xFFFF),
       vni=st.one_of(st.none(), st.integers(0, 2**24 - 1)), tos=st.integers(0, 255),
       ttl=st.integers(1, 255), df=st.booleans())
def test_tunnel_template_round_trips_and_scapy_agrees(payload, sport, ident, vni, tos, ttl, df):
    t = TunnelTemplate(bytes((10, 168, 0, 2)), bytes((10, 168, 1, 9)), 8285 if vni is None else 8472, vni,
                       ttl=ttl, df=df)
    outer = t.build(payload, sport, ident, tos)
    _scapy_checksums_valid(outer)
    ipv, udp, vx, got = parse_tunnel(outer, vxlan=vni is not None)
    assert got == payload and udp.sport == sport and ipv.ident == ident
    assert (ipv.tos, ipv.ttl, ipv.df) == (tos, ttl, df)
    if vni is not None:
        assert vx.vni == vni and IP(outer)[VXLAN].vni == vni
