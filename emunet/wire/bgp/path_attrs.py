"""BGP path attributes (RFC 4271 section 4.3, communities RFC 1997, route reflection RFC 4456):
the type codes and flags, the :class:`PathAttributes` value, and their decoding with the
checks of BIRD 1.6's ``bgp_decode_attrs`` (``proto/bgp/attrs.c``), which decide between a
NOTIFICATION and RFC 7606's "treat as withdraw"."""
import socket
import struct

import attrs

from emunet.wire.bgp.notification import BgpError

# path attribute type codes
ORIGIN = 1
AS_PATH = 2
NEXT_HOP = 3
MULTI_EXIT_DISC = 4
LOCAL_PREF = 5
ATOMIC_AGGREGATE = 6
AGGREGATOR = 7
COMMUNITIES = 8
ORIGINATOR_ID = 9
CLUSTER_LIST = 10
MP_REACH_NLRI = 14
MP_UNREACH_NLRI = 15
AS4_PATH = 17
AS4_AGGREGATOR = 18

# path attribute flags
ATTR_OPTIONAL = 0x80
ATTR_TRANSITIVE = 0x40
ATTR_PARTIAL = 0x20
ATTR_EXTENDED = 0x10
#: the flags each known attribute must carry (the optional and transitive bits)
ATTR_FLAGS = {ORIGIN: 0x40, AS_PATH: 0x40, NEXT_HOP: 0x40, MULTI_EXIT_DISC: 0x80,
              LOCAL_PREF: 0x40, ATOMIC_AGGREGATE: 0x40, AGGREGATOR: 0xC0, COMMUNITIES: 0xC0,
              ORIGINATOR_ID: 0x80, CLUSTER_LIST: 0x80, MP_REACH_NLRI: 0x80,
              MP_UNREACH_NLRI: 0x80, AS4_PATH: 0xC0, AS4_AGGREGATOR: 0xC0}
#: fixed value lengths (BIRD's ``bgp_attr_table``); others are variable
ATTR_LENGTHS = {ORIGIN: 1, NEXT_HOP: 4, MULTI_EXIT_DISC: 4, LOCAL_PREF: 4,
                ATOMIC_AGGREGATE: 0, ORIGINATOR_ID: 4}

# ORIGIN values and AS_PATH segment types
ORIGIN_IGP = 0
ORIGIN_EGP = 1
ORIGIN_INCOMPLETE = 2
AS_SET = 1
AS_SEQUENCE = 2
AS_CONFED_SEQUENCE = 3
AS_CONFED_SET = 4

_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")


def _ip(b) -> str:
    return socket.inet_ntoa(bytes(b))


@attrs.frozen
class PathAttributes:
    """The path attributes of an UPDATE.  ``as_path`` is a tuple of segments
    ``(type, (asn, ...))``; ``cluster_list`` holds dotted-quad cluster ids; ``unknown`` the
    attributes we do not interpret, as ``(flags, code, value)``, in wire order."""

    origin: int = None
    as_path: tuple = None
    next_hop: str = None
    med: int = None
    local_pref: int = None
    atomic_aggregate: bool = False
    aggregator: tuple = None           # (asn, address)
    communities: tuple = None
    originator_id: str = None
    cluster_list: tuple = None
    unknown: tuple = ()

    @property
    def as_path_length(self) -> int:
        """RFC 4271 9.1.2.2 a): an AS_SET counts as one."""
        return sum(1 if t == AS_SET else len(v) for t, v in (self.as_path or ()))

    def path_asns(self) -> list:
        return [a for _, seg in (self.as_path or ()) for a in seg]


def _host_address(ip: int) -> bool:
    """``ipa_classify(addr) & IADDR_HOST``: not 0/8, not multicast or class E, not all ones."""
    return (ip >> 24) != 0 and (ip >> 28) < 0xE


