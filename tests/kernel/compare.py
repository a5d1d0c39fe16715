"""Frame-by-frame comparison of two captures: the kernel's and emunet's.

Each frame is dissected here, with ``struct`` and nothing from emunet or Scapy
(an independent reader), into named fields: ``eth.dst``, ``arp.op``,
``ip.tos``, ``ip.flags.df``, ``ip.checksum`` (valid or not), ``icmp.quote.ip.ttl``,
``udp.len``, ``vxlan.vni``, ``inner.ip.ttl``, ``tcp.options``, ... .  Per
interface, the two frame sequences are aligned in order; a frame only one side
has, a frame out of order, and every field whose value differs are reported by
name.  ``frame.len`` and ``frame.direction`` (in/out, as the capture saw it)
are fields too.

Normalised fields: the only ones that may differ, because each side draws
them at random or reads them from a clock.  Everything else must be equal.

================================  ===========================================================
field                             replaced by, and why
================================  ===========================================================
``ip.id`` (also quoted, inner)    0 stays 0; any other value becomes a label by first
                                  appearance on that interface (``id#0``, ``id#1``...) of
                                  that value among packets with the same source, destination
                                  and protocol, so an ID that must repeat (a quoted header,
                                  a tunnelled inner packet) must repeat on both sides, and
                                  two unrelated packets whose random IDs collide (about one
                                  run in a few hundred) are no difference.  The kernel's hashed generator
                                  (``ip_idents_reserve``) is seeded at random per boot.  For
                                  TCP, and UDP from an ephemeral port to a non-tunnel port
                                  (a client's connected socket), ``ip.id.step`` says whether
                                  the ID is the flow's previous ID + 1 (the socket's
                                  counter).  Elsewhere the hashed generator steps by 1 plus
                                  a random number below the jiffies since the bucket was
                                  last used: +1 by chance, so not compared.
``icmp.ident`` (echo id)          a label by first appearance: iputils and emunet's ping pick
                                  the identifier at random; a reply must echo the request's.
``icmp.timestamp``                the first 16 data bytes of an echo (iputils' struct
                                  timeval, wall-clock time of sending) are not compared.
TCP ``seq``/``ack``               relative to each side's ISN (the SYN's sequence number):
                                  ISNs are random (``secure_tcp_seq``).
TCP timestamps option             TSval is not compared (a random per-connection offset);
                                  ``tcp.ts.ecr`` says whether TSecr is 0 or echoes a TSval
                                  the peer sent before.
ephemeral ports                   a port in ``ip_local_port_range`` (32768–60999) becomes a
                                  label by first appearance (``eph#0``...): connect() and
                                  autobind pick it at random.
VXLAN outer source port           must lie in 32768–60999 and stay the same for every packet
                                  of one inner flow from one VTEP; its value is not compared
                                  (``udp_flow_src_port`` of a hash keyed at random per boot,
                                  or of a connected socket's random ``sk_txhash``), nor whether
                                  the two directions share it (they do when both VTEPs are
                                  namespaces of one kernel, as here, not across machines).
checksums                         compared by validity (``valid``, ``zero``, ``bad``), not
                                  value: every checksum covers one of the fields above.
                                  The kernel's TX checksum offload is turned off on every
                                  device, except on ``lo`` where it is fixed on: there a TCP or
                                  UDP checksum holding the pseudo-header sum (CHECKSUM_PARTIAL,
                                  never filled in on loopback) matches emunet's valid one.
time                              not compared frame by frame; :func:`compare_timing`
                                  compares times since the first frame within a tolerance
                                  where a test asks for it (ARP retransmits, the FAILED
                                  timeout, the delayed probe).
================================  ===========================================================
"""
import difflib
import struct

EPHEMERAL = range(32768, 61000)   # net.ipv4.ip_local_port_range = 32768 60999
VXLAN_PORTS = (4789, 8472)
#: flannel's udp backend (``-d udp.port==8285,ip`` in Wireshark)
IP_IN_UDP_PORTS = (8285,)
TUNNEL_PORTS = VXLAN_PORTS + IP_IN_UDP_PORTS
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101

NORMALISED = ("ip.id", "icmp.ident", "icmp.timestamp", "tcp.seq", "tcp.ack", "tcp.ts.val",
              "tcp.ts.ecr", "ephemeral ports", "VXLAN outer source port", "checksum values", "time")


