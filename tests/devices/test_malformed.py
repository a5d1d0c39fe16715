"""Malformed input, on any device and the stack: nothing raises, every drop is counted under
a reason, and drops plus frames legitimately accepted account for every frame.

Each frame from ``emunet.strategies.malformed_frames()`` is handed to ``dev.receive`` on a
veth, a plain NetDevice, loopback, a bridge's own interface, a bridge port, and a veth in no
namespace; then the simulator runs to quiescence.  An observer records every drop, note and
transmitted frame, and for each fed frame:

* the counters (device ``drop_reasons`` / ``stats.rx_dropped`` / ``stats.tx_dropped`` and
  namespace ``drop_reasons``) grew by exactly the drops the observer saw, reason by reason;
* at the first hop, the frame was either dropped exactly once, under a reason, or accepted,
  with evidence (a decision note on it, a reply or forwarded copy, a pass up the stack) —
  never both, never neither;
* a frame accepted by a stack is well formed by Scapy's reading and Scapy's checksums;
* for the defects whose reason is fixed by the order of the kernel's checks, the reason
  is the kernel's (IP_CSUM, UDP_CSUM, PKT_TOO_SMALL, ...);
* a tagged frame (no VLAN device anywhere here) meets the kernel's ``check_vlan_id``, as
  seen on kernel 6.18 (:func:`tagged_outcome`).
"""
import struct
from collections import Counter

import pytest
from hypothesis import given, strategies as st

from emunet import strategies as es
from emunet.control.docker import DockerHost
from emunet.devices.base import NetDevice
from emunet.devices.veth import veth_pair
from emunet.sim import Simulator
from emunet.stack.namespace import Namespace
from emunet.wire.frame import Frame

pytest.importorskip("scapy")
from scapy.layers.l2 import ARP, Ether  # noqa: E402
from scapy.utils import checksum as scapy_checksum  # noqa: E402

A_MAC = bytes.fromhex("020000000a01")
B_MAC = bytes.fromhex("020000000a02")
D_MAC = bytes.fromhex("020000000d01")
BCAST = "ff:ff:ff:ff:ff:ff"


def mac(b: bytes) -> str:
    return ":".join(f"{x:02x}" for x in b)


class Recorder:
    """An observer: every drop, note and frame report, in order."""

    def __init__(self):
        self.drops, self.notes, self.frames = [], [], []

    def on_frame(self, now, dev, frame, direction, note):
        self.frames.append((dev, frame, direction))

    def on_note(self, now, dev, frame, text):
        self.notes.append((dev, frame, text))

    def on_drop(self, now, where, frame, reason, detail):
        assert isinstance(reason, str) and reason
        self.drops.append((where, frame, reason))


# -- the devices under test ----------------------------------------------------
class Setup:
    """A topology, the device frames are fed to, and how to address them to it."""

    first_hop = "stack"  # or "bridge", or "nowhere" (a device in no namespace)
    noarp = False

    def __init__(self):
        self.sim = Simulator(seed=7)
        self.rec = Recorder()
        self.sim.observers.append(self.rec)
        self.extra_devices = []
        self.build()

    def devices(self):
        devs = list(self.extra_devices)
        for ns in self.sim.namespaces.values():
            devs += [d for d in ns.devices.values() if d not in devs]
        return devs

    def counters(self) -> Counter:
        c = Counter()
        for d in self.devices():
            c.update(d.drop_reasons)
        for ns in self.sim.namespaces.values():
            c.update(ns.drop_reasons)
        return c