def parse_attributes(b: bytes, i: int, end: int, as4: bool, mandatory: bool):
    """``bgp_decode_attrs``: returns ``(PathAttributes, withdraw_reason)``."""
    seen = set()
    f = {}
    unknown = []
    withdraw = None
    asw = 4 if as4 else 2
    while i < end:
        if end - i < 2:
            raise BgpError(3, 1, detail="truncated attribute header")
        start = i
        flags, code = b[i], b[i + 1]
        i += 2
        if flags & ATTR_EXTENDED:
            if end - i < 2:
                raise BgpError(3, 1, detail="truncated attribute length")
            alen = _U16.unpack_from(b, i)[0]
            i += 2
        else:
            if end - i < 1:
                raise BgpError(3, 1, detail="truncated attribute length")
            alen = b[i]
            i += 1
        if alen > end - i:
            raise BgpError(3, 1, detail=f"attribute {code} overruns the attribute list")
        v = b[i:i + alen]
        whole = b[start:i + alen]
        i += alen
        if code in seen:
            raise BgpError(3, 1, detail=f"attribute {code} appears twice")
        seen.add(code)
        want = ATTR_FLAGS.get(code)
        if want is None:
            if not flags & ATTR_OPTIONAL:
                raise BgpError(3, 2, whole, f"unrecognized well-known attribute {code}")
            unknown.append((flags, code, bytes(v)))
            continue
        fixed = ATTR_LENGTHS.get(code)
        if fixed is not None and fixed != alen:
            raise BgpError(3, 5, whole, f"attribute {code} of length {alen}")
        if (want ^ flags) & (ATTR_OPTIONAL | ATTR_TRANSITIVE):
            raise BgpError(3, 4, whole, f"attribute {code} with flags {flags:#04x}")
        if code == ORIGIN:
            if v[0] > 2:
                raise BgpError(3, 6, whole, f"ORIGIN {v[0]}")
            f["origin"] = v[0]
        elif code == AS_PATH:
            path, bad = _parse_as_path(v, asw)
            if bad is not None:
                withdraw = withdraw or bad
            else:
                f["as_path"] = path
        elif code == NEXT_HOP:
            if not _host_address(_U32.unpack(v)[0]):
                raise BgpError(3, 8, whole, f"NEXT_HOP {_ip(v)}")
            f["next_hop"] = _ip(v)
        elif code == MULTI_EXIT_DISC:
            f["med"] = _U32.unpack(v)[0]
        elif code == LOCAL_PREF:
            f["local_pref"] = _U32.unpack(v)[0]
        elif code == ATOMIC_AGGREGATE:
            f["atomic_aggregate"] = True
        elif code == AGGREGATOR:
            if alen != asw + 4:
                withdraw = withdraw or f"AGGREGATOR of length {alen}"
            else:
                asn = _U32.unpack_from(v)[0] if asw == 4 else _U16.unpack_from(v)[0]
                f["aggregator"] = (asn, _ip(v[asw:]))
        elif code == COMMUNITIES:
            if alen % 4:
                withdraw = withdraw or f"COMMUNITIES of length {alen}"
            else:
                f["communities"] = struct.unpack(f"!{alen // 4}I", v)
        elif code == ORIGINATOR_ID:
            f["originator_id"] = _ip(v)
        elif code == CLUSTER_LIST:
            if alen % 4:
                raise BgpError(3, 5, whole, f"CLUSTER_LIST of length {alen}")
            f["cluster_list"] = tuple(_ip(v[j:j + 4]) for j in range(0, alen, 4))
        else:  # AS4_PATH, AS4_AGGREGATOR: kept opaque (4-octet sessions ignore them)
            unknown.append((flags, code, bytes(v)))
    if mandatory and withdraw is None:
        for code in (ORIGIN, AS_PATH, NEXT_HOP):
            if code not in seen:
                raise BgpError(3, 3, bytes((code,)), f"mandatory attribute {code} missing")
    return PathAttributes(unknown=tuple(unknown), **f), withdraw


def _parse_as_path(v: bytes, asw: int):
    """RFC 7606 section 7.2: ``(segments, None)``, or ``(None, why)`` for a malformed
    AS_PATH -- an unrecognised segment type, a segment that overruns the attribute, octets
    left over too few for a segment header, or a segment of length zero -- which is
    treated as a withdrawal rather than answered with a NOTIFICATION (3/11).  BIRD 1.6.8
    still resets the session for the first two and accepts an empty segment."""
    segs = []
    i, n = 0, len(v)
    while i < n:
        if n - i < 2:
            return None, "malformed AS_PATH: octets left after the last segment"
        stype, cnt = v[i], v[i + 1]
        if stype not in (AS_SET, AS_SEQUENCE, AS_CONFED_SEQUENCE, AS_CONFED_SET):
            return None, f"malformed AS_PATH: segment type {stype}"
        if not cnt:
            return None, "malformed AS_PATH: a segment of length 0"
        if n - i < 2 + cnt * asw:
            return None, "malformed AS_PATH: a segment overruns the attribute"
        segs.append((stype, struct.unpack_from(f"!{cnt}{'I' if asw == 4 else 'H'}", v, i + 2)))
        i += 2 + cnt * asw
    return tuple(segs), None