def _mac(b: bytes) -> str:
    return ":".join(f"{x:02x}" for x in b)


def _ip(b: bytes) -> str:
    return ".".join(str(x) for x in b)


def _csum(data: bytes) -> int:
    """RFC 1071 one's-complement sum, folded (0xffff for a buffer that checks)."""
    if len(data) & 1:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def ip_checksum(data: bytes) -> int:
    """The Internet checksum of ``data``: what goes in a checksum field, 0 for a buffer
    that checks (crafting and rewriting packets in the kernel tests)."""
    return ~_csum(data) & 0xFFFF


PARTIAL = "partial (the pseudo-header sum: checksum offload)"


def _l4_state(src: bytes, dst: bytes, proto: int, seg: bytes, field: int) -> str:
    """``valid``, ``bad``, or ``partial``: a CHECKSUM_PARTIAL packet captured before any
    device filled the checksum in holds only the folded pseudo-header sum."""
    if _l4_valid(src, dst, proto, seg):
        return "valid"
    pseudo = _csum(src + dst + bytes((0, proto)) + len(seg).to_bytes(2, "big"))
    return PARTIAL if field == pseudo else "bad"


def _inner_flow(buf: bytes, off: int, end: int):
    """The flow of an inner Ethernet frame: (type, addresses, protocol, ports)."""
    if end - off < 14:
        return None
    etype = buf[off + 12:off + 14]
    if etype != b"\x08\x00" or end - off < 34:
        return (etype, buf[off:off + 12])
    ip = off + 14
    ihl = (buf[ip] & 0x0F) * 4
    proto = buf[ip + 9]
    ports = buf[ip + ihl:ip + ihl + 4] if proto in (6, 17) else b""
    return (etype, buf[ip + 12:ip + 20], proto, ports)


def _l4_valid(src: bytes, dst: bytes, proto: int, seg: bytes) -> bool:
    pseudo = src + dst + bytes((0, proto)) + len(seg).to_bytes(2, "big")
    return _csum(pseudo + seg) == 0xFFFF


class Normaliser:
    """The per-interface state of the normalisation (labels, ISNs, TSvals seen)."""

    def __init__(self, raw: bool = False):
        self.raw = raw       # raw: no labels, the values as they are (for summaries)
        self.labels = {}
        self.isn = {}
        self.tsvals = {}
        self.last_id = {}
        self.vxports = {}

    def label(self, kind: str, value, prefix: str) -> str:
        if self.raw:
            return value
        table = self.labels.setdefault(kind, {})
        if value not in table:
            table[value] = f"{prefix}#{len(table)}"
        return table[value]

    def ip_id(self, value: int, key=None) -> str:
        """0, or a label by first appearance of the ID *within its (source, destination,
        protocol)*: the copies of one packet (a quote, a tunnelled inner packet) share a key
        and must share the label; two unrelated packets whose random IDs happen to be
        equal do not make a difference."""
        if self.raw:
            return f"0x{value:04x}"
        return "0" if value == 0 else self.label("ip.id", (key, value), "id")

    def port(self, value: int):
        return self.label("port", value, "eph") if value in EPHEMERAL else value

    def vxlan_port(self, vtep: bytes, flow, value: int) -> str:
        """A VXLAN outer source port: in range, and the same for every packet of one inner
        flow from one VTEP (its value, and whether both directions share it, are not
        compared: see the module's table)."""
        if self.raw:
            return value
        if value not in EPHEMERAL:
            return f"{value}, outside 32768-60999"
        seen = self.vxports.setdefault((vtep, flow), value)
        return "in range, stable per inner flow" if seen == value else \
            "in range, but another port than this inner flow had before"

    def id_step(self, flow, value: int) -> str:
        prev = self.last_id.get(flow)
        self.last_id[flow] = value
        if prev is None:
            return "first in flow"
        return "+1" if value == (prev + 1) & 0xFFFF else "not +1"


