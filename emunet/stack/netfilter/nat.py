"""NAT (``net/netfilter/nf_nat_core.c``, ``nf_nat_proto.c``, ``nf_nat_masquerade.c``).

A NAT target (DNAT, SNAT, MASQUERADE) binds a *new* connection once, at the first packet
the nat table sees (:func:`nf_nat_setup_info`); every later packet of the connection, both
ways, gets the binding applied without the table being asked again (:func:`nf_nat_packet`).
"""
import attrs

from emunet.stack.netfilter.conntrack import (IP_CT_DIR_ORIGINAL, IP_CT_DIR_REPLY, IP_CT_IS_REPLY,
                                              IPS_DST_NAT, IPS_DST_NAT_DONE, IPS_NAT_MASK, IPS_SRC_NAT,
                                              IPS_SRC_NAT_DONE, invert_tuple)
from emunet.stack.netfilter.hooks import (NF_ACCEPT, NF_DROP, NF_NAT_MANIP_DST, NF_NAT_MANIP_SRC,
                                          hook_maniptype)
from emunet.wire.checksum import internet_checksum
from emunet.wire.ipv4 import int_to_ip
from emunet.wire.jhash import jhash2

#: ``nf_nat_range2.flags``
NF_NAT_RANGE_MAP_IPS = 1
NF_NAT_RANGE_PROTO_SPECIFIED = 2
NF_NAT_RANGE_PROTO_RANDOM = 4
NF_NAT_RANGE_PERSISTENT = 8
NF_NAT_RANGE_PROTO_RANDOM_FULLY = 16


@attrs.frozen
class NatRange:
    """``struct nf_nat_range2``: the addresses (integers, inclusive) and ports a NAT
    target maps to; ``min_ip`` None keeps the address (``--to-ports`` alone, or
    MASQUERADE, which takes the outgoing device's address), ``min_port`` None keeps the
    port (unless it clashes with another connection's)."""

    min_ip: int = None
    max_ip: int = None
    min_port: int = None
    max_port: int = None
    flags: int = 0


NF_NAT_RANGE_PROTO_RANDOM_ALL = NF_NAT_RANGE_PROTO_RANDOM | NF_NAT_RANGE_PROTO_RANDOM_FULLY
NF_NAT_MAX_ATTEMPTS = 128


# -- the checksum arithmetic of include/net/checksum.h, on big-endian integers ------------
def _csum_add32(a: int, b: int) -> int:
    s = a + b
    return (s & 0xFFFFFFFF) + (s >> 32)


def _csum_fold(s: int) -> int:
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def csum_replace4(check: int, old: int, new: int) -> int:
    """``csum_replace4``: a checksum field after a 32-bit word changed from ``old`` to ``new``."""
    return _csum_fold(_csum_add32(_csum_add32(~check & 0xFFFFFFFF, ~old & 0xFFFFFFFF), new))


def csum_replace2(check: int, old: int, new: int) -> int:
    """``inet_proto_csum_replace2`` (a 16-bit word, as the 32-bit replace does it)."""
    return csum_replace4(check, old, new)


def _get16(b, off: int) -> int:
    return (b[off] << 8) | b[off + 1]


def _put16(b, off: int, v: int) -> None:
    b[off] = v >> 8
    b[off + 1] = v & 0xFF


def _get32(b, off: int) -> int:
    return int.from_bytes(b[off:off + 4], "big")