class VethSetup(Setup):
    """A veth in namespace a (10.0.0.1/24), its peer in b (10.0.0.2/24)."""

    def build(self):
        a, b = Namespace(self.sim, "a"), Namespace(self.sim, "b")
        ea, eb = veth_pair(self.sim, "eth0", "eth0", mac=A_MAC, peer_mac=B_MAC)
        a.add_device(ea)
        b.add_device(eb)
        ea.set_up()
        eb.set_up()
        a.addr_add("eth0", "10.0.0.1/24")
        b.addr_add("eth0", "10.0.0.2/24")
        self.dev, self.ns = ea, a
        self.dst_mac = st.sampled_from([mac(A_MAC), BCAST])
        self.dst = "10.0.0.1"
        # never our own address: the kernel drops that as a martian source before any
        # L4 check (ip_route_input_slow comes before icmp_rcv / udp_rcv)
        self.src = st.one_of(st.just("10.0.0.2"), es.ipv4_addresses(unicast=True).filter(lambda a: a != "10.0.0.1"))


class NetDeviceSetup(Setup):
    """A plain NetDevice (no link: what it sends is dropped NO_CARRIER) with an address."""

    def build(self):
        a = Namespace(self.sim, "a")
        d = a.add_device(NetDevice(self.sim, "dummy0", D_MAC))
        d.set_up()
        a.addr_add("dummy0", "10.1.0.1/24")
        self.dev, self.ns = d, a
        self.dst_mac = st.sampled_from([mac(D_MAC), BCAST])
        self.dst = "10.1.0.1"
        self.src = es.ipv4_addresses(network="10.1.0.0/24", unicast=True).filter(lambda a: a != "10.1.0.1")


class LoopbackSetup(Setup):
    noarp = True

    def build(self):
        a = Namespace(self.sim, "a")
        self.dev, self.ns = a.lo, a
        self.dst_mac = st.sampled_from(["00:00:00:00:00:00", BCAST, mac(A_MAC)])
        self.dst = "127.0.0.1"
        self.src = st.sampled_from(["127.0.0.1", "127.0.0.2"])


class DockerSetup(Setup):
    """docker0 (172.17.0.1/16) with c1 (172.17.0.2) and c2 (172.17.0.3)."""

    def build(self):
        self.docker = DockerHost(self.sim)
        self.c1 = self.docker.run("c1", ip="172.17.0.2")
        self.c2 = self.docker.run("c2", ip="172.17.0.3")
        self.bridge = self.docker.bridge
        self.ns = self.docker.ns


class BridgeDeviceSetup(DockerSetup):
    """Frames arriving on docker0's own interface, for the host stack."""

    def build(self):
        super().build()
        self.dev = self.bridge
        self.dst_mac = st.sampled_from([mac(self.bridge.mac), BCAST])
        self.dst = "172.17.0.1"
        self.src = st.sampled_from(["172.17.0.2", "172.17.0.3", "172.17.0.9"])


class BridgePortSetup(DockerSetup):
    """Frames arriving on c1's host-side veth, a port of docker0."""

    first_hop = "bridge"

    def build(self):
        super().build()
        self.dev = self.c1.veth_host
        self.dst_mac = st.sampled_from([mac(self.bridge.mac), BCAST, mac(self.c2.mac), "02:42:ac:11:00:63"])
        self.dst = st.sampled_from(["172.17.0.1", "172.17.0.3"])
        self.src = st.just("172.17.0.2")


class NoNamespaceSetup(Setup):
    """A veth that is in no namespace: everything is dropped DEV_READY."""

    first_hop = "nowhere"

    def build(self):
        x, y = veth_pair(self.sim, "x0", "x1")
        x.set_up()
        y.set_up()
        self.extra_devices = [x, y]
        self.dev, self.ns = x, None
        self.dst_mac, self.dst, self.src = None, None, None


SETUPS = {"veth": VethSetup, "netdev": NetDeviceSetup, "lo": LoopbackSetup,
          "bridge-dev": BridgeDeviceSetup, "bridge-port": BridgePortSetup, "no-netns": NoNamespaceSetup}