class Dissector:
    def __init__(self, norm: Normaliser):
        self.norm = norm
        self.out = []

    def add(self, name: str, value) -> None:
        self.out.append((name, value))

    # -- Ethernet / ARP -------------------------------------------------------
    def ether(self, buf: bytes, off: int, end: int, p: str = "") -> None:
        if end - off < 14:
            self.add(f"{p}eth.truncated", buf[off:end].hex())
            return
        self.add(f"{p}eth.dst", _mac(buf[off:off + 6]))
        self.add(f"{p}eth.src", _mac(buf[off + 6:off + 12]))
        etype = struct.unpack_from("!H", buf, off + 12)[0]
        self.add(f"{p}eth.type", f"0x{etype:04x}")
        off += 14
        while etype in (0x8100, 0x88A8) and end - off >= 4:
            # 802.1Q / 802.1ad tags, outermost first
            tci, etype = struct.unpack_from("!HH", buf, off)
            self.add(f"{p}vlan.pcp", tci >> 13)
            self.add(f"{p}vlan.dei", (tci >> 12) & 1)
            self.add(f"{p}vlan.id", tci & 0x0FFF)
            self.add(f"{p}vlan.etype", f"0x{etype:04x}")
            off += 4
        if etype == 0x0806:
            used = self.arp(buf, off, end, p)
        elif etype == 0x0800:
            used = self.ipv4(buf, off, end, f"{p}ip", quoted=False)
        else:
            self.add(f"{p}eth.payload", buf[off:end].hex())
            used = end - off
        if off + used < end:
            self.add(f"{p}eth.trailer", buf[off + used:end].hex())

    def arp(self, buf: bytes, off: int, end: int, p: str) -> int:
        if end - off < 28:
            self.add(f"{p}arp.truncated", buf[off:end].hex())
            return end - off
        htype, ptype, hlen, plen, op = struct.unpack_from("!HHBBH", buf, off)
        for k, v in (("htype", htype), ("ptype", f"0x{ptype:04x}"), ("hlen", hlen),
                     ("plen", plen), ("op", op)):
            self.add(f"{p}arp.{k}", v)
        self.add(f"{p}arp.sha", _mac(buf[off + 8:off + 14]))
        self.add(f"{p}arp.spa", _ip(buf[off + 14:off + 18]))
        self.add(f"{p}arp.tha", _mac(buf[off + 18:off + 24]))
        self.add(f"{p}arp.tpa", _ip(buf[off + 24:off + 28]))
        return 28

    # -- IPv4 -------------------------------------------------------------------
    def ipv4(self, buf: bytes, off: int, end: int, p: str, quoted: bool) -> int:
        """Dissect the IPv4 packet at ``off``; returns the bytes it covers (its total length)."""
        if end - off < 20:
            self.add(f"{p}.truncated", buf[off:end].hex())
            return end - off
        vihl, tos, tot, ident, frag, ttl, proto, _ck = struct.unpack_from("!BBHHHBBH", buf, off)
        ihl = (vihl & 0x0F) * 4
        src, dst = buf[off + 12:off + 16], buf[off + 16:off + 20]
        self.add(f"{p}.version", vihl >> 4)
        self.add(f"{p}.ihl", ihl)
        self.add(f"{p}.tos", f"0x{tos:02x}")
        self.add(f"{p}.len", tot)
        self.add(f"{p}.id", self.norm.ip_id(ident, (src, dst, proto)))
        self.add(f"{p}.flags.rb", frag >> 15)
        self.add(f"{p}.flags.df", (frag >> 14) & 1)
        self.add(f"{p}.flags.mf", (frag >> 13) & 1)
        self.add(f"{p}.frag_offset", frag & 0x1FFF)
        self.add(f"{p}.ttl", ttl)
        self.add(f"{p}.proto", proto)
        hdr_ok = off + ihl <= end and _csum(buf[off:off + ihl]) == 0xFFFF
        self.add(f"{p}.checksum", "valid" if hdr_ok else "bad")
        self.add(f"{p}.src", _ip(src))
        self.add(f"{p}.dst", _ip(dst))
        if ihl > 20:
            self.add(f"{p}.options", buf[off + 20:off + ihl].hex())
        pend = min(end, off + tot)
        complete = off + tot <= end
        if quoted:
            self.add(f"{p}.quoted_bytes", pend - off)
        base = p[:-2] if p.endswith("ip") else p + "."
        l4 = off + ihl
        if (frag & 0x1FFF) == 0 and l4 <= pend:
            flow = (src, dst, proto)
            if proto == 1:
                self.icmp(buf, l4, pend, f"{base}icmp", complete)
            elif proto == 17:
                self.udp(buf, l4, pend, f"{base}udp", src, dst, complete, quoted, ident)
            elif proto == 6:
                self.tcp(buf, l4, pend, f"{base}tcp", src, dst, complete, quoted)
            else:
                self.add(f"{base}ip.payload", buf[l4:pend].hex())
            if proto in (6, 17) and pend - l4 >= 4 and not quoted:
                sport, dport = struct.unpack_from("!HH", buf, l4)
                # a counter only where the kernel keeps one: TCP, and UDP from a client's
                # (connected) socket; a server's sendto(), flanneld's socket and VXLAN take
                # hashed IDs, +1 only by chance (see the module's table)
                if proto == 6 or (sport in EPHEMERAL and dport not in TUNNEL_PORTS):
                    self.add(f"{p}.id.step", self.norm.id_step(flow + (sport, dport), ident))
        return tot if complete else end - off

    # -- ICMP ---------------------------------------------------------------------
    def icmp(self, buf: bytes, off: int, end: int, p: str, complete: bool) -> None:
        if end - off < 8:
            self.add(f"{p}.truncated", buf[off:end].hex())
            return
        t, code = buf[off], buf[off + 1]
        self.add(f"{p}.type", t)
        self.add(f"{p}.code", code)
        if complete:
            self.add(f"{p}.checksum", "valid" if _csum(buf[off:end]) == 0xFFFF else "bad")
        else:
            self.add(f"{p}.checksum", "unverifiable (quote cut short)")
        if t in (0, 8):
            ident, seq = struct.unpack_from("!HH", buf, off + 4)
            self.add(f"{p}.ident", self.norm.label("icmp.ident", ident, "ping"))
            self.add(f"{p}.seq", seq)
            data = buf[off + 8:end]
            self.add(f"{p}.data_len", len(data))
            if len(data) >= 16:
                self.add(f"{p}.timestamp", "(timeval, not compared)")
                data = data[16:]
            self.add(f"{p}.data", data.hex())
        elif t in (3, 4, 5, 11, 12):
            self.add(f"{p}.rest", buf[off + 4:off + 8].hex())
            if end - off > 8:
                self.ipv4(buf, off + 8, end, f"{p}.quote.ip", quoted=True)
        else:
            self.add(f"{p}.rest", buf[off + 4:end].hex())

    # -- UDP / VXLAN ----------------------------------------------------------------
    def udp(self, buf, off, end, p, src, dst, complete, quoted, ident=None) -> None:
        if end - off < 8:
            self.add(f"{p}.truncated", buf[off:end].hex())
            return
        sport, dport, ulen, ck = struct.unpack_from("!HHHH", buf, off)
        if not quoted and dport in VXLAN_PORTS and end - off >= 16:
            self.add(f"{p}.sport", self.norm.vxlan_port(src, _inner_flow(buf, off + 16, end), sport))
        else:
            self.add(f"{p}.sport", self.norm.port(sport))
        self.add(f"{p}.dport", self.norm.port(dport))
        self.add(f"{p}.len", ulen)
        if ck == 0:
            state = "zero"
        elif not complete or off + ulen > end:
            state = "unverifiable (quote cut short)"
        else:
            state = _l4_state(src, dst, 17, buf[off:off + ulen], ck)
        self.add(f"{p}.checksum", state)
        data_end = min(end, off + ulen)
        if not quoted and dport in VXLAN_PORTS and data_end - off >= 16:
            v = off + 8
            self.add("vxlan.flags", f"0x{buf[v]:02x}")
            self.add("vxlan.reserved", buf[v + 1:v + 4].hex() + "/" + buf[v + 7:v + 8].hex())
            self.add("vxlan.vni", int.from_bytes(buf[v + 4:v + 7], "big"))
            self.ether(buf, v + 8, data_end, "inner.")
            if buf[v + 20:v + 22] == b"\x08\x00" and data_end - v >= 42:
                self._outer_id_relation(ident, buf, v + 22)
        elif not quoted and dport in IP_IN_UDP_PORTS and data_end - off >= 28:
            # flannel's udp backend: the bare inner IP packet is the payload
            used = self.ipv4(buf, off + 8, data_end, "inner.ip", quoted=False)
            if off + 8 + used < data_end:
                self.add("inner.trailer", buf[off + 8 + used:data_end].hex())
            self._outer_id_relation(ident, buf, off + 8)
        else:
            self.add(f"{p}.payload", buf[off + 8:data_end].hex())

    def _outer_id_relation(self, outer_id, buf, inner_ip: int) -> None:
        """Whether a tunnel's outer IP ID copies the inner packet's (the kernel draws a new
        one; IDs are labelled per source/destination/protocol, so this relation between
        two different headers is named here)."""
        if outer_id is not None and outer_id != 0:
            inner_id = struct.unpack_from("!H", buf, inner_ip + 4)[0]
            self.add("ip.id.copies_inner", outer_id == inner_id)

    # -- TCP ------------------------------------------------------------------------
    def tcp(self, buf, off, end, p, src, dst, complete, quoted) -> None:
        if end - off < 20:
            self.add(f"{p}.truncated", buf[off:end].hex())
            return
        sport, dport, seq, ack, doff_flags, win, ck, urg = struct.unpack_from("!HHIIHHHH", buf, off)
        doff = (doff_flags >> 12) * 4
        flags = doff_flags & 0x0FFF
        names = "FIN SYN RST PSH ACK URG ECE CWR AE".split()
        fl = ",".join(n for i, n in enumerate(names) if flags >> i & 1)
        me, peer = (src, sport), (dst, dport)
        if flags & 0x02 and me not in self.norm.isn and not quoted:
            self.norm.isn[me] = seq
        self.add(f"{p}.sport", self.norm.port(sport))
        self.add(f"{p}.dport", self.norm.port(dport))
        isn = self.norm.isn.get(me)
        self.add(f"{p}.seq", f"ISN+{(seq - isn) & 0xFFFFFFFF}" if isn is not None else seq)
        pisn = self.norm.isn.get(peer)
        if flags & 0x10:
            self.add(f"{p}.ack", f"peer ISN+{(ack - pisn) & 0xFFFFFFFF}" if pisn is not None else ack)
        else:
            self.add(f"{p}.ack", ack)   # must be 0 without ACK (a SYN's, a bare RST's)
        self.add(f"{p}.doff", doff)
        self.add(f"{p}.flags", fl)
        self.add(f"{p}.window", win)
        if complete:
            state = _l4_state(src, dst, 6, buf[off:end], ck)
        else:
            state = "unverifiable (quote cut short)"
        self.add(f"{p}.checksum", state)
        self.add(f"{p}.urgptr", urg)
        opts = []
        i, oend = off + 20, min(end, off + doff)
        while i < oend:
            kind = buf[i]
            if kind == 0:
                opts.append("EOL")
                i += 1
                continue
            if kind == 1:
                opts.append("NOP")
                i += 1
                continue
            ln = buf[i + 1] if i + 1 < oend else 0
            body = buf[i + 2:i + ln]
            if kind == 2 and ln == 4:
                opts.append(f"MSS={struct.unpack('!H', body)[0]}")
            elif kind == 3 and ln == 3:
                opts.append(f"WS={body[0]}")
            elif kind == 4 and ln == 2:
                opts.append("SACK_PERM")
            elif kind == 8 and ln == 10:
                tsval, tsecr = struct.unpack("!II", body)
                opts.append("TS")
                if not quoted:
                    self.norm.tsvals.setdefault(me, set()).add(tsval)
                    if tsecr == 0:
                        ecr = "0"
                    elif tsecr in self.norm.tsvals.get(peer, ()):
                        ecr = "echoes a peer TSval"
                    else:
                        ecr = "not a TSval the peer sent"
                    self.add(f"{p}.ts.ecr", ecr)
            else:
                opts.append(f"kind{kind}:{body.hex()}")
            i += max(ln, 2)
        self.add(f"{p}.options", " ".join(opts))
        payload = buf[off + doff:end]
        self.add(f"{p}.len", len(payload))
        self.add(f"{p}.payload", payload.hex())


