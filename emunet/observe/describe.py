"""One-line summaries of frames from their bytes, with ``struct`` (no Scapy): what a trace
step, a sequence diagram or a notebook prints for a frame (``ICMP echo request 172.17.0.7 >
172.17.0.8 ttl 64``), an encapsulating frame as ``<outer> carrying <inner>`` whatever the
tunnel (the carried IPv4 header is recognised by its checksum and length, not by a port
number), a later fragment as ``IP fragment ... at OFFSET``."""
import struct

from emunet.wire.frame import LINKTYPE_ETHERNET, LINKTYPE_RAW
from emunet.wire.ipv4 import int_to_ip

_ICMP_NAMES = {0: "echo reply", 8: "echo request", 3: "unreachable", 11: "time exceeded",
               13: "timestamp request", 14: "timestamp reply"}
_UNREACH = {0: "net unreachable", 1: "host unreachable", 2: "protocol unreachable",
            3: "port unreachable", 4: "fragmentation needed", 13: "administratively prohibited"}
_TUNNEL_PORTS = {4789: "VXLAN", 8472: "VXLAN", 8285: "flannel UDP", 6081: "Geneve"}


def ipv4_header_ok(data: bytes, off: int, exact: bool) -> bool:
    """An IPv4 header at ``off`` (checksum right; with ``exact`` its total length fills
    the rest of ``data``): how a carried packet is told from an arbitrary payload."""
    if len(data) < off + 20 or data[off] >> 4 != 4 or (data[off] & 0x0F) < 5:
        return False
    ihl = (data[off] & 0x0F) * 4
    if len(data) < off + ihl:
        return False
    total = struct.unpack_from("!H", data, off + 2)[0]
    if exact and total != len(data) - off:
        return False
    s = sum(struct.unpack_from(f"!{ihl // 2}H", data, off))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s == 0xFFFF


def _l3_offset(data: bytes, linktype: int):
    """(offset of the IPv4 header, or None) and the ethertype, skipping one 802.1Q tag."""
    if linktype == LINKTYPE_RAW:
        return 0, 0x0800, ""
    if len(data) < 14:
        return None, 0, ""
    etype = struct.unpack_from("!H", data, 12)[0]
    if etype == 0x8100 and len(data) >= 18:
        vid = struct.unpack_from("!H", data, 14)[0] & 0xFFF
        return 18, struct.unpack_from("!H", data, 16)[0], f"vlan {vid} "
    return 14, etype, ""


def _carried(data: bytes, off: int):
    """If the IPv4 packet at ``off`` carries another IPv4 packet, (its offset, what the
    outer layer is) else None: IPIP (protocol 4), GRE, or an IP packet in UDP either
    bare (flannel's UDP proxy) or in an Ethernet frame behind an 8-byte header (VXLAN,
    Geneve without options)."""
    ihl = (data[off] & 0x0F) * 4
    proto = data[off + 9]
    l4 = off + ihl
    if data[off + 6] & 0x1F or data[off + 7]:
        return None   # a later fragment: what follows its header is the middle of a payload
    if proto == 4 and ipv4_header_ok(data, l4, False):
        return l4, "IPIP"
    if proto == 47 and len(data) >= l4 + 4 and data[l4 + 2:l4 + 4] == b"\x08\x00" \
            and ipv4_header_ok(data, l4 + 4, False):
        return l4 + 4, "GRE"
    if proto == 17 and len(data) >= l4 + 8:
        payload = l4 + 8
        if ipv4_header_ok(data, payload, True):
            return payload, "UDP"
        eth = payload + 8
        if len(data) >= eth + 34 and data[eth + 12:eth + 14] == b"\x08\x00" \
                and ipv4_header_ok(data, eth + 14, True):
            return eth + 14, "VXLAN"
    return None


