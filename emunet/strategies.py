"""Hypothesis strategies for emunet's wire formats, for your own property tests.

Every frame strategy returns the frame as ``bytes`` (the wire truth a
:class:`~emunet.wire.Frame` carries: ``Frame(data)``), built with Scapy with
*every* address, port and header field set explicitly, so nothing is filled
in from the machine the tests run on (Scapy takes unset MACs and source
addresses from the host's routes and ARP cache).  Dissect them with Scapy
(``Ether(data)``) to get the oracle's reading, or read them with the header
views of :mod:`emunet.wire`.

Each parameter of a frame strategy takes a value, a strategy, or ``None``
for "anything sensible"::

    from hypothesis import given
    from emunet import strategies as es

    @given(es.udp_frames(dst_mac="02:42:ac:11:00:08", dst="172.17.0.8", dport=53))
    def test_my_resolver(data):
        ...

Strategies:

* addresses: :func:`mac_addresses`, :func:`ipv4_addresses`, :func:`ports`;
* frames: :func:`ethernet_frames`, :func:`vlan_frames`, :func:`arp_frames`,
  :func:`ipv4_packets` (an IP packet without Ethernet), :func:`ipv4_frames`,
  :func:`icmp_echo_frames`, :func:`udp_frames`, :func:`tcp_frames`,
  :func:`valid_frames` (any of them);
* :func:`tcp_options` (Scapy's option list);
* :func:`malformed_frames`: truncations, bad checksums, bad lengths, bad
  IHL/version, bad ARP, random bytes — pass ``with_kind=True`` to get
  ``(kind, data)`` with ``kind`` one of :data:`MALFORMATIONS`.

Scapy is imported on first use, so importing this module stays cheap.  Hypothesis is
an optional extra of emunet: ``pip install 'emunet[strategies]'``.
"""
import functools
import ipaddress
import struct
import types

try:
    from hypothesis import strategies as st
except ImportError as e:
    raise ImportError("emunet.strategies builds on Hypothesis, an optional extra of emunet: "
                      "pip install 'emunet[strategies]'") from e

from emunet.wire.checksum import internet_checksum

__all__ = [
    "mac_addresses", "ipv4_addresses", "ports", "payloads",
    "ethernet_frames", "vlan_frames", "arp_frames", "ipv4_packets", "ipv4_frames",
    "icmp_echo_frames", "udp_frames", "tcp_options", "tcp_frames", "valid_frames",
    "malformed_frames", "MALFORMATIONS", "fix_ipv4_checksum",
]

@functools.lru_cache(maxsize=None)
def _scapy():
    """The Scapy layers we build with (imported on first use: Scapy takes a second to load)."""
    from scapy.layers.inet import ICMP, IP, TCP, UDP, IPOption_NOP, IPOption_Router_Alert
    from scapy.layers.l2 import ARP, Dot1Q, Ether
    from scapy.packet import Raw
    return types.SimpleNamespace(Ether=Ether, Dot1Q=Dot1Q, ARP=ARP, IP=IP, ICMP=ICMP, UDP=UDP,
                                 TCP=TCP, Raw=Raw, IPOption_NOP=IPOption_NOP,
                                 IPOption_Router_Alert=IPOption_Router_Alert)


def _strat(value, default):
    """``value`` as a strategy: a strategy stays one, ``None`` means ``default``, else ``just``."""
    if value is None:
        return default
    if isinstance(value, st.SearchStrategy):
        return value
    return st.just(value)


def _mac_str(mac) -> str:
    if isinstance(mac, (bytes, bytearray)):
        return ":".join(f"{b:02x}" for b in mac)
    return mac


# -- addresses -----------------------------------------------------------------
def mac_addresses(unicast: bool = None, local: bool = None):
    """MAC addresses as ``"aa:bb:cc:dd:ee:ff"`` strings (what Scapy and emunet both accept).

    ``unicast=True`` clears the group (I/G) bit, ``False`` sets it (``None``: either);
    ``local=True`` sets the locally-administered (U/L) bit, as veth and docker MACs have.
    The all-zero address is never produced for ``unicast=True``.
    """
    def fix(b: bytes) -> str:
        b = bytearray(b)
        if unicast is True:
            b[0] &= 0xFE
        elif unicast is False:
            b[0] |= 0x01
        if local is True:
            b[0] |= 0x02
        elif local is False:
            b[0] &= 0xFD
        if unicast is True and not any(b):
            b[5] = 1
        return _mac_str(bytes(b))

    special = st.sampled_from([b"\xff" * 6, b"\x01\x00\x5e\x00\x00\x01", b"\x33\x33\x00\x00\x00\x01",
                               b"\x02\x42\xac\x11\x00\x02"])
    return st.one_of(st.binary(min_size=6, max_size=6), special).map(fix)