# the reason a stack gives, when the frame is addressed to it, for the defects whose
# reason is fixed by the order of ip_rcv_core / udp_rcv / tcp_v4_rcv / icmp_rcv / arp_rcv
STACK_REASONS = {
    "runt": {"PKT_TOO_SMALL"},
    "truncated": {"PKT_TOO_SMALL"},
    "unknown_ethertype": {"UNHANDLED_PROTO"},
    "ip_bad_version": {"IP_INHDR"},
    "ip_bad_ihl": {"IP_INHDR"},
    "ip_ihl_beyond_buffer": {"PKT_TOO_SMALL"},
    "ip_total_too_long": {"PKT_TOO_SMALL"},
    "ip_total_too_short": {"IP_INHDR"},
    "ip_bad_checksum": {"IP_CSUM"},
    "udp_bad_checksum": {"UDP_CSUM"},
    "udp_length_too_long": {"PKT_TOO_SMALL"},
    "udp_length_too_short": {"PKT_TOO_SMALL"},
    "udp_too_short": {"PKT_TOO_SMALL"},
    # the kernel says PKT_TOO_SMALL for doff < 5 and discards doff beyond the segment
    "tcp_bad_offset": {"TCP_OFFSET", "PKT_TOO_SMALL"},
    "tcp_bad_checksum": {"TCP_CSUM"},
    "icmp_bad_checksum": {"ICMP_CSUM"},
    "icmp_too_short": {"PKT_TOO_SMALL"},
    "arp_bad_hlen": {"INVALID_PROTO"},
    "arp_bad_plen": {"INVALID_PROTO"},
    "arp_bad_htype": {"INVALID_PROTO"},
    "arp_bad_ptype": {"INVALID_PROTO"},
    "arp_bad_op": {"INVALID_PROTO"},
    "arp_truncated": {"PKT_TOO_SMALL"},
}


# -- an independent reading of "well formed" ------------------------------------
def scapy_well_formed(data: bytes) -> bool:
    """What a stack may accept: a complete ARP for IPv4 over Ethernet, or an IPv4 packet
    whose header, lengths and (for an unfragmented ICMP/UDP/TCP) checksums hold, as
    Scapy dissects the frame and Scapy's checksum routine computes."""
    if len(data) < 14:
        return False
    p = Ether(data)
    if p.type == 0x0806:
        if len(data) < 42:
            return False
        if ARP not in p:
            return False  # Scapy could not read it as ARP either
        a = p[ARP]
        return (a.hwtype, a.ptype, a.hwlen, a.plen) == (1, 0x0800, 6, 4) and a.op in (1, 2)
    if p.type != 0x0800:
        return False
    ip = p.payload
    raw = data[14:]
    if len(raw) < 20 or ip.version != 4 or ip.ihl < 5 or ip.ihl * 4 > len(raw):
        return False
    hl = ip.ihl * 4
    if not hl <= ip.len <= len(raw) or scapy_checksum(raw[:hl]) != 0:
        return False
    if int(ip.flags) & 1 or ip.frag:
        return True  # a fragment: the transport header is not checked before reassembly
    seg = raw[hl:ip.len]
    pseudo = raw[12:20] + bytes((0, ip.proto)) + len(seg).to_bytes(2, "big")
    if ip.proto == 1:
        return len(seg) >= 8 and scapy_checksum(seg) == 0
    if ip.proto == 17:
        if len(seg) < 8:
            return False
        ulen, csum = struct.unpack_from("!HH", seg, 4)
        if not 8 <= ulen <= len(seg):
            return False
        upseudo = raw[12:20] + bytes((0, 17)) + ulen.to_bytes(2, "big")
        return csum == 0 or scapy_checksum(upseudo + seg[:ulen]) == 0
    if ip.proto == 6:
        return len(seg) >= 20 and 20 <= (seg[12] >> 4) * 4 <= len(seg) and scapy_checksum(pseudo + seg) == 0
    return True


# -- tagged frames without a VLAN device ---------------------------------------------
VLAN_TPIDS = (b"\x81\x00", b"\x88\xa8")