def dissect(data: bytes, norm: Normaliser = None, linktype: int = LINKTYPE_ETHERNET) -> list:
    """The frame's named fields, in order, normalised (see the module's table)."""
    d = Dissector(norm or Normaliser())
    d.add("frame.len", len(data))
    if linktype == LINKTYPE_RAW:
        d.ipv4(data, 0, len(data), "ip", quoted=False)
    else:
        d.ether(data, 0, len(data))
    return d.out


def summary(data: bytes, linktype: int = LINKTYPE_ETHERNET) -> str:
    """One line per frame, for messages (tcpdump-like)."""
    f = dict(dissect(data, Normaliser(raw=True), linktype))
    n = len(data)
    tag = f"vlan {f['vlan.id']} " if "vlan.id" in f else ""
    if "arp.op" in f:
        op = {1: "request", 2: "reply"}.get(f["arp.op"], f["arp.op"])
        return (f"{tag}ARP {op} {f['arp.spa']}({f['arp.sha']}) → {f['arp.tpa']}({f['arp.tha']}) "
                f"[{f['eth.src']} → {f['eth.dst']}], {n} bytes")
    if "ip.src" not in f:
        return f"{tag}ethertype {f.get('vlan.etype', f.get('eth.type'))}, {n} bytes"
    s = f"{tag}IP {f['ip.src']} → {f['ip.dst']}"
    if "inner.ip.src" in f and "vxlan.vni" not in f:
        s += f" UDP {f['udp.sport']} → {f['udp.dport']}: inner {f['inner.ip.src']} → {f['inner.ip.dst']}"
        if "inner.icmp.type" in f:
            s += f" ICMP type {f['inner.icmp.type']} code {f['inner.icmp.code']}"
        elif "inner.udp.dport" in f:
            s += f" UDP {f['inner.udp.sport']} → {f['inner.udp.dport']}"
    elif "vxlan.vni" in f:
        s += f" VXLAN vni {f['vxlan.vni']}: inner"
        pre = "inner."
        s += f" {f.get(pre + 'ip.src', f.get(pre + 'eth.type'))} → {f.get(pre + 'ip.dst', '')}"
        if pre + "icmp.type" in f:
            s += f" ICMP type {f[pre + 'icmp.type']}"
    elif "icmp.type" in f:
        s += f" ICMP type {f['icmp.type']} code {f['icmp.code']}"
        if "icmp.seq" in f:
            s += f" seq {f['icmp.seq']}"
    elif "udp.sport" in f:
        s += f" UDP {f['udp.sport']} → {f['udp.dport']} len {f['udp.len']}"
    elif "tcp.flags" in f:
        s += f" TCP {f['tcp.sport']} → {f['tcp.dport']} [{f['tcp.flags']}] len {f['tcp.len']}"
    return f"{s}, {n} bytes"


