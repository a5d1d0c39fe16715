"""Properties of the header views (emunet/wire/): they read what Scapy reads, and what
they emit is what Scapy builds, byte for byte.  Scapy is the oracle; the frames come
from emunet.strategies, which builds them with Scapy and every field set explicitly."""
import ipaddress
import struct

import pytest
from hypothesis import example, given, strategies as st

from emunet import strategies as es
from emunet.wire.arp import ArpView
from emunet.wire.checksum import internet_checksum, ones_sum, pseudo_header_sum
from emunet.wire.dot1q import Dot1QView, pop_tag, push_tag
from emunet.wire.errors import Malformed
from emunet.wire.ethernet import EthernetView, mac_to_bytes, mac_to_str
from emunet.wire.icmp import IcmpView
from emunet.wire.ipv4 import Ipv4View, decrease_ttl, ttl_decreased
from emunet.wire.tcp import TcpView
from emunet.wire.udp import UdpView

scapy_all = pytest.importorskip("scapy.all")
from scapy.layers.inet import ICMP, IP, TCP, UDP  # noqa: E402
from scapy.layers.l2 import ARP, Dot1Q, Ether  # noqa: E402
from scapy.packet import Raw  # noqa: E402
from scapy.utils import checksum as scapy_checksum  # noqa: E402


def ip_bytes(dotted: str) -> bytes:
    return ipaddress.IPv4Address(dotted).packed


# -- the internet checksum against a reference ---------------------------------
def ref_ones_sum(data: bytes, initial: int = 0) -> int:
    """RFC 1071 the slow way: 16-bit big-endian words, end-around carry."""
    if len(data) % 2:
        data += b"\0"
    s = initial
    for i in range(0, len(data), 2):
        s += (data[i] << 8) | data[i + 1]
        s = (s & 0xFFFF) + (s >> 16)
    while s > 0xFFFF:
        s = (s & 0xFFFF) + (s >> 16)
    return s


@given(st.binary(max_size=300), st.booleans(), st.integers(0, 0xFFFF))
@example(b"", False, 0)
@example(b"\xff\xff", False, 0)
@example(b"\xff\xff", False, 0xFFFF)
@example(b"\xff", True, 0)
@example(b"\x00" * 7, True, 0)
@example(b"\xff\xff" * 300, False, 1)
@example(b"\x80\x00\x80\x00", False, 0xFFFF)
def test_internet_checksum_matches_reference(data, odd, initial):
    if odd != bool(len(data) % 2):
        data = data + b"\x5a"
    assert len(data) % 2 == odd
    expected_sum = ref_ones_sum(data, initial)
    assert ones_sum(data, initial) == expected_sum
    assert ones_sum(memoryview(data), initial) == expected_sum
    assert internet_checksum(data, initial) == ~expected_sum & 0xFFFF
    assert internet_checksum(data) == scapy_checksum(data)


@given(st.binary(min_size=0, max_size=200).map(lambda b: b[:len(b) & ~1]))
def test_checksum_in_place_verifies(data):
    """A checksum written into its slot makes the data sum to 0xFFFF (what the views check)."""
    msg = bytearray(b"\0\0" + data)
    struct.pack_into("!H", msg, 0, internet_checksum(msg))
    assert ref_ones_sum(bytes(msg)) == 0xFFFF
    assert ones_sum(bytes(msg)) == 0xFFFF


@given(es.ipv4_addresses(), es.ipv4_addresses(), st.integers(0, 255), st.integers(0, 0xFFFF))
def test_pseudo_header_sum_matches_reference(src, dst, proto, length):
    ref = ref_ones_sum(ip_bytes(src) + ip_bytes(dst) + bytes((0, proto)) + length.to_bytes(2, "big"))
    assert pseudo_header_sum(ip_bytes(src), ip_bytes(dst), proto, length) == ref


# -- Ethernet and 802.1Q --------------------------------------------------------
@given(es.ethernet_frames())
def test_ethernet_view_agrees_with_scapy(data):
    p = Ether(data)
    v = EthernetView.check(data)
    assert v.dst == mac_to_bytes(p.dst) and mac_to_str(v.dst) == p.dst
    assert v.src == mac_to_bytes(p.src) and mac_to_str(v.src) == p.src
    assert v.ethertype == p.type
    assert v.payload_offset == 14
    assert EthernetView.emit(v.dst, v.src, v.ethertype) == data[:14] == bytes(Ether(dst=p.dst, src=p.src, type=p.type))