def tagged_outcome(dev, data: bytes):
    """The drop reasons a tagged frame that no VLAN device takes gets from the stack, as
    kernel 6.18 handles it (tests/kernel/test_kernel_vlan.py): too short to untag
    (PKT_TOO_SMALL), addressed to another host's MAC (OTHERHOST), a VID other than 0 with
    IP inside (OTHERHOST), with ARP inside (consumed: the empty set), with anything else
    (UNHANDLED_PROTO).  VID 0 is a priority tag: the frame inside is received as an
    untagged one (None: its own checks decide, on the untagged copy)."""
    if len(data) < 20:
        return {"PKT_TOO_SMALL"}
    dst = data[0:6]
    if dst != dev.mac and not dst[0] & 1 and not dev.loopback and not dev.promisc:
        return {"OTHERHOST"}
    vid = ((data[14] & 0x0F) << 8) | data[15]
    inner = data[16:18]
    if vid == 0:
        return None
    if inner == b"\x08\x00":
        return {"OTHERHOST"}
    if inner == b"\x08\x06":
        return set()
    return {"UNHANDLED_PROTO"}


# -- the property ---------------------------------------------------------------
def feed(setup: Setup, kind: str, data: bytes):
    """Hand one frame to the device, run to quiescence, and check the accounting."""
    sim, rec, dev = setup.sim, setup.rec, setup.dev
    frame = Frame(data, sim.new_pid())
    counts_before = setup.counters()
    ndrops, nnotes, nframes = len(rec.drops), len(rec.notes), len(rec.frames)
    rx_up_before = setup.bridge.stats.rx_packets if setup.first_hop == "bridge" else 0
    dev.receive(frame)  # must not raise
    sim.run()           # nor anything it set off

    drops = rec.drops[ndrops:]
    counted = setup.counters() - counts_before
    # every counted drop was reported, and every report counted, reason by reason
    assert counted == Counter(r for _, _, r in drops)
    assert sum(counted.values()) == len(drops)
    for d in setup.devices():
        assert sum(d.drop_reasons.values()) == d.stats.rx_dropped + d.stats.tx_dropped, d

    mine = [(w, r) for w, f, r in drops if f is frame]
    notes = [t for _, f, t in rec.notes[nnotes:] if f is frame]
    sent = [(d, f) for d, f, direction in rec.frames[nframes:] if direction == "out"]
    if setup.first_hop == "nowhere":
        assert mine == [(dev, "DEV_READY")]
        return "DEV_READY"
    if setup.first_hop == "bridge":
        # the port and the bridge decide at layer 2: drop (counted on them), or pass it on
        port_drops = [r for w, r in mine if w is dev or (w is setup.bridge and r == "BRIDGE_NO_HAIRPIN")]
        forwarded = [d for d, f in sent if f is frame]
        passed_up = setup.bridge.stats.rx_packets - rx_up_before
        assert dev not in forwarded  # never back out of the ingress port
        accepted = bool(forwarded) or passed_up > 0
        assert (len(port_drops) == 1) != accepted, (kind, port_drops, forwarded, passed_up)
        if len(data) < 14:
            assert port_drops == ["PKT_TOO_SMALL"]
        elif len(data) < 20 and data[12:14] in VLAN_TPIDS:
            # skb_vlan_untag frees it before the bridge sees it
            assert port_drops == ["PKT_TOO_SMALL"]
        elif not data[6] & 1 and any(data[6:12]):
            # a bridge does not look past the Ethernet header, unless br_netfilter (a docker
            # host has it) checks an IPv4 one (br_validate_ipv4)
            header = ("PKT_TOO_SMALL", "IP_INHDR", "IP_CSUM") if (
                data[12:14] == b"\x08\x00" and setup.ns.netfilter.bridge_hooks(setup.bridge)) else ()
            assert accepted or port_drops[0] in ("BRIDGE_NO_HAIRPIN", *header), (kind, port_drops)
        return port_drops[0] if port_drops else None
    # a stack: the fed frame is dropped once, or accepted with evidence
    # (a reply alone is no evidence: a drop may send an ICMP error, as NO_SOCKET does)
    if len(data) >= 14 and data[12:14] in VLAN_TPIDS:
        expected = tagged_outcome(dev, data)
        reasons = {r for _, r in mine}
        assert len(mine) <= 1, mine
        if expected is None:
            # a priority tag: noted, and the untagged copy went on (its drops are its own)
            assert not mine and any("priority tag" in t for t in notes), (mine, notes)
        else:
            assert reasons == expected, (kind, data.hex(), mine, notes)
            if not expected:
                assert any("consumes it" in t for t in notes), notes
        return mine[0][1] if mine else None
    # a netfilter note says what a hook did on the way (a docker host has iptables rules),
    # not that the stack took the packet
    evidence = any(not t.startswith("netfilter:") for t in notes)
    assert len(mine) <= 1, mine
    assert (len(mine) == 1) != evidence, (kind, mine, notes)
    if mine:
        reason = mine[0][1]
        expected = STACK_REASONS.get(kind)
        if expected is not None and not (setup.noarp and data[12:14] == b"\x08\x06" and len(data) >= 14):
            assert reason in expected, (kind, reason)
        elif setup.noarp and data[12:14] == b"\x08\x06" and len(data) >= 14:
            assert reason == "ARP_NOARP"
        return reason
    assert scapy_well_formed(data), (kind, notes)
    return None