def ipv4_addresses(network=None, unicast: bool = False):
    """IPv4 addresses as dotted strings, anywhere or inside ``network`` (``"10.0.0.0/8"``).

    ``unicast=True`` avoids 0.0.0.0/8, 127.0.0.0/8, multicast, reserved and broadcast
    (and the network and broadcast addresses of ``network``)."""
    if network is not None:
        net = ipaddress.IPv4Network(network, strict=False)
        lo, hi = int(net.network_address), int(net.broadcast_address)
        if unicast and net.prefixlen < 31:
            lo, hi = lo + 1, hi - 1
        return st.integers(lo, hi).map(lambda n: str(ipaddress.IPv4Address(n)))
    ints = st.one_of(st.integers(0, 0xFFFFFFFF),
                     st.sampled_from([0, 0xFFFFFFFF, 0x7F000001, 0xAC110001, 0x0A000001, 0xE0000001]))
    if unicast:
        def ok(n):
            first = n >> 24
            return 0 < first < 224 and first != 127
        ints = st.integers(0x01000000, 0xDFFFFFFF).filter(ok)
    return ints.map(lambda n: str(ipaddress.IPv4Address(n)))


def ports():
    """UDP/TCP port numbers, biased towards the edges and well-known ones."""
    return st.one_of(st.integers(0, 65535), st.sampled_from([0, 1, 53, 80, 179, 4789, 8472, 32768, 65535]))


def payloads(max_size: int = 64):
    return st.binary(min_size=0, max_size=max_size)


# -- Ethernet, 802.1Q, ARP -------------------------------------------------------
@st.composite
def ethernet_frames(draw, dst=None, src=None, ethertype=None, payload=None):
    """Ethernet II frames with any EtherType (>= 0x0600) and an opaque payload."""
    s = _scapy()
    e = s.Ether(dst=draw(_strat(dst, mac_addresses())), src=draw(_strat(src, mac_addresses())),
                type=draw(_strat(ethertype, st.one_of(st.integers(0x0600, 0xFFFF),
                                                      st.sampled_from([0x0800, 0x0806, 0x86DD, 0x88CC])))))
    return bytes(e / s.Raw(draw(_strat(payload, payloads()))))


@st.composite
def vlan_frames(draw, dst=None, src=None, vid=None, pcp=None, dei=None, ethertype=None, payload=None):
    """Frames with one 802.1Q tag (TPID 0x8100) and any inner EtherType."""
    s = _scapy()
    e = s.Ether(dst=draw(_strat(dst, mac_addresses())), src=draw(_strat(src, mac_addresses())), type=0x8100)
    tag = s.Dot1Q(prio=draw(_strat(pcp, st.integers(0, 7))), dei=draw(_strat(dei, st.integers(0, 1))),
                  vlan=draw(_strat(vid, st.integers(0, 4095))),
                  type=draw(_strat(ethertype, st.one_of(st.integers(0x0600, 0xFFFF),
                                                        st.sampled_from([0x0800, 0x0806])))))
    return bytes(e / tag / s.Raw(draw(_strat(payload, payloads()))))


@st.composite
def arp_frames(draw, op=None, src_mac=None, dst_mac=None, sha=None, spa=None, tha=None, tpa=None):
    """Ethernet/IPv4 ARP requests and replies (42 bytes, no padding, as veths send them)."""
    s = _scapy()
    op_v = draw(_strat(op, st.sampled_from([1, 2])))
    sha_v = draw(_strat(sha, mac_addresses(unicast=True)))
    src = draw(_strat(src_mac, st.just(sha_v)))
    default_dst = st.just("ff:ff:ff:ff:ff:ff") if op_v == 1 else mac_addresses(unicast=True)
    tha_default = st.just("00:00:00:00:00:00") if op_v == 1 else mac_addresses(unicast=True)
    a = s.ARP(hwtype=1, ptype=0x0800, hwlen=6, plen=4, op=op_v, hwsrc=sha_v,
              psrc=draw(_strat(spa, ipv4_addresses())), hwdst=draw(_strat(tha, tha_default)),
              pdst=draw(_strat(tpa, ipv4_addresses())))
    return bytes(s.Ether(dst=draw(_strat(dst_mac, default_dst)), src=src, type=0x0806) / a)