def nf_nat_ipv4_manip_pkt(b: bytearray, iphdroff: int, target, maniptype: int) -> None:
    """``nf_nat_ipv4_manip_pkt``: rewrite the source (``maniptype`` SRC) or destination of
    the IPv4 packet at ``b[iphdroff:]`` to ``target``'s, transport part first
    (``l4proto_manip_pkt``), every checksum updated incrementally as the kernel does it
    (the packet may be the quote inside an ICMP error, cut short)."""
    ihl = (b[iphdroff] & 0x0F) * 4
    hdroff = iphdroff + ihl
    proto = target[2]
    src = maniptype == NF_NAT_MANIP_SRC
    oldip = _get32(b, iphdroff + (12 if src else 16))
    newip = target[0] if src else target[1]
    if proto in (6, 17):
        port_off = hdroff + (0 if src else 2)
        newport = target[3] if src else target[4]
        oldport = _get16(b, port_off)
        if proto == 6:
            # "this could be an inner header returned in icmp packet; in such cases we
            # cannot update the checksum field since it is outside of the 8 bytes of
            # transport layer headers we are guaranteed"
            if len(b) >= hdroff + 20:
                ck = _get16(b, hdroff + 16)
                ck = csum_replace4(ck, oldip, newip)
                _put16(b, hdroff + 16, csum_replace2(ck, oldport, newport))
        else:
            ck = _get16(b, hdroff + 6)
            if ck:
                ck = csum_replace4(ck, oldip, newip)
                ck = csum_replace2(ck, oldport, newport)
                _put16(b, hdroff + 6, ck or 0xFFFF)   # CSUM_MANGLED_0
        _put16(b, port_off, newport)
    elif proto == 1:
        # icmp_manip_pkt: queries carry the identifier; errors are left alone
        if b[hdroff] in (0, 8, 13, 14, 15, 16, 17, 18):
            oldid = _get16(b, hdroff + 4)
            _put16(b, hdroff + 2, csum_replace2(_get16(b, hdroff + 2), oldid, target[3]))
            _put16(b, hdroff + 4, target[3])
    _put16(b, iphdroff + 10, csum_replace4(_get16(b, iphdroff + 10), oldip, newip))
    b[iphdroff + (12 if src else 16):iphdroff + (16 if src else 20)] = newip.to_bytes(4, "big")


# -- choosing the new tuple (nf_nat_core.c) --------------------------------------------------
def _le32(ip: int) -> int:
    """An address as an x86 kernel loads ``__be32`` into a u32."""
    return int.from_bytes(ip.to_bytes(4, "big"), "little")


def _in_range(t, rng: NatRange, maniptype: int) -> bool:
    """``nf_in_range``: the tuple's address and port already lie in the range."""
    src = maniptype == NF_NAT_MANIP_SRC
    ip = t[0] if src else t[1]
    if rng.flags & NF_NAT_RANGE_MAP_IPS and not rng.min_ip <= ip <= rng.max_ip:
        return False
    if not rng.flags & NF_NAT_RANGE_PROTO_SPECIFIED:
        return True
    return _l4_in_range(t, maniptype, rng)


def _l4_in_range(t, maniptype: int, rng: NatRange) -> bool:
    key = t[3] if (maniptype == NF_NAT_MANIP_SRC or t[2] == 1) else t[4]
    return rng.min_port <= key <= rng.max_port


def _set_ip(t, maniptype: int, ip: int):
    return (ip, t[1], *t[2:]) if maniptype == NF_NAT_MANIP_SRC else (t[0], ip, *t[2:])


def _set_key(t, maniptype: int, key: int):
    if maniptype == NF_NAT_MANIP_SRC or t[2] == 1:
        return (t[0], t[1], t[2], key, t[4])
    return (t[0], t[1], t[2], t[3], key)


def _used(table, t, ct) -> bool:
    """``nf_nat_used_tuple``: another connection already replies to this tuple."""
    reply = invert_tuple(t)
    return reply is not None and table.tuple_taken(reply, ct)


def _find_best_ips(t, rng: NatRange, maniptype: int):
    """``find_best_ips_proto``: the one address of the range, or a hash of the source
    (and, unless ``--persistent``, destination) spread over it."""
    if not rng.flags & NF_NAT_RANGE_MAP_IPS:
        return t
    if rng.min_ip == rng.max_ip:
        return _set_ip(t, maniptype, rng.min_ip)
    initval = 0 if rng.flags & NF_NAT_RANGE_PERSISTENT else _le32(t[1])
    j = jhash2((_le32(t[0]),), initval)
    dist = rng.max_ip - rng.min_ip + 1
    return _set_ip(t, maniptype, rng.min_ip + ((j * dist) >> 32))


def _find_appropriate_src(table, t, rng: NatRange):
    """``find_appropriate_src``: the mapping an existing connection from the same source
    (address, protocol, port) got, if it lies in the range."""
    for other in table.conns:
        o = other.tuplehash[0]
        if other.status & IPS_SRC_NAT and o[0] == t[0] and o[2] == t[2] and o[3] == t[3]:
            r = other.tuplehash[1]
            mapped = (r[1], t[1], t[2], r[4], t[4]) if t[2] != 1 else (r[1], t[1], 1, r[3], t[4])
            if _in_range(mapped, rng, NF_NAT_MANIP_SRC):
                return mapped
    return None