@given(es.vlan_frames())
def test_dot1q_view_agrees_with_scapy(data):
    p = Ether(data)
    tag = p[Dot1Q]
    v = Dot1QView.check(data, 12)
    assert EthernetView(data).ethertype == p.type == 0x8100 == v.tpid
    assert v.vid == tag.vlan
    assert v.pcp == tag.prio
    assert v.dei == tag.dei
    assert v.inner_ethertype == tag.type
    assert Dot1QView.emit(v.vid, v.inner_ethertype, v.pcp, v.dei) == data[12:18]
    # popping the tag gives Scapy's untagged frame; pushing it back (DEI 0) gives the tagged one
    payload = bytes(tag.payload)
    untagged = bytes(Ether(dst=p.dst, src=p.src, type=tag.type) / Raw(payload)) if payload else \
        bytes(Ether(dst=p.dst, src=p.src, type=tag.type))
    assert pop_tag(data) == untagged
    if tag.dei == 0:
        assert push_tag(untagged, tag.vlan, tag.prio) == data


# -- ARP -----------------------------------------------------------------------
@given(es.arp_frames())
def test_arp_view_agrees_with_scapy(data):
    p = Ether(data)
    a = p[ARP]
    v = ArpView.check(data, 14)
    assert v.op == a.op
    assert v.sha == mac_to_bytes(a.hwsrc)
    assert v.spa == ip_bytes(a.psrc)
    assert v.tha == mac_to_bytes(a.hwdst)
    assert v.tpa == ip_bytes(a.pdst)
    assert ArpView.emit(v.op, v.sha, v.spa, v.tha, v.tpa) == data[14:42] == bytes(
        ARP(hwtype=1, ptype=0x0800, hwlen=6, plen=4, op=a.op, hwsrc=a.hwsrc, psrc=a.psrc,
            hwdst=a.hwdst, pdst=a.pdst))


# -- IPv4 ----------------------------------------------------------------------
def header_with_checksum(csum: int, ttl: int = 64) -> bytes:
    """An Ether/IPv4 frame whose header checksum is ``csum`` (the IP ID chosen to make it so)."""
    base = dict(version=4, ihl=5, tos=0, len=20, flags=0, frag=0, ttl=ttl, proto=17,
                src="10.1.2.3", dst="10.4.5.6")
    s0 = ref_ones_sum(bytes(IP(id=0, chksum=0, **base)))
    ident = ref_ones_sum(b"", (~csum & 0xFFFF) + (~s0 & 0xFFFF))  # ~csum -' s0, one's complement
    frame = bytes(Ether(dst="02:00:00:00:00:01", src="02:00:00:00:00:02") / IP(id=ident, **base))
    assert struct.unpack_from("!H", frame, 24)[0] == csum
    return frame


@given(es.ipv4_frames(flags=st.integers(0, 7), frag=st.integers(0, 0x1FFF)))
@example(header_with_checksum(0xFEFF))
@example(header_with_checksum(0xFF00))
@example(header_with_checksum(0x0000))
def test_ipv4_view_agrees_with_scapy(data):
    p = Ether(data)
    ip = p[IP]
    v = Ipv4View.check(data, 14)  # Scapy-built packets pass our checks, checksum included
    assert data[14] >> 4 == ip.version == 4
    assert v.ihl == ip.ihl * 4
    assert v.tos == ip.tos
    assert v.total_length == ip.len
    assert v.ident == ip.id
    assert v.frag == (int(ip.flags) << 13) | ip.frag
    assert v.df == bool(int(ip.flags) & 2)
    assert v.is_fragment == bool(int(ip.flags) & 1 or ip.frag)
    assert v.ttl == ip.ttl
    assert v.proto == ip.proto
    assert v.checksum == ip.chksum
    assert v.src == ip_bytes(ip.src) and v.dst == ip_bytes(ip.dst)
    assert v.payload_offset == 14 + ip.ihl * 4
    assert v.end == 14 + ip.len
    # the packet without link-layer padding (compared with the bytes, not Scapy's rebuild, which
    # recomputes an inner checksum for some protocols, IGMP's for one)
    assert v.packet() == data[14:14 + ip.len]
    assert len(v.payload()) == ip.len - ip.ihl * 4
    # the same header rebuilt by Scapy from the dissected fields has the same checksum
    fields = {f: getattr(ip, f) for f in ("version", "ihl", "tos", "len", "id", "flags", "frag", "ttl",
                                          "proto", "src", "dst", "options")}
    assert bytes(IP(**fields))[:v.ihl] == data[14:14 + v.ihl]
    # ip_decrease_ttl patches the checksum to what a full recomputation gives
    if ip.ttl >= 1:
        buf = bytearray(data)
        decrease_ttl(buf, 14)
        fields["ttl"] = ip.ttl - 1
        assert bytes(buf[14:14 + v.ihl]) == bytes(IP(**fields))[:v.ihl]
        assert bytes(buf[:14]) == data[:14] and bytes(buf[14 + v.ihl:]) == data[14 + v.ihl:]
        Ipv4View.check(bytes(buf), 14)
        # the forwarding hop's copy: the same bytes, without the link-layer padding
        assert ttl_decreased(data, 14, v.end) == bytes(buf[14:v.end])