@pytest.mark.parametrize("name", sorted(SETUPS))
@given(data=st.data())
def test_malformed_frames_are_counted_never_raised(name, data):
    setup = SETUPS[name]()
    frames = data.draw(st.lists(es.malformed_frames(dst_mac=setup.dst_mac, dst=setup.dst, src=setup.src,
                                                    with_kind=True), min_size=1, max_size=6))
    for kind, raw in frames:
        feed(setup, kind, raw)


@pytest.mark.parametrize("name", ["veth", "lo", "bridge-dev"])
@given(data=st.data())
def test_valid_frames_are_accepted_or_counted(name, data):
    """Well-formed frames go through the same accounting (replies, ARP, NO_SOCKET, ...)."""
    setup = SETUPS[name]()
    frames = data.draw(st.lists(es.valid_frames(dst_mac=setup.dst_mac, src=setup.src, dst=setup.dst),
                                min_size=1, max_size=6))
    for raw in frames:
        feed(setup, "valid", raw)


# -- the named examples ------------------------------------------------------------
def _ip_udp(**kw):
    from scapy.layers.inet import IP, UDP
    from scapy.packet import Raw
    ip = dict(version=4, tos=0, id=1, flags=0, frag=0, ttl=64, src="10.0.0.2", dst="10.0.0.1")
    ip.update(kw)
    return bytes(Ether(dst=mac(A_MAC), src=mac(B_MAC), type=0x0800) / IP(**ip)
                 / UDP(sport=1234, dport=5678) / Raw(b"payload!"))


def _patched(data, off, fmt, value, fix_ip=True):
    b = bytearray(data)
    struct.pack_into(fmt, b, off, value)
    return es.fix_ipv4_checksum(bytes(b)) if fix_ip else bytes(b)


def _arp(**kw):
    a = dict(hwtype=1, ptype=0x0800, hwlen=6, plen=4, op=1, hwsrc=mac(B_MAC), psrc="10.0.0.2",
             hwdst="00:00:00:00:00:00", pdst="10.0.0.1")
    a.update(kw)
    return bytes(Ether(dst=BCAST, src=mac(B_MAC), type=0x0806) / ARP(**a))


def _icmp_bad_checksum():
    from scapy.layers.inet import ICMP, IP
    good = bytes(Ether(dst=mac(A_MAC), src=mac(B_MAC)) / IP(version=4, id=1, flags=0, ttl=64, src="10.0.0.2",
                                                            dst="10.0.0.1") / ICMP(type=8, id=7, seq=1) / b"ping")
    right = struct.unpack_from("!H", good, 36)[0]
    return _patched(good, 36, "!H", right ^ 0x0101, fix_ip=False)