# -- IPv4 and what it carries ----------------------------------------------------
def tcp_options():
    """A list of TCP options in Scapy's notation (``[("MSS", 1460), ("NOP", None), ...]``)
    that fits the 40 bytes a TCP header has for options."""
    one = st.one_of(
        st.tuples(st.just("MSS"), st.integers(0, 65535)),
        st.just(("NOP", None)),
        st.tuples(st.just("WScale"), st.integers(0, 255)),
        st.just(("SAckOK", b"")),
        st.tuples(st.just("Timestamp"), st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))),
        st.tuples(st.just("SAck"), st.lists(st.integers(0, 2**32 - 1), min_size=2, max_size=4)
                  .filter(lambda v: len(v) % 2 == 0).map(tuple)),
        # kinds Scapy has no name for: it keeps them as (kind, bytes)
        st.tuples(st.sampled_from([6, 7, 9, 99, 200, 253]), st.binary(max_size=6)),
    )

    def size(opt):
        name, val = opt
        return {"MSS": 4, "NOP": 1, "WScale": 3, "SAckOK": 2, "Timestamp": 10}.get(
            name, 2 + 4 * len(val) if name == "SAck" else 2 + len(val) if isinstance(name, int) else 0)

    return st.lists(one, max_size=8).filter(lambda opts: sum(size(o) for o in opts) <= 40)


def _l4(draw, proto, sport=None, dport=None, payload=None, icmp_type=None):
    """A Scapy L4 layer for ``proto`` (its checksum left for Scapy to fill)."""
    s = _scapy()
    data = draw(_strat(payload, payloads()))
    if proto == 1:
        t = draw(_strat(icmp_type, st.sampled_from([0, 8, 0, 8, 3, 11, 5, 42])))
        if t in (0, 8):
            return s.ICMP(type=t, code=0, id=draw(st.integers(0, 65535)), seq=draw(st.integers(0, 65535))) / s.Raw(data)
        # other types: the 4 bytes after the checksum as opaque bytes (Scapy's defaults for
        # some types, e.g. timestamps, come from the clock), checksummed by Scapy's own code
        from scapy.utils import checksum
        msg = bytearray(bytes((t, draw(st.integers(0, 15)), 0, 0)) + draw(st.binary(min_size=4, max_size=4)) + data)
        struct.pack_into("!H", msg, 2, checksum(bytes(msg)))
        return s.Raw(bytes(msg))
    if proto == 17:
        return s.UDP(sport=draw(_strat(sport, ports())), dport=draw(_strat(dport, ports()))) / s.Raw(data)
    if proto == 6:
        return s.TCP(sport=draw(_strat(sport, ports())), dport=draw(_strat(dport, ports())),
                     seq=draw(st.integers(0, 2**32 - 1)), ack=draw(st.integers(0, 2**32 - 1)),
                     reserved=draw(st.integers(0, 7)), flags=draw(st.integers(0, 0x1FF)),
                     window=draw(st.integers(0, 65535)), urgptr=draw(st.integers(0, 65535)),
                     options=draw(tcp_options())) / s.Raw(data)
    return s.Raw(data)


def _ip_options():
    s = _scapy()
    return st.lists(st.sampled_from(["nop", "ra"]), max_size=6).map(
        lambda names: [s.IPOption_NOP() if n == "nop" else s.IPOption_Router_Alert() for n in names])


@st.composite
def _ip_layer(draw, proto, src=None, dst=None, ttl=None, tos=None, ident=None, flags=None, frag=None,
              options=None, l4=None):
    s = _scapy()
    return s.IP(version=4, tos=draw(_strat(tos, st.integers(0, 255))),
                id=draw(_strat(ident, st.integers(0, 65535))),
                flags=draw(_strat(flags, st.sampled_from([0, 2]))), frag=draw(_strat(frag, st.just(0))),
                ttl=draw(_strat(ttl, st.integers(0, 255))), proto=proto,
                src=draw(_strat(src, ipv4_addresses())), dst=draw(_strat(dst, ipv4_addresses())),
                options=draw(_strat(options, st.one_of(st.just([]), _ip_options()))))