class Report:
    """The outcome of a comparison: differences, by interface, frame and field."""

    def __init__(self, name: str):
        self.name = name
        self.diffs = []
        self.fields = set()
        self.frames = 0
        self.tables = {}

    def __bool__(self) -> bool:
        return not self.diffs

    def text(self) -> str:
        head = (f"{self.name}: {len(self.diffs)} difference(s) between the kernel's capture "
                f"and emunet's\n")
        bad = [t for iface, t in self.tables.items() if any(d.startswith(iface) for d in self.diffs)]
        return (head + "\n".join(f"  - {d}" for d in self.diffs) + "\nthe captures side by side "
                "(raw values):\n" + "\n".join(bad or self.tables.values()))


def _signature(data: bytes, linktype: int) -> str:
    """What a frame is, for aligning the two sequences (not all fields: those come after)."""
    f = dict(dissect(data, Normaliser(), linktype))
    keys = ("eth.type", "vlan.id", "arp.op", "arp.spa", "arp.tpa", "ip.src", "ip.dst", "ip.proto",
            "icmp.type", "icmp.code", "udp.dport", "tcp.flags", "tcp.len", "inner.ip.src",
            "inner.ip.dst", "inner.icmp.type", "inner.arp.op")
    return "|".join(str(f.get(k, "")) for k in keys)