@given(es.ipv4_addresses(), es.ipv4_addresses(), st.integers(0, 255), st.integers(0, 65515),
       st.integers(0, 0xFFFF), st.integers(0, 255), st.integers(0, 255), st.booleans())
def test_ipv4_emit_equals_scapy(src, dst, proto, payload_len, ident, ttl, tos, df):
    ours = Ipv4View.emit(ip_bytes(src), ip_bytes(dst), proto, payload_len, ident, ttl, tos, df)
    theirs = bytes(IP(version=4, ihl=5, tos=tos, len=20 + payload_len, id=ident, flags=2 if df else 0,
                      frag=0, ttl=ttl, proto=proto, src=src, dst=dst))
    assert ours == theirs


# -- ICMP ----------------------------------------------------------------------
@given(es.icmp_echo_frames())
def test_icmp_echo_view_agrees_with_scapy(data):
    p = Ether(data)
    ipv = Ipv4View.check(data, 14)
    v = IcmpView.check(data, ipv.payload_offset, ipv.end)  # the checksum verifies
    icmp = p[ICMP]
    assert (v.type, v.code, v.ident, v.seq, v.checksum) == (icmp.type, icmp.code, icmp.id, icmp.seq, icmp.chksum)
    payload = bytes(icmp)[8:ipv.total_length - ipv.ihl]
    assert v.data == payload
    theirs = bytes(ICMP(type=icmp.type, code=0, id=icmp.id, seq=icmp.seq) / Raw(payload))
    assert IcmpView.emit_echo(v.type, v.ident, v.seq, v.data) == theirs == data[ipv.payload_offset:ipv.end]


@given(es.ipv4_frames(proto=1, icmp_type=st.sampled_from([3, 5, 11, 12, 42])))
def test_icmp_other_types_agree_with_scapy(data):
    p = Ether(data)
    ipv = Ipv4View.check(data, 14)
    v = IcmpView.check(data, ipv.payload_offset, ipv.end)
    icmp = p[ICMP]
    assert (v.type, v.code, v.checksum) == (icmp.type, icmp.code, icmp.chksum)
    assert IcmpView.emit(v.type, v.code, v.rest, v.data) == data[ipv.payload_offset:ipv.end]


@given(es.icmp_echo_frames(), st.integers(0, 0xFFFF))
@example(bytes.fromhex("000000000000" "000000000001" "0800"                    # Ethernet
                       "4500001c" "00000000" "0001bae2" "00000000" "00000000"  # IPv4 0.0.0.0 > 0.0.0.0
                       "0000ffff" "00000000"), 0)  # an all-zero echo reply: checksum 0 must not verify
def test_icmp_bad_checksum_is_refused(data, csum):
    ipv = Ipv4View.check(data, 14)
    off = ipv.payload_offset
    right = struct.unpack_from("!H", data, off + 2)[0]
    bad = bytearray(data)
    struct.pack_into("!H", bad, off + 2, csum)
    # valid iff the one's-complement sum is "negative zero"; 0 and 0xFFFF are the same
    # number except for an all-zero message, whose sum with a zero checksum is +0
    if ref_ones_sum(bytes(bad[off:ipv.end])) == 0xFFFF:
        assert csum == right or {csum, right} == {0, 0xFFFF}
        IcmpView.check(bytes(bad), off, ipv.end)
    else:
        with pytest.raises(Malformed) as e:
            IcmpView.check(bytes(bad), off, ipv.end)
        assert e.value.reason == "ICMP_CSUM"


# -- UDP -----------------------------------------------------------------------
@given(es.udp_frames())
def test_udp_view_agrees_with_scapy(data):
    p = Ether(data)
    ipv = Ipv4View.check(data, 14)
    v = UdpView.check(data, ipv.payload_offset, ipv.end, ipv.src, ipv.dst)  # checksum verifies
    u = p[UDP]
    assert (v.sport, v.dport, v.length, v.checksum) == (u.sport, u.dport, u.len, u.chksum)
    assert v.payload() == bytes(u)[8:u.len]
    assert v.checksum != 0  # Scapy (and we) send a computed 0 as 0xFFFF


def zero_sum_payload(src: str, dst: str, sport: int, dport: int, body: bytes) -> bytes:
    """``body`` plus two bytes chosen so that the UDP checksum computes to 0 (sent as 0xFFFF)."""
    body = body[:len(body) & ~1]
    length = 8 + len(body) + 2
    s = ref_ones_sum(ip_bytes(src) + ip_bytes(dst) + bytes((0, 17)) + length.to_bytes(2, "big")
                     + struct.pack("!HHHH", sport, dport, length, 0) + body)
    return body + struct.pack("!H", ~s & 0xFFFF)