@st.composite
def ipv4_packets(draw, proto=None, src=None, dst=None, payload=None, ttl=None, tos=None, ident=None,
                 flags=None, frag=None, options=None, sport=None, dport=None, icmp_type=None):
    """IPv4 packets (no Ethernet header) with a well-formed ICMP (1), TCP (6) or UDP (17)
    payload, or opaque bytes for any other protocol.  ``flags`` defaults to 0 or DF and
    ``frag`` to 0 (a fragment's payload is not a transport header); pass strategies for
    them to get fragments.  Options (NOP, Router Alert) make IHL > 5 now and then."""
    p = draw(_strat(proto, st.one_of(st.sampled_from([1, 6, 17]), st.integers(0, 255))))
    ip = draw(_ip_layer(p, src, dst, ttl, tos, ident, flags, frag, options))
    return bytes(ip / _l4(draw, p, sport, dport, payload, icmp_type))


@st.composite
def _ether_ip(draw, inner, dst_mac=None, src_mac=None, padding=None):
    s = _scapy()
    packet = draw(inner)
    pad = draw(_strat(padding, st.one_of(st.just(b""), st.just(b""), st.binary(min_size=1, max_size=12))))
    eth = s.Ether(dst=draw(_strat(dst_mac, mac_addresses())), src=draw(_strat(src_mac, mac_addresses(unicast=True))),
                  type=0x0800)
    return bytes(eth) + packet + pad


def ipv4_frames(dst_mac=None, src_mac=None, padding=None, **ip):
    """Ethernet frames carrying :func:`ipv4_packets` (``**ip`` goes to it), sometimes with
    link-layer padding after the IP total length."""
    return _ether_ip(ipv4_packets(**ip), dst_mac, src_mac, padding)


def icmp_echo_frames(dst_mac=None, src_mac=None, src=None, dst=None, type_=None, payload=None,
                     padding=None, **ip):
    """Ethernet/IPv4/ICMP echo requests (8) and replies (0)."""
    return ipv4_frames(dst_mac, src_mac, padding, proto=1, src=src, dst=dst, payload=payload,
                       icmp_type=_strat(type_, st.sampled_from([0, 8])), **ip)


def udp_frames(dst_mac=None, src_mac=None, src=None, dst=None, sport=None, dport=None, payload=None,
               padding=None, **ip):
    """Ethernet/IPv4/UDP datagrams with their checksum (Scapy's, 0 sent as 0xFFFF)."""
    return ipv4_frames(dst_mac, src_mac, padding, proto=17, src=src, dst=dst, sport=sport, dport=dport,
                       payload=payload, **ip)


def tcp_frames(dst_mac=None, src_mac=None, src=None, dst=None, sport=None, dport=None, payload=None,
               padding=None, **ip):
    """Ethernet/IPv4/TCP segments with any flags, sequence numbers and options."""
    return ipv4_frames(dst_mac, src_mac, padding, proto=6, src=src, dst=dst, sport=sport, dport=dport,
                       payload=payload, **ip)


def valid_frames(dst_mac=None, src_mac=None, src=None, dst=None):
    """Any well-formed frame of the kinds above."""
    return st.one_of(
        arp_frames(dst_mac=dst_mac, src_mac=src_mac),
        icmp_echo_frames(dst_mac, src_mac, src, dst),
        udp_frames(dst_mac, src_mac, src, dst),
        tcp_frames(dst_mac, src_mac, src, dst),
        ipv4_frames(dst_mac, src_mac, src=src, dst=dst),
        ethernet_frames(dst=dst_mac, src=src_mac),
        vlan_frames(dst=dst_mac, src=src_mac),
    )