def compare(name: str, kernel: dict, emunet: dict, linktypes: dict = None,
            compare_direction: bool = True) -> Report:
    """Compare two captures, interface by interface.

    ``kernel`` and ``emunet`` map an interface label (``"c1/eth0"``) to a list of
    ``(time_ns, bytes, direction)`` in capture order.  Returns a :class:`Report`."""
    rep = Report(name)
    linktypes = linktypes or {}
    for iface in sorted(set(kernel) | set(emunet)):
        lt = linktypes.get(iface, LINKTYPE_ETHERNET)
        ks, es = kernel.get(iface, []), emunet.get(iface, [])
        kn, en = Normaliser(), Normaliser()
        kd = [dissect(f[1], kn, lt) for f in ks]
        ed = [dissect(f[1], en, lt) for f in es]
        rep.frames += max(len(ks), len(es))
        table = [f"  {iface}: kernel {len(ks)} frame(s), emunet {len(es)}"]
        for i in range(max(len(ks), len(es))):
            k = f"{ks[i][2]:>3} {summary(ks[i][1], lt)}" if i < len(ks) else ""
            e = f"{es[i][2]:>3} {summary(es[i][1], lt)}" if i < len(es) else ""
            table.append(f"    #{i + 1:<2} kernel: {k}\n        emunet: {e}")
        rep.tables[iface] = "\n".join(table)
        sm = difflib.SequenceMatcher(a=[_signature(f[1], lt) for f in ks],
                                     b=[_signature(f[1], lt) for f in es], autojunk=False)
        for op, a0, a1, b0, b1 in sm.get_opcodes():
            if op == "equal":
                pairs = list(zip(range(a0, a1), range(b0, b1)))
            elif op == "replace" and a1 - a0 == b1 - b0:
                pairs = list(zip(range(a0, a1), range(b0, b1)))
            else:
                for i in range(a0, a1):
                    rep.diffs.append(f"{iface}: kernel frame #{i + 1} has no counterpart in emunet "
                                     f"at this place: {summary(ks[i][1], lt)}")
                for j in range(b0, b1):
                    rep.diffs.append(f"{iface}: emunet frame #{j + 1} has no counterpart in the "
                                     f"kernel at this place: {summary(es[j][1], lt)}")
                continue
            for i, j in pairs:
                _compare_frame(rep, iface, i, j, kd[i], ed[j], ks[i], es[j], lt, compare_direction)
    return rep