@st.composite
def udp_emit_cases(draw):
    src, dst = draw(es.ipv4_addresses()), draw(es.ipv4_addresses())
    sport, dport = draw(es.ports()), draw(es.ports())
    payload = draw(es.payloads(100))
    if draw(st.booleans()):
        payload = zero_sum_payload(src, dst, sport, dport, payload)
    return src, dst, sport, dport, payload


@given(udp_emit_cases())
@example(("10.0.0.1", "10.0.0.2", 1, 2, zero_sum_payload("10.0.0.1", "10.0.0.2", 1, 2, b"")))
@example(("0.0.0.0", "0.0.0.0", 0, 0, b""))
def test_udp_emit_equals_scapy(case):
    src, dst, sport, dport, payload = case
    ours = UdpView.emit(sport, dport, payload, ip_bytes(src), ip_bytes(dst))
    theirs = bytes(IP(version=4, ihl=5, tos=0, id=0, flags=0, frag=0, ttl=64, src=src, dst=dst)
                   / UDP(sport=sport, dport=dport) / Raw(payload))[20:]
    assert ours == theirs
    csum = struct.unpack_from("!H", ours, 6)[0]
    assert csum != 0
    # a computed zero goes out as 0xFFFF (RFC 768), and it verifies
    full_sum = ref_ones_sum(ip_bytes(src) + ip_bytes(dst) + bytes((0, 17)) + len(ours).to_bytes(2, "big")
                            + ours[:6] + b"\0\0" + ours[8:])
    if full_sum == 0xFFFF:
        assert csum == 0xFFFF
    UdpView.check(ours, 0, len(ours), ip_bytes(src), ip_bytes(dst))
    # without addresses: no checksum, as Scapy with chksum=0
    assert UdpView.emit(sport, dport, payload) == bytes(UDP(sport=sport, dport=dport, chksum=0) / Raw(payload))


# -- TCP -----------------------------------------------------------------------
def scapy_option(kind: int, value: bytes):
    """Our (kind, bytes) as Scapy's dissection names it."""
    if kind == 1:
        return ("NOP", None)
    if kind == 2:
        return ("MSS", struct.unpack("!H", value)[0])
    if kind == 3:
        return ("WScale", value[0])
    if kind == 4:
        return ("SAckOK", b"")
    if kind == 5:
        return ("SAck", struct.unpack(f"!{len(value) // 4}I", value))
    if kind == 8:
        return ("Timestamp", struct.unpack("!II", value))
    return (kind, value)


@given(es.tcp_frames())
def test_tcp_view_agrees_with_scapy(data):
    p = Ether(data)
    ipv = Ipv4View.check(data, 14)
    v = TcpView.check(data, ipv.payload_offset, ipv.end, ipv.src, ipv.dst)  # checksum verifies
    t = p[TCP]
    assert (v.sport, v.dport, v.seq, v.ack) == (t.sport, t.dport, t.seq, t.ack)
    assert v.data_offset == t.dataofs * 4
    assert v.flags == int(t.flags) & 0xFF
    assert (v.window, v.checksum, v.urgent) == (t.window, t.chksum, t.urgptr)
    theirs = []
    for opt in t.options:
        if opt[0] == "EOL":
            break
        theirs.append(opt)
    assert [scapy_option(k, val) for k, val in v.options()] == theirs
    assert v.payload() == bytes(t)[t.dataofs * 4:ipv.total_length - ipv.ihl]


@given(es.ipv4_addresses(), es.ipv4_addresses(), es.ports(), es.ports(), st.integers(0, 2**32 - 1),
       st.integers(0, 2**32 - 1), st.integers(0, 255), st.integers(0, 65535), st.integers(0, 65535),
       es.tcp_options(), es.payloads())
def test_tcp_emit_equals_scapy(src, dst, sport, dport, seq, ack, flags, window, urg, options, payload):
    theirs = bytes(IP(version=4, ihl=5, tos=0, id=0, flags=0, frag=0, ttl=64, src=src, dst=dst)
                   / TCP(sport=sport, dport=dport, seq=seq, ack=ack, reserved=0, flags=flags,
                         window=window, urgptr=urg, options=options) / Raw(payload))[20:]
    doff = (theirs[12] >> 4) * 4
    ours = TcpView.emit(sport, dport, seq, ack, flags, window, theirs[20:doff], payload,
                        ip_bytes(src), ip_bytes(dst), urgent=urg)
    assert ours == theirs