def _ip_summary(data: bytes, off: int, ttl: bool) -> str:
    ihl = (data[off] & 0x0F) * 4
    proto = data[off + 9]
    src = int_to_ip(int.from_bytes(data[off + 12:off + 16], "big"))
    dst = int_to_ip(int.from_bytes(data[off + 16:off + 20], "big"))
    l4 = off + ihl
    tail = f" ttl {data[off + 8]}" if ttl else ""
    frag = struct.unpack_from("!H", data, off + 6)[0]
    if frag & 0x1FFF:
        return f"IP fragment {src} > {dst} proto {proto} at {(frag & 0x1FFF) * 8}{' MF' if frag & 0x2000 else ''}{tail}"
    if proto == 1 and len(data) >= l4 + 2:
        t, code = data[l4], data[l4 + 1]
        if t == 3:
            what = _UNREACH.get(code, f"unreachable code {code}")
            if code == 4 and len(data) >= l4 + 8:
                what += f" (mtu {struct.unpack_from('!H', data, l4 + 6)[0]})"
        elif t == 11:
            what = "time exceeded"
        else:
            what = _ICMP_NAMES.get(t, f"type {t}")
        s = f"ICMP {what} {src} > {dst}{tail}"
        if t in (3, 11) and ipv4_header_ok(data, l4 + 8, False):
            s += f" about [{_ip_summary(data, l4 + 8, False)}]"
        return s
    if proto in (6, 17) and len(data) >= l4 + 4:
        sport, dport = struct.unpack_from("!HH", data, l4)
        if proto == 6 and len(data) >= l4 + 14:
            flags = data[l4 + 13]
            names = "".join(c for bit, c in ((2, "S"), (1, "F"), (4, "R"), (8, "P"), (16, "."))
                            if flags & bit)
            return f"TCP {src}:{sport} > {dst}:{dport} [{names}]{tail}"
        return f"{'UDP' if proto == 17 else 'TCP'} {src}:{sport} > {dst}:{dport}{tail}"
    return f"IP proto {proto} {src} > {dst}{tail}"


def layers(data: bytes, linktype: int = LINKTYPE_ETHERNET) -> list:
    """The IPv4 headers of a frame, outermost first: ``[(offset, how it is carried)]``."""
    off, etype, _ = _l3_offset(data, linktype)
    if off is None or etype != 0x0800 or not ipv4_header_ok(data, off, False):
        return []
    out = [(off, "")]
    while len(out) < 8:
        c = _carried(data, out[-1][0])
        if c is None:
            break
        out.append(c)
    return out


def describe(data: bytes, linktype: int = LINKTYPE_ETHERNET) -> str:
    """A one-line summary from the bytes (no Scapy), an encapsulating frame as
    ``<outer> carrying <inner>``."""
    off, etype, vlan = _l3_offset(data, linktype)
    if off is None:
        return f"{len(data)}-byte runt"
    if etype == 0x0806 and len(data) >= off + 28:
        op = struct.unpack_from("!H", data, off + 6)[0]
        spa = int_to_ip(int.from_bytes(data[off + 14:off + 18], "big"))
        tpa = int_to_ip(int.from_bytes(data[off + 24:off + 28], "big"))
        if op == 1:
            return f"{vlan}ARP who-has {tpa} tell {spa}"
        mac = ":".join(f"{b:02x}" for b in data[off + 8:off + 14])
        return f"{vlan}ARP {spa} is-at {mac}"
    ls = layers(data, linktype)
    if not ls:
        if etype == 0x0800 and len(data) >= off + 20:
            return f"{vlan}IPv4 (bad header) {len(data) - off} bytes"
        return f"{vlan}ethertype {etype:#06x}"
    parts = []
    for i, (o, _) in enumerate(ls):
        inner = i == len(ls) - 1
        if inner:
            parts.append(_ip_summary(data, o, True))
            continue
        how = ls[i + 1][1]
        ihl = (data[o] & 0x0F) * 4
        src = int_to_ip(int.from_bytes(data[o + 12:o + 16], "big"))
        dst = int_to_ip(int.from_bytes(data[o + 16:o + 20], "big"))
        if how in ("UDP", "VXLAN"):
            sport, dport = struct.unpack_from("!HH", data, o + ihl)
            label = _TUNNEL_PORTS.get(dport, "UDP")
            if how == "VXLAN":
                vni = int.from_bytes(data[o + ihl + 12:o + ihl + 15], "big")
                label = f"{_TUNNEL_PORTS.get(dport, 'VXLAN')} vni {vni}"
            parts.append(f"{label} {src}:{sport} > {dst}:{dport}")
        else:
            parts.append(f"{how} {src} > {dst}")
    return vlan + " carrying ".join(parts)


__all__ = ["describe", "layers", "ipv4_header_ok"]