def _compare_frame(rep, iface, i, j, kf, ef, kraw, eraw, lt, compare_direction) -> None:
    kmap, emap = dict(kf), dict(ef)
    if compare_direction:
        kmap["frame.direction"], emap["frame.direction"] = kraw[2], eraw[2]
    rep.fields.update(kmap)
    rep.fields.update(emap)
    where = f"{iface} frame #{i + 1}" + (f" (emunet #{j + 1})" if i != j else "")
    names = [n for n, _ in kf] + [n for n in emap if n not in kmap]
    if "frame.direction" in kmap and "frame.direction" not in names:
        names.insert(0, "frame.direction")
    bad = []
    for n in names:
        kv, ev = kmap.get(n, "(absent)"), emap.get(n, "(absent)")
        if kv == PARTIAL and ev == "valid" and iface.endswith("/lo"):
            continue   # lo's checksum offload is fixed on: the kernel never fills it in there
        if kv != ev:
            bad.append(f"{n}: kernel {kv!s}, emunet {ev!s}")
    if bad:
        rep.diffs.append(f"{where} [{summary(kraw[1], lt)}]: " + "; ".join(bad))


def kernel_hz():
    """``CONFIG_HZ`` of the running kernel (from /proc/config.gz), or None if unknown."""
    import gzip
    try:
        with gzip.open("/proc/config.gz", "rt") as f:
            for line in f:
                if line.startswith("CONFIG_HZ="):
                    return int(line.split("=")[1])
    except OSError:
        pass
    return None


def timer_slack_ns(delay_ns: int, hz: int = None) -> int:
    """How late the kernel may fire a timer armed ``delay_ns`` ahead (a neighbour's
    retransmit or DELAY timer): the timer wheel (``kernel/time/timer.c``, LVL_CLK_SHIFT 3,
    LVL_BITS 6) files it in the level whose range holds it and rounds the expiry up to that
    level's granularity, 8**level jiffies, plus a jiffy.  With HZ=250 a 5 s timer sits in
    level 2: up to 256 ms late (seen: 5.250 s).  Without HZ, the bound for any HZ: an
    eighth of the delay."""
    if hz is None:
        return delay_ns // 8
    jiffies = delay_ns * hz // 1_000_000_000
    level = 0
    while level < 8 and jiffies >= 63 << (3 * level):
        level += 1
    return ((1 << (3 * level)) + 1) * 1_000_000_000 // hz