def _l4proto_unique_tuple(table, t, rng: NatRange, maniptype: int, ct, rand):
    """``nf_nat_l4proto_unique_tuple``: the first free port (or ICMP identifier) of the
    range, from an offset that is random for a source NAT (``get_random_u16``, here from the
    seeded RNG) and 0 for a destination NAT."""
    proto = t[2]
    if proto not in (1, 6, 17):
        return t
    if proto == 1:
        key = t[3]
        if rng.flags & NF_NAT_RANGE_PROTO_SPECIFIED:
            lo, size = rng.min_port, rng.max_port - rng.min_port + 1
        else:
            lo, size = 0, 65536
    else:
        key = t[3] if maniptype == NF_NAT_MANIP_SRC else t[4]
        if not rng.flags & NF_NAT_RANGE_PROTO_SPECIFIED:
            if maniptype == NF_NAT_MANIP_DST:
                return t   # "if it's dst rewrite, can't change port"
            if key < 1024:
                lo, size = (1, 511) if key < 512 else (600, 424)
            else:
                lo, size = 1024, 64512
        else:
            lo, hi = sorted((rng.min_port, rng.max_port))
            size = hi - lo + 1
    if rng.flags & NF_NAT_RANGE_PROTO_RANDOM_ALL or maniptype != NF_NAT_MANIP_DST:
        off = rand(16)
    else:
        off = 0
    attempts = min(size, NF_NAT_MAX_ATTEMPTS)
    cand = t
    while True:
        for _ in range(attempts):
            cand = _set_key(t, maniptype, lo + off % size)
            if not _used(table, cand, ct):
                return cand
            off += 1
        if attempts < 16:
            return cand
        attempts //= 2
        off = rand(16)


def get_unique_tuple(table, orig, rng: NatRange, maniptype: int, ct, rand):
    """``get_unique_tuple``: the tuple a connection's packets will carry after this NAT."""
    if maniptype == NF_NAT_MANIP_SRC and not rng.flags & NF_NAT_RANGE_PROTO_RANDOM_ALL:
        # 1) the original tuple, or the mapping this source already has, if free
        if _in_range(orig, rng, maniptype):
            if not _used(table, orig, ct):
                return orig
        else:
            mapped = _find_appropriate_src(table, orig, rng)
            if mapped is not None and not _used(table, mapped, ct):
                return mapped
    # 2) the address
    t = _find_best_ips(orig, rng, maniptype)
    # 3) the port, only if not already in range and unique
    if not rng.flags & NF_NAT_RANGE_PROTO_RANDOM_ALL:
        if rng.flags & NF_NAT_RANGE_PROTO_SPECIFIED:
            if _l4_in_range(t, maniptype, rng) and (
                    rng.min_port == rng.max_port or not _used(table, t, ct)):
                return t
        elif not _used(table, t, ct):
            return t
    return _l4proto_unique_tuple(table, t, rng, maniptype, ct, rand)


# -- binding and applying --------------------------------------------------------------------
def nf_nat_initialized(ct, maniptype: int) -> bool:
    return bool(ct.status & (IPS_SRC_NAT_DONE if maniptype == NF_NAT_MANIP_SRC else IPS_DST_NAT_DONE))


def nf_nat_setup_info(pkt, rng: NatRange, maniptype: int) -> int:
    """``nf_nat_setup_info``: bind the packet's new connection to this NAT once: the tuple
    its packets will carry is chosen, and the connection's reply tuple becomes that
    tuple's inverse, so replies are recognised and translated back."""
    ct = pkt.ct
    if ct is None or nf_nat_initialized(ct, maniptype):
        return NF_ACCEPT
    table = pkt.ns.netfilter.conntrack
    curr = invert_tuple(ct.tuplehash[IP_CT_DIR_REPLY])
    new = get_unique_tuple(table, curr, rng, maniptype, ct, pkt.sim.rng.getrandbits)
    if new != curr:
        ct.tuplehash[IP_CT_DIR_REPLY] = invert_tuple(new)
        ct.status |= IPS_SRC_NAT if maniptype == NF_NAT_MANIP_SRC else IPS_DST_NAT
    ct.status |= IPS_SRC_NAT_DONE if maniptype == NF_NAT_MANIP_SRC else IPS_DST_NAT_DONE
    return NF_ACCEPT


def nf_nat_alloc_null_binding(pkt, hook: int) -> int:
    """``nf_nat_alloc_null_binding``: no rule NATed the new connection at this hook; bind it
    to its own address (its port may still move if another connection holds the tuple)."""
    ct = pkt.ct
    maniptype = hook_maniptype(hook)
    reply = ct.tuplehash[IP_CT_DIR_REPLY]
    ip = reply[1] if maniptype == NF_NAT_MANIP_SRC else reply[0]
    return nf_nat_setup_info(pkt, NatRange(ip, ip, flags=NF_NAT_RANGE_MAP_IPS), maniptype)