# -- malformed input -------------------------------------------------------------
def fix_ipv4_checksum(frame: bytes, off: int = 14) -> bytes:
    """Recompute the IPv4 header checksum after a mutation (so that the mutation is the
    frame's only defect).  The header length is taken from IHL, clamped to the buffer."""
    b = bytearray(frame)
    ihl = max(20, (b[off] & 0x0F) * 4)
    ihl = min(ihl, len(b) - off)
    b[off + 10:off + 12] = b"\0\0"
    struct.pack_into("!H", b, off + 10, internet_checksum(bytes(b[off:off + ihl])))
    return bytes(b)


#: The defects :func:`malformed_frames` injects (``with_kind=True`` names them).
MALFORMATIONS = (
    "random_bytes", "runt", "truncated", "bit_flip", "unknown_ethertype",
    "ip_bad_version", "ip_bad_ihl", "ip_ihl_beyond_buffer", "ip_total_too_long",
    "ip_total_too_short", "ip_bad_checksum",
    "udp_bad_checksum", "udp_length_too_long", "udp_length_too_short", "udp_too_short",
    "tcp_bad_offset", "tcp_bad_checksum", "icmp_bad_checksum", "icmp_too_short",
    "arp_bad_hlen", "arp_bad_plen", "arp_bad_htype", "arp_bad_ptype", "arp_bad_op", "arp_truncated",
)


def _patch(frame: bytes, off: int, fmt: str, value) -> bytes:
    b = bytearray(frame)
    struct.pack_into(fmt, b, off, value)
    return bytes(b)


def _wrong_checksum(draw, right: int) -> int:
    """A checksum value that does not verify: neither the right one nor 0 (which means
    "no checksum" for UDP), nor its one's-complement twin."""
    bad = {0, right}
    if right in (0, 0xFFFF):
        bad.add(0xFFFF)  # 0 and 0xFFFF are the same number in one's complement
    return draw(st.integers(1, 0xFFFF).filter(lambda v: v not in bad))