def compare_timing(rep: Report, kernel: dict, emunet: dict, tolerance_ns: int,
                   ifaces=None, select=None, hz=None) -> Report:
    """Add to ``rep`` every frame whose time since the first frame of its capture (over all
    interfaces) differs by more than ``tolerance_ns`` between the two sides, or, when the
    kernel is the later one, by more than ``tolerance_ns`` plus the timer wheel's rounding
    of a timer that long (:func:`timer_slack_ns`: the kernel fires timers late, never
    early).  Frames are paired by position per interface (the field comparison reports
    missing ones); ``select(bytes)`` limits the check to the frames whose time the kernel
    decides (its timers), not the test's traffic steps, which a loaded machine may start
    late."""
    hz = hz if hz is not None else kernel_hz()

    def t0(cap):
        times = [f[0] for frames in cap.values() for f in frames]
        return min(times) if times else 0
    k0, e0 = t0(kernel), t0(emunet)
    for iface in ifaces or sorted(set(kernel) & set(emunet)):
        for i, (kf, ef) in enumerate(zip(kernel.get(iface, []), emunet.get(iface, []))):
            if select is not None and not select(kf[1]):
                continue
            dk, de = kf[0] - k0, ef[0] - e0
            late = tolerance_ns + timer_slack_ns(de, hz)
            if dk - de > late or de - dk > tolerance_ns:
                rep.diffs.append(f"{iface} frame #{i + 1} [{summary(kf[1])}]: time since the first "
                                 f"frame: kernel {dk / 1e9:.3f} s, emunet {de / 1e9:.3f} s "
                                 f"(tolerance {tolerance_ns / 1e9:.3f} s, "
                                 f"{late / 1e9:.3f} s for a late kernel timer)")
    return rep


# -- conntrack -L ---------------------------------------------------------------------------
def conntrack_entries(text: str) -> list:
    """The entries of a ``conntrack -L`` listing (conntrack-tools 1.4.7's format:
    ``PROTO PROTONUM TIMEOUT [STATE] ORIGINAL-TUPLE [UNREPLIED] REPLY-TUPLE [ASSURED]
    mark=N use=N``), sorted, each as ``(entry, timeout)``: ``entry`` is the line without
    its timeout and with each ICMP ``id=`` value replaced by ``#k``, the k-th distinct
    value of that line (ping picks the id at random; the reply tuple must repeat the
    original's, or carry the NAT's new one).  The summary line (``conntrack v1.4.7
    (conntrack-tools): N flow entries have been shown.``, on stderr) is not an entry."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 4 or line.startswith("conntrack v"):
            continue
        ids = []
        words = []
        for w in parts[:2] + parts[3:]:
            if w.startswith("id="):
                v = w[3:]
                if v not in ids:
                    ids.append(v)
                w = f"id=#{ids.index(v)}"
            words.append(w)
        out.append((" ".join(words), int(parts[2])))
    return sorted(out)


def compare_conntrack(rep: Report, kernel: dict, emunet: dict, tolerance_s: int = 2) -> Report:
    """Add to ``rep`` how the ``conntrack -L`` listings of each namespace differ
    (``kernel`` and ``emunet``: namespace -> the listing's text, both taken at the same
    time since the traffic began).  The kernel lists entries in the order of its hash
    table, keyed at random per boot, so both sides are sorted; timeouts (seconds left)
    may differ by ``tolerance_s``, for the time the test's own steps take on the kernel
    side."""
    for ns in sorted(set(kernel) | set(emunet)):
        ks, es = conntrack_entries(kernel.get(ns, "")), conntrack_entries(emunet.get(ns, ""))
        rep.fields.update(("conntrack.entry", "conntrack.timeout") if ks or es else ())
        kmap, emap = dict(ks), dict(es)
        for entry in sorted(set(kmap) | set(emap)):
            if entry not in emap:
                rep.diffs.append(f"conntrack {ns}: the kernel's entry is not in emunet's: {entry}")
            elif entry not in kmap:
                rep.diffs.append(f"conntrack {ns}: emunet's entry is not in the kernel's: {entry}")
            elif abs(kmap[entry] - emap[entry]) > tolerance_s:
                rep.diffs.append(f"conntrack {ns}: {entry}: timeout kernel {kmap[entry]} s, "
                                 f"emunet {emap[entry]} s")
        if len(ks) != len(kmap) or len(es) != len(emap):
            rep.diffs.append(f"conntrack {ns}: two entries alike (kernel {len(ks)}, emunet {len(es)})")
    return rep