def nf_nat_masquerade(pkt, rng: NatRange) -> int:
    """``nf_nat_masquerade_ipv4``: SNAT to the address the outgoing device would choose for
    the next hop (``inet_select_addr``); a device without one drops the packet ("ate my IP
    address")."""
    ct = pkt.ct
    if ct is None or ct.tuplehash[IP_CT_DIR_ORIGINAL][0] == 0:
        return NF_ACCEPT
    out = pkt.outdev
    nh = pkt.nexthop or pkt.daddr
    newsrc = pkt.ns.select_source(out, nh)
    if newsrc == b"\0\0\0\0":
        pkt.why = f"MASQUERADE: {out.name} ate my IP address"
        return NF_DROP
    ip = int.from_bytes(newsrc, "big")
    return nf_nat_setup_info(pkt, NatRange(ip, ip, rng.min_port, rng.max_port,
                                           rng.flags | NF_NAT_RANGE_MAP_IPS), NF_NAT_MANIP_SRC)


def nf_nat_manip(pkt, target, maniptype: int) -> None:
    """Rewrite ``pkt``'s packet toward ``target`` and read it again."""
    b = bytearray(pkt.data)
    nf_nat_ipv4_manip_pkt(b, 0, target, maniptype)
    pkt.data = bytes(b)
    pkt.reparse()


def nf_nat_packet(pkt, hook: int) -> int:
    """``nf_nat_packet``: apply the connection's binding for this hook's kind of NAT, in the
    packet's direction (a reply gets the other kind undone)."""
    ct = pkt.ct
    maniptype = hook_maniptype(hook)
    direction = pkt.ctinfo // IP_CT_IS_REPLY if pkt.ctinfo is not None else 0
    statusbit = IPS_SRC_NAT if maniptype == NF_NAT_MANIP_SRC else IPS_DST_NAT
    if direction == IP_CT_DIR_REPLY:
        statusbit ^= IPS_NAT_MASK
    if ct.status & statusbit:
        target = invert_tuple(ct.tuplehash[1 - direction])
        before = _endpoint(pkt, maniptype)
        nf_nat_manip(pkt, target, maniptype)
        pkt.note(f"{'SNAT' if maniptype == NF_NAT_MANIP_SRC else 'DNAT'} {before} → "
                 f"{_endpoint(pkt, maniptype)} (conntrack)")
    return NF_ACCEPT


def _endpoint(pkt, maniptype: int) -> str:
    """The address (and port) a NAT of this kind rewrites, as the notes say it."""
    src = maniptype == NF_NAT_MANIP_SRC
    ip = int_to_ip(pkt.saddr if src else pkt.daddr)
    port = pkt.sport if src else pkt.dport
    return f"{ip}:{port}" if port is not None else ip


def nf_nat_icmp_reply_translation(pkt, hook: int) -> int:
    """``nf_nat_icmp_reply_translation``: an ICMP error about a NATed connection gets the
    packet it quotes translated back (the quote's own checksums updated, the ICMP checksum
    computed again) and its outer header made to look like a reply to that packet."""
    ct = pkt.ct
    maniptype = hook_maniptype(hook)
    direction = pkt.ctinfo // IP_CT_IS_REPLY
    statusbit = IPS_SRC_NAT if maniptype == NF_NAT_MANIP_SRC else IPS_DST_NAT
    if direction == IP_CT_DIR_REPLY:
        statusbit ^= IPS_NAT_MASK
    if not ct.status & statusbit:
        return NF_ACCEPT
    b = bytearray(pkt.data)
    hdrlen = pkt.ihl
    other = ct.tuplehash[1 - direction]
    nf_nat_ipv4_manip_pkt(b, hdrlen + 8, other, 1 - maniptype)
    b[hdrlen + 2:hdrlen + 4] = b"\0\0"
    _put16(b, hdrlen + 2, internet_checksum(bytes(b[hdrlen:])))
    target = invert_tuple(other)
    target = (target[0], target[1], 1, target[3], target[4])
    nf_nat_ipv4_manip_pkt(b, 0, target, maniptype)
    before = _endpoint(pkt, maniptype)
    pkt.data = bytes(b)
    pkt.reparse()
    pkt.note(f"ICMP error about a NATed connection: quote translated back, "
             f"{'source' if maniptype == NF_NAT_MANIP_SRC else 'destination'} {before} → "
             f"{_endpoint(pkt, maniptype)}")
    return NF_ACCEPT