@st.composite
def malformed_frames(draw, dst_mac=None, src_mac=None, dst=None, src=None, with_kind: bool = False):
    """Broken frames, each with one named defect (see :data:`MALFORMATIONS`).

    The base frame the defect is injected into is addressed with ``dst_mac``/``dst``
    (give your device's MAC and address, so the defect is what the stack trips on,
    not the address filter).  The IPv4 header checksum is recomputed after each
    header mutation except ``ip_bad_checksum``, and base IP packets are never
    fragments and carry no link-layer padding, so each defect is the first one a
    receiver meets."""
    kind = draw(st.sampled_from(MALFORMATIONS))
    dmac = _strat(dst_mac, mac_addresses(unicast=True))
    smac = _strat(src_mac, mac_addresses(unicast=True))
    dip = _strat(dst, ipv4_addresses(unicast=True))
    sip = _strat(src, ipv4_addresses(unicast=True))
    ip_kw = dict(src=sip, dst=dip, padding=b"", flags=st.sampled_from([0, 2]), frag=0)
    data = None
    if kind == "random_bytes":
        data = draw(st.binary(max_size=80))
    elif kind in ("runt", "truncated", "bit_flip"):
        base = draw(st.one_of(arp_frames(dst_mac=dmac, src_mac=smac, tpa=dip),
                              udp_frames(dmac, smac, **ip_kw), tcp_frames(dmac, smac, **ip_kw),
                              icmp_echo_frames(dmac, smac, **ip_kw)))
        if kind == "runt":
            data = base[:draw(st.integers(0, 13))]
        elif kind == "truncated":
            data = base[:draw(st.integers(14, len(base) - 1))]
        else:
            bit = draw(st.integers(0, len(base) * 8 - 1))
            b = bytearray(base)
            b[bit // 8] ^= 0x80 >> (bit % 8)
            data = bytes(b)
    elif kind == "unknown_ethertype":
        data = draw(st.one_of(
            ethernet_frames(dst=dmac, src=smac, ethertype=st.integers(0x0600, 0xFFFF).filter(
                lambda t: t not in (0x0800, 0x0806))),
            vlan_frames(dst=dmac, src=smac)))
    elif kind.startswith("arp"):
        base = draw(arp_frames(dst_mac=dmac, src_mac=smac, tpa=dip, spa=sip))
        if kind == "arp_bad_hlen":
            data = _patch(base, 18, "!B", draw(st.integers(0, 255).filter(lambda v: v != 6)))
        elif kind == "arp_bad_plen":
            data = _patch(base, 19, "!B", draw(st.integers(0, 255).filter(lambda v: v != 4)))
        elif kind == "arp_bad_htype":
            data = _patch(base, 14, "!H", draw(st.integers(0, 65535).filter(lambda v: v != 1)))
        elif kind == "arp_bad_ptype":
            data = _patch(base, 16, "!H", draw(st.integers(0, 65535).filter(lambda v: v != 0x0800)))
        elif kind == "arp_bad_op":
            data = _patch(base, 20, "!H", draw(st.integers(0, 65535).filter(lambda v: v not in (1, 2))))
        else:  # arp_truncated: the body shorter than 28 bytes
            data = base[:14 + draw(st.integers(0, 27))]
    elif kind.startswith("ip_"):
        base = draw(ipv4_frames(dmac, smac, proto=st.sampled_from([1, 6, 17]), **ip_kw))
        ihl = (base[14] & 0x0F) * 4
        total = len(base) - 14
        if kind == "ip_bad_version":
            v = draw(st.integers(0, 15).filter(lambda x: x != 4))
            data = fix_ipv4_checksum(_patch(base, 14, "!B", (v << 4) | (base[14] & 0x0F)))
        elif kind == "ip_bad_ihl":
            data = fix_ipv4_checksum(_patch(base, 14, "!B", 0x40 | draw(st.integers(0, 4))))
        elif kind == "ip_ihl_beyond_buffer":
            # an IHL that claims more header than the frame holds
            data = _patch(base, 14, "!B", 0x4F)[:14 + draw(st.integers(20, 59))]
        elif kind == "ip_total_too_long":
            data = fix_ipv4_checksum(_patch(base, 16, "!H", draw(st.integers(total + 1, 65535))))
        elif kind == "ip_total_too_short":
            data = fix_ipv4_checksum(_patch(base, 16, "!H", draw(st.integers(0, ihl - 1))))
        else:  # ip_bad_checksum
            right = struct.unpack_from("!H", base, 24)[0]
            data = _patch(base, 24, "!H", _wrong_checksum(draw, right))
    elif kind.startswith("udp"):
        base = draw(udp_frames(dmac, smac, **ip_kw))
        l4 = 14 + (base[14] & 0x0F) * 4
        seglen = len(base) - l4
        if kind == "udp_bad_checksum":
            right = struct.unpack_from("!H", base, l4 + 6)[0]
            data = _patch(base, l4 + 6, "!H", _wrong_checksum(draw, right))
        elif kind == "udp_length_too_long":
            data = _patch(base, l4 + 4, "!H", draw(st.integers(seglen + 1, 65535)))
        elif kind == "udp_length_too_short":
            data = _patch(base, l4 + 4, "!H", draw(st.integers(0, 7)))
        else:  # udp_too_short: an IP payload of fewer than 8 bytes
            cut = draw(st.integers(0, 7))
            data = fix_ipv4_checksum(_patch(base[:l4 + cut], 16, "!H", l4 - 14 + cut))
    elif kind.startswith("tcp"):
        base = draw(tcp_frames(dmac, smac, **ip_kw))
        l4 = 14 + (base[14] & 0x0F) * 4
        seglen = len(base) - l4
        if kind == "tcp_bad_offset":
            choices = [d for d in range(16) if d < 5 or d * 4 > seglen]
            doff = draw(st.sampled_from(choices))
            data = _patch(base, l4 + 12, "!B", (doff << 4) | (base[l4 + 12] & 0x0F))
        else:  # tcp_bad_checksum
            right = struct.unpack_from("!H", base, l4 + 16)[0]
            data = _patch(base, l4 + 16, "!H", _wrong_checksum(draw, right))
    elif kind.startswith("icmp"):
        base = draw(icmp_echo_frames(dmac, smac, **ip_kw))
        l4 = 14 + (base[14] & 0x0F) * 4
        if kind == "icmp_bad_checksum":
            right = struct.unpack_from("!H", base, l4 + 2)[0]
            data = _patch(base, l4 + 2, "!H", _wrong_checksum(draw, right))
        else:  # icmp_too_short
            cut = draw(st.integers(0, 7))
            data = fix_ipv4_checksum(_patch(base[:l4 + cut], 16, "!H", l4 - 14 + cut))
    return (kind, data) if with_kind else data