def _tcp_doff(doff):
    from scapy.layers.inet import IP, TCP
    good = bytes(Ether(dst=mac(A_MAC), src=mac(B_MAC)) / IP(version=4, id=1, flags=2, ttl=64, src="10.0.0.2",
                                                            dst="10.0.0.1")
                 / TCP(sport=1, dport=80, seq=1, ack=0, flags="S", window=1000))
    return _patched(good, 46, "!B", doff << 4, fix_ip=False)


def _udp_bad_checksum():
    good = _ip_udp()
    right = struct.unpack_from("!H", good, 40)[0]
    return _patched(good, 40, "!H", 0x1234 if right != 0x1234 else 0x4321, fix_ip=False)


NAMED = [
    ("13-byte frame", lambda: _ip_udp()[:13], "PKT_TOO_SMALL"),
    ("IPv4 IHL 4", lambda: _patched(_ip_udp(), 14, "!B", 0x44), "IP_INHDR"),
    ("IPv4 version 6", lambda: _patched(_ip_udp(), 14, "!B", 0x65), "IP_INHDR"),
    ("IPv4 total length > buffer", lambda: _patched(_ip_udp(), 16, "!H", 1000), "PKT_TOO_SMALL"),
    ("IPv4 total length < IHL", lambda: _patched(_ip_udp(), 16, "!H", 19), "IP_INHDR"),
    ("IPv4 bad checksum", lambda: _patched(_ip_udp(), 24, "!H", 0xBEEF, fix_ip=False), "IP_CSUM"),
    ("UDP bad checksum", _udp_bad_checksum, "UDP_CSUM"),
    ("UDP length > IP payload", lambda: _patched(_ip_udp(), 38, "!H", 17, fix_ip=False), "PKT_TOO_SMALL"),
    ("UDP length < 8", lambda: _patched(_ip_udp(), 38, "!H", 7, fix_ip=False), "PKT_TOO_SMALL"),
    ("TCP data offset too large", lambda: _tcp_doff(15), "TCP_OFFSET"),
    ("TCP data offset < 5", lambda: _tcp_doff(4), ("TCP_OFFSET", "PKT_TOO_SMALL")),
    ("ARP hlen 7", lambda: _patched(_arp(), 18, "!B", 7, fix_ip=False), "INVALID_PROTO"),
    ("ARP opcode 3", lambda: _arp(op=3), "INVALID_PROTO"),
    ("truncated ARP", lambda: _arp()[:14 + 27], "PKT_TOO_SMALL"),
    ("ICMP bad checksum", _icmp_bad_checksum, "ICMP_CSUM"),
    ("unknown EtherType", lambda: bytes(Ether(dst=mac(A_MAC), src=mac(B_MAC), type=0x88B5) / (b"x" * 46)),
     "UNHANDLED_PROTO"),
]


@pytest.mark.parametrize("what,build,reason", NAMED, ids=[n[0] for n in NAMED])
def test_named_malformed_frames(what, build, reason):
    setup = VethSetup()
    data = build()
    got = feed(setup, "named", data)
    assert got in ((reason,) if isinstance(reason, str) else reason), (what, got)
    # counted in the namespace's (stack) or the device's drop reasons, under that name
    assert setup.ns.drop_reasons[got] + setup.dev.drop_reasons[got] == 1
    # the bytes are the defect we meant: Scapy's reading disagrees with "well formed"
    assert not scapy_well_formed(data)


def test_named_udp_without_checksum_is_accepted_to_a_socket():
    """The counterpart of UDP_CSUM: a zero checksum means none (RFC 768) and is delivered."""
    from scapy.layers.inet import IP, UDP
    setup = VethSetup()
    sock = setup.ns.udp.socket()
    sock.bind(("0.0.0.0", 5678))
    data = bytes(Ether(dst=mac(A_MAC), src=mac(B_MAC)) / IP(version=4, id=1, flags=0, ttl=64, src="10.0.0.2",
                                                            dst="10.0.0.1") / UDP(sport=1234, dport=5678, chksum=0)
                 / b"payload!")
    assert feed(setup, "valid", data) is None
    assert sock.received == [(b"payload!", ("10.0.0.2", 1234))]
