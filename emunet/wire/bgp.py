"""BGP-4 messages: RFC 4271, capabilities (RFC 5492), 4-octet AS numbers (RFC 6793), route
reflection (RFC 4456), communities (RFC 1997) and ADD-PATH NLRI (RFC 7911).

Two halves, as everywhere in ``emunet.wire``:

* **Parsing** is ``struct`` on bytes (the hot path of a speaker: a 200-node mesh exchanges
  tens of thousands of messages).  :func:`parse` takes one whole message and returns a
  value (:class:`Open`, :class:`Update`, :class:`Notification`, :class:`Keepalive`,
  :class:`RouteRefresh`); :class:`StreamReader` cuts a TCP byte stream into messages.
  Bad input raises :class:`BgpError`, a :class:`~emunet.wire.errors.Malformed` that carries
  the NOTIFICATION error code, subcode and data RFC 4271 section 6 (and BIRD 1.6's
  ``bgp_rx_*``/``bgp_decode_attrs``, whose choices we follow where the RFC leaves room)
  prescribes for it.
* **Building** uses ``scapy.contrib.bgp`` as the template for each message, once per
  distinct content: the bytes are cached (:func:`functools.lru_cache` on pure functions of
  frozen values), so a speaker that sends the same KEEPALIVE, OPEN or UPDATE a thousand
  times builds it once.  Scapy's module-wide ``bgp_module_conf.use_2_bytes_asn`` is set for
  the duration of one build or dissection only (:func:`scapy_asn_width`) and restored, so
  no caller sees another's setting.

What the encoder writes follows BIRD 1.6 (``proto/bgp/packets.c`` and ``attrs.c``): all
capabilities in one optional parameter; path attributes in type-code order with the
standard flags (extended length only above 255 bytes); an iBGP AS_PATH that is empty but
present; LOCAL_PREF, ORIGINATOR_ID and CLUSTER_LIST only on iBGP (the caller leaves them out
for eBGP); End-of-RIB as an empty UPDATE.
"""
import contextlib
import functools
import ipaddress
import logging
import socket
import struct

import attrs

from emunet.wire.errors import Malformed

BGP_PORT = 179
BGP_VERSION = 4
HEADER_LEN = 19
MAX_LEN = 4096
MARKER = b"\xff" * 16
AS_TRANS = 23456

# message types
OPEN = 1
UPDATE = 2
NOTIFICATION = 3
KEEPALIVE = 4
ROUTE_REFRESH = 5
MESSAGE_NAMES = {OPEN: "OPEN", UPDATE: "UPDATE", NOTIFICATION: "NOTIFICATION",
                 KEEPALIVE: "KEEPALIVE", ROUTE_REFRESH: "ROUTE-REFRESH"}

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

# capability codes
CAP_MULTIPROTOCOL = 1
CAP_ROUTE_REFRESH = 2
CAP_EXTENDED_MESSAGE = 6
CAP_GRACEFUL_RESTART = 64
CAP_AS4 = 65
CAP_ADD_PATH = 69
CAP_ENHANCED_ROUTE_REFRESH = 70
AFI_IPV4 = 1
SAFI_UNICAST = 1
#: ADD-PATH send/receive values
ADD_PATH_RX = 1
ADD_PATH_TX = 2
ADD_PATH_FULL = 3
#: graceful restart flags: R (restarting) in the timer word, F per address family
GR_RESTART_FLAG = 0x8
GR_FORWARDING_FLAG = 0x80

# NOTIFICATION error codes
ERR_HEADER = 1
ERR_OPEN = 2
ERR_UPDATE = 3
ERR_HOLD_TIMER = 4
ERR_FSM = 5
ERR_CEASE = 6
ERR_ROUTE_REFRESH = 7

#: the descriptions BIRD 1.6 prints (``bgp_msg_table`` in ``packets.c``): what ``birdc show
#: protocols`` says after "Received:" or "BGP Error:"
ERROR_DESCRIPTIONS = {
    (1, 0): "Invalid message header", (1, 1): "Connection not synchronized",
    (1, 2): "Bad message length", (1, 3): "Bad message type",
    (2, 0): "Invalid OPEN message", (2, 1): "Unsupported version number",
    (2, 2): "Bad peer AS", (2, 3): "Bad BGP identifier",
    (2, 4): "Unsupported optional parameter", (2, 5): "Authentication failure",
    (2, 6): "Unacceptable hold time", (2, 7): "Required capability missing",
    (2, 8): "No supported AFI/SAFI",
    (3, 0): "Invalid UPDATE message", (3, 1): "Malformed attribute list",
    (3, 2): "Unrecognized well-known attribute", (3, 3): "Missing mandatory attribute",
    (3, 4): "Invalid attribute flags", (3, 5): "Invalid attribute length",
    (3, 6): "Invalid ORIGIN attribute", (3, 7): "AS routing loop",
    (3, 8): "Invalid NEXT_HOP attribute", (3, 9): "Optional attribute error",
    (3, 10): "Invalid network field", (3, 11): "Malformed AS_PATH",
    (4, 0): "Hold timer expired",
    (5, 0): "Finite state machine error", (5, 1): "Unexpected message in OpenSent state",
    (5, 2): "Unexpected message in OpenConfirm state",
    (5, 3): "Unexpected message in Established state",
    (6, 0): "Cease", (6, 1): "Maximum number of prefixes reached",
    (6, 2): "Administrative shutdown", (6, 3): "Peer de-configured",
    (6, 4): "Administrative reset", (6, 5): "Connection rejected",
    (6, 6): "Other configuration change", (6, 7): "Connection collision resolution",
    (6, 8): "Out of Resources",
    (7, 0): "Invalid ROUTE-REFRESH message", (7, 1): "Invalid ROUTE-REFRESH message length",
}


def error_description(code: int, subcode: int) -> str:
    return ERROR_DESCRIPTIONS.get((code, subcode), f"Unknown error {code}.{subcode}")


class BgpError(Malformed):
    """A message that must be answered with a NOTIFICATION ``code``/``subcode`` (and
    ``data``), after which the session is closed (RFC 4271 section 6)."""

    def __init__(self, code: int, subcode: int, data: bytes = b"", detail: str = ""):
        text = f"{code}/{subcode} {error_description(code, subcode)}"
        super().__init__("BGP_ERROR", f"{text}: {detail}" if detail else text)
        self.code = code
        self.subcode = subcode
        self.data = bytes(data)


_H = struct.Struct("!16sHB")
_OPEN = struct.Struct("!BHH4sB")
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")


def _ip(b) -> str:
    return socket.inet_ntoa(bytes(b))


# -- values -------------------------------------------------------------------------
@attrs.frozen
class Capability:
    """One capability (RFC 5492): its code and its value bytes."""

    code: int
    value: bytes = b""


def cap_multiprotocol(afi: int = AFI_IPV4, safi: int = SAFI_UNICAST) -> Capability:
    return Capability(CAP_MULTIPROTOCOL, struct.pack("!HBB", afi, 0, safi))


def cap_route_refresh() -> Capability:
    return Capability(CAP_ROUTE_REFRESH)


def cap_enhanced_route_refresh() -> Capability:
    return Capability(CAP_ENHANCED_ROUTE_REFRESH)


def cap_as4(asn: int) -> Capability:
    return Capability(CAP_AS4, _U32.pack(asn))


def cap_graceful_restart(restart_time: int = 120, restarting: bool = False,
                         families=((AFI_IPV4, SAFI_UNICAST, 0),)) -> Capability:
    """RFC 4724: the restart time (12 bits) with the R flag, then <AFI, SAFI, flags> per
    family; no families is BIRD's "graceful restart aware" form (``bgp_put_cap_gr2``)."""
    word = (restart_time & 0x0FFF) | ((GR_RESTART_FLAG << 12) if restarting else 0)
    return Capability(CAP_GRACEFUL_RESTART, _U16.pack(word) + b"".join(
        struct.pack("!HBB", afi, safi, flags) for afi, safi, flags in families))


def cap_add_path(send_receive: int = ADD_PATH_FULL, afi: int = AFI_IPV4,
                 safi: int = SAFI_UNICAST) -> Capability:
    return Capability(CAP_ADD_PATH, struct.pack("!HBB", afi, safi, send_receive))


@attrs.frozen
class Open:
    """An OPEN message.  ``my_as`` is the 2-octet field (AS_TRANS for a 4-octet AS);
    :attr:`asn` is the speaker's real AS, from the 4-octet capability when there is one."""

    my_as: int
    hold_time: int
    bgp_id: str
    capabilities: tuple = ()
    version: int = BGP_VERSION

    def capability(self, code: int):
        for c in self.capabilities:
            if c.code == code:
                return c
        return None

    @property
    def as4(self) -> bool:
        return self.capability(CAP_AS4) is not None

    @property
    def asn(self) -> int:
        c = self.capability(CAP_AS4)
        return _U32.unpack(c.value)[0] if c is not None else self.my_as

    @property
    def add_path(self) -> int:
        """The send/receive value for IPv4 unicast (0: none)."""
        out = 0
        for c in self.capabilities:
            if c.code == CAP_ADD_PATH:
                for i in range(0, len(c.value), 4):
                    afi, safi, sr = struct.unpack_from("!HBB", c.value, i)
                    if afi == AFI_IPV4 and safi == SAFI_UNICAST:
                        out = sr
        return out

    @property
    def graceful_restart(self):
        """``(restart_time, restart_flags, ipv4_unicast_flags or None)`` or None."""
        c = self.capability(CAP_GRACEFUL_RESTART)
        if c is None:
            return None
        word = _U16.unpack_from(c.value)[0]
        fam = None
        for i in range(2, len(c.value), 4):
            afi, safi, flags = struct.unpack_from("!HBB", c.value, i)
            if afi == AFI_IPV4 and safi == SAFI_UNICAST:
                fam = flags
        return word & 0x0FFF, word >> 12, fam


@attrs.frozen
class Nlri:
    """One IPv4 prefix of an UPDATE (``net`` an int, host bits clear), with its ADD-PATH
    path identifier when the session negotiated ADD-PATH."""

    net: int
    plen: int
    path_id: int = None

    @classmethod
    def of(cls, prefix, path_id: int = None) -> "Nlri":
        n = ipaddress.IPv4Network(prefix)
        return cls(int(n.network_address), n.prefixlen, path_id)

    @property
    def prefix(self) -> str:
        return f"{_ip(_U32.pack(self.net))}/{self.plen}"

    @property
    def key(self) -> tuple:
        return (self.net, self.plen)

    def __str__(self) -> str:
        return self.prefix if self.path_id is None else f"{self.prefix} (path {self.path_id})"


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


@attrs.frozen
class Update:
    """An UPDATE: withdrawn prefixes, path attributes (None when there are none), NLRI.

    ``withdraw_reason`` is set when an attribute error RFC 7606 (and BIRD) answer with
    "treat as withdraw" rather than a NOTIFICATION: the NLRI are then to be withdrawn."""

    withdrawn: tuple = ()
    attrs: PathAttributes = None
    nlri: tuple = ()
    withdraw_reason: str = None

    @property
    def end_of_rib(self) -> bool:
        return not self.withdrawn and self.attrs is None and not self.nlri


@attrs.frozen
class Notification:
    code: int
    subcode: int = 0
    data: bytes = b""

    @property
    def description(self) -> str:
        return error_description(self.code, self.subcode)


@attrs.frozen
class Keepalive:
    pass


@attrs.frozen
class RouteRefresh:
    afi: int = AFI_IPV4
    subtype: int = 0
    safi: int = SAFI_UNICAST


# -- parsing --------------------------------------------------------------------------
def check_header(buf, off: int = 0, max_len: int = MAX_LEN) -> tuple:
    """The header checks of ``bgp_rx``: ``(length, type)`` of the message at ``buf[off:]``
    (at least 19 bytes must be there).  The type is checked by :func:`parse`."""
    marker, length, mtype = _H.unpack_from(buf, off)
    if marker != MARKER:
        raise BgpError(1, 1, detail="marker is not all ones")
    if length < HEADER_LEN or length > max_len:
        raise BgpError(1, 2, bytes(buf[off + 16:off + 18]), f"length {length}")
    return length, mtype


class StreamReader:
    """Cuts a TCP byte stream into BGP messages, as ``bgp_rx`` does: ``feed(data)`` returns
    the complete messages (bytes) and keeps the rest; a bad header raises at once."""

    __slots__ = ("buf", "max_len")

    def __init__(self, max_len: int = MAX_LEN):
        self.buf = b""
        self.max_len = max_len

    def feed(self, data: bytes) -> list:
        buf = self.buf + data if self.buf else data
        out = []
        i, n = 0, len(buf)
        while n - i >= HEADER_LEN:
            length, _ = check_header(buf, i, self.max_len)
            if n - i < length:
                break
            out.append(buf[i:i + length])
            i += length
        self.buf = buf[i:]
        return out


def parse(buf, as4: bool = True, add_path: bool = False, max_len: int = MAX_LEN):
    """One whole message (header included) → its value.  ``as4``: AS numbers in AS_PATH are
    4 octets (both sides sent the 4-octet AS capability); ``add_path``: NLRI carry path
    identifiers (we negotiated ADD-PATH receive)."""
    buf = bytes(buf)
    if len(buf) < HEADER_LEN:
        raise BgpError(1, 2, detail=f"{len(buf)} bytes")
    length, mtype = check_header(buf, 0, max_len)
    if length != len(buf):
        raise BgpError(1, 2, buf[16:18], f"length field {length}, message of {len(buf)} bytes")
    if mtype == OPEN:
        return _parse_open(buf)
    if mtype == UPDATE:
        return _parse_update(buf, as4, add_path)
    if mtype == NOTIFICATION:
        if length < 21:
            raise BgpError(1, 2, buf[16:18], "NOTIFICATION shorter than 21 bytes")
        return Notification(buf[19], buf[20], buf[21:])
    if mtype == KEEPALIVE:
        if length != HEADER_LEN:
            raise BgpError(1, 2, buf[16:18], f"KEEPALIVE of {length} bytes")
        return Keepalive()
    if mtype == ROUTE_REFRESH:
        if length < 23:
            raise BgpError(1, 2, buf[16:18], "ROUTE-REFRESH shorter than 23 bytes")
        if length > 23:
            raise BgpError(7, 1, buf[:2048], "ROUTE-REFRESH longer than 23 bytes")
        afi, subtype, safi = struct.unpack_from("!HBB", buf, 19)
        return RouteRefresh(afi, subtype, safi)
    raise BgpError(1, 3, bytes((mtype,)), f"type {mtype}")


def _parse_open(buf: bytes) -> Open:
    """``bgp_rx_open`` and ``bgp_parse_options``/``bgp_parse_capabilities``: the checks that
    need no session state (AS and router-id checks are the speaker's)."""
    length = len(buf)
    if length < 29 or length != 29 + buf[28]:
        raise BgpError(1, 2, buf[16:18], "OPEN length does not match its parameters")
    version, my_as, hold, bgp_id, _ = _OPEN.unpack_from(buf, 19)
    if version != BGP_VERSION:
        raise BgpError(2, 1, bytes((version,)), f"version {version}")
    caps = []
    i, end = 29, length
    while i < end:
        if end - i < 2 or end - i < 2 + buf[i + 1]:
            raise BgpError(2, 0, detail="optional parameter overruns the message")
        ptype, plen = buf[i], buf[i + 1]
        if ptype != 2:
            # BIRD names the parameter it did not recognise: its first <length> bytes
            raise BgpError(2, 4, buf[i:i + plen], f"optional parameter type {ptype}")
        caps += _parse_capabilities(buf[i + 2:i + 2 + plen])
        i += 2 + plen
    if 0 < hold < 3:
        raise BgpError(2, 6, buf[22:24], f"hold time {hold}")
    if bgp_id == b"\0\0\0\0":
        raise BgpError(2, 3, detail="BGP identifier 0.0.0.0")  # BIRD logs it, sends no data
    return Open(my_as, hold, _ip(bgp_id), tuple(caps), version)


#: (code, length rule) BIRD checks; anything else is ignored, as RFC 5492 asks
_CAP_CHECKS = {CAP_ROUTE_REFRESH: lambda n: n == 0, CAP_EXTENDED_MESSAGE: lambda n: n == 0,
               CAP_GRACEFUL_RESTART: lambda n: n % 4 == 2, CAP_AS4: lambda n: n == 4,
               CAP_ADD_PATH: lambda n: n % 4 == 0, CAP_ENHANCED_ROUTE_REFRESH: lambda n: n == 0}


def _parse_capabilities(b: bytes) -> list:
    out = []
    i, n = 0, len(b)
    while i < n:
        if n - i < 2 or n - i < 2 + b[i + 1]:
            raise BgpError(2, 0, detail="capability overruns its parameter")
        code, clen = b[i], b[i + 1]
        value = b[i + 2:i + 2 + clen]
        rule = _CAP_CHECKS.get(code)
        if rule is not None and not rule(clen):
            raise BgpError(2, 0, detail=f"capability {code} of length {clen}")
        if code == CAP_ADD_PATH and any(value[j + 3] > ADD_PATH_FULL for j in range(0, clen, 4)):
            raise BgpError(2, 0, detail="ADD-PATH send/receive value above 3")
        out.append(Capability(code, value))
        i += 2 + clen
    return out


def _parse_prefixes(b: bytes, start: int, end: int, add_path: bool) -> tuple:
    """``DECODE_PREFIX``: [path id] length, prefix bytes; host bits are cleared."""
    out = []
    i = start
    while i < end:
        pid = None
        if add_path:
            if end - i < 5:
                raise BgpError(3, 1, detail="truncated ADD-PATH prefix")
            pid = _U32.unpack_from(b, i)[0]
            i += 4
        plen = b[i]
        i += 1
        if plen > 32:
            raise BgpError(3, 10, detail=f"prefix length {plen}")
        q = (plen + 7) >> 3
        if end - i < q:
            raise BgpError(3, 1, detail="truncated prefix")
        net = int.from_bytes(b[i:i + q] + b"\0" * (4 - q), "big") & ((0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF)
        out.append(Nlri(net, plen, pid))
        i += q
    return tuple(out)


def _host_address(ip: int) -> bool:
    """``ipa_classify(addr) & IADDR_HOST``: not 0/8, not multicast or class E, not all ones."""
    return (ip >> 24) != 0 and (ip >> 28) < 0xE


def _parse_update(buf: bytes, as4: bool, add_path: bool) -> Update:
    length = len(buf)
    if length < 23:
        raise BgpError(1, 2, buf[16:18], "UPDATE shorter than 23 bytes")
    wlen = _U16.unpack_from(buf, 19)[0]
    if wlen + 23 > length:
        raise BgpError(3, 1, detail="withdrawn routes overrun the message")
    astart = 21 + wlen + 2
    alen = _U16.unpack_from(buf, 21 + wlen)[0]
    if wlen + alen + 23 > length:
        raise BgpError(3, 1, detail="path attributes overrun the message")
    nstart = astart + alen
    if not alen and nstart < length:
        raise BgpError(3, 1, detail="NLRI without path attributes")
    withdrawn = _parse_prefixes(buf, 21, 21 + wlen, add_path)
    if not alen:
        return Update(withdrawn, None, ())
    pa, reason = _parse_attributes(buf, astart, nstart, as4, nstart < length)
    nlri = _parse_prefixes(buf, nstart, length, add_path)
    return Update(withdrawn, pa, nlri, reason)


def _parse_attributes(b: bytes, i: int, end: int, as4: bool, mandatory: bool):
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
            f["as_path"] = _parse_as_path(v, asw, bytes(whole))
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


def _parse_as_path(v: bytes, asw: int, whole: bytes) -> tuple:
    """``validate_path``: segments of known types, lengths that fit."""
    segs = []
    i, n = 0, len(v)
    while i < n:
        if n - i < 2:
            raise BgpError(3, 11, whole, "truncated AS_PATH segment")
        stype, cnt = v[i], v[i + 1]
        if stype not in (AS_SET, AS_SEQUENCE, AS_CONFED_SEQUENCE, AS_CONFED_SET):
            raise BgpError(3, 11, whole, f"AS_PATH segment type {stype}")
        if n - i < 2 + cnt * asw:
            raise BgpError(3, 11, whole, "AS_PATH segment overruns the attribute")
        segs.append((stype, struct.unpack_from(f"!{cnt}{'I' if asw == 4 else 'H'}", v, i + 2)))
        i += 2 + cnt * asw
    return tuple(segs)


# -- building (Scapy templates, cached) ------------------------------------------------
@contextlib.contextmanager
def scapy_asn_width(four_octets: bool):
    """Scapy's AS_PATH width is a module setting (``bgp_module_conf.use_2_bytes_asn``, 2
    octets by default): set it for one build or dissection, then put it back."""
    conf = _scapy_bgp().bgp_module_conf
    old = conf.use_2_bytes_asn
    conf.use_2_bytes_asn = not four_octets
    try:
        yield
    finally:
        conf.use_2_bytes_asn = old


def _scapy_bgp():
    """``scapy.contrib.bgp``, imported on first use without its import-time warning."""
    import sys
    mod = sys.modules.get("scapy.contrib.bgp")
    if mod is None:
        log = logging.getLogger("scapy.runtime")
        level = log.level
        log.setLevel(logging.ERROR)
        try:
            import scapy.contrib.bgp as mod
        finally:
            log.setLevel(level)
    return mod


@functools.lru_cache(maxsize=None)
def keepalive_message() -> bytes:
    """``BGPKeepAlive()`` is itself a header (type 4, length 19)."""
    return bytes(_scapy_bgp().BGPKeepAlive())


@functools.lru_cache(maxsize=4096)
def open_message(msg: Open) -> bytes:
    s = _scapy_bgp()
    params = []
    if msg.capabilities:
        chain = None
        for c in msg.capabilities:
            layer = s.BGPCapGeneric(code=c.code, length=len(c.value), cap_data=c.value)
            chain = layer if chain is None else chain / layer
        params.append(s.BGPOptParam(param_type=2, param_value=chain))
    pkt = s.BGPHeader(type=OPEN) / s.BGPOpen(version=msg.version, my_as=msg.my_as,
                                            hold_time=msg.hold_time, bgp_id=msg.bgp_id,
                                            opt_params=params)
    return bytes(pkt)


def _scapy_nlri(s, n: Nlri, add_path: bool):
    if add_path:
        return s.BGPNLRI_IPv4_AP(nlri_path_id=n.path_id or 0, prefix=n.prefix)
    return s.BGPNLRI_IPv4(prefix=n.prefix)


def _scapy_attrs(s, pa: PathAttributes, as4: bool) -> list:
    """Path attributes in type-code order, as BIRD's sorted ``ea_list`` encodes them."""
    out = []

    def add(code, value_pkt, value_len, flags=None):
        fl = ATTR_FLAGS[code] if flags is None else flags
        if value_len > 255:
            fl |= ATTR_EXTENDED
        out.append((code, s.BGPPathAttr(type_flags=fl, type_code=code, attribute=value_pkt)))

    if pa.origin is not None:
        add(ORIGIN, s.BGPPAOrigin(origin=pa.origin), 1)
    if pa.as_path is not None:
        if as4:
            cls = s.BGPPAAS4BytesPath
            width = 4
        else:
            cls = s.BGPPAASPath
            width = 2
        segs = [cls.ASPathSegment(segment_type=t, segment_value=list(v)) for t, v in pa.as_path]
        add(AS_PATH, cls(segments=segs), sum(2 + width * len(v) for _, v in pa.as_path))
    if pa.next_hop is not None:
        add(NEXT_HOP, s.BGPPANextHop(next_hop=pa.next_hop), 4)
    if pa.med is not None:
        add(MULTI_EXIT_DISC, s.BGPPAMultiExitDisc(med=pa.med), 4)
    if pa.local_pref is not None:
        add(LOCAL_PREF, s.BGPPALocalPref(local_pref=pa.local_pref), 4)
    if pa.atomic_aggregate:
        add(ATOMIC_AGGREGATE, s.BGPPAAtomicAggregate(), 0)
    if pa.aggregator is not None:
        asn, addr = pa.aggregator
        if as4:
            add(AGGREGATOR, s.BGPPAAS4Aggregator(aggregator_asn=asn, speaker_address=addr), 8)
        else:
            add(AGGREGATOR, s.BGPPAAggregator(aggregator_asn=asn, speaker_address=addr), 6)
    if pa.communities:
        chain = None
        for c in pa.communities:
            layer = s.BGPPACommunity(community=c)
            chain = layer if chain is None else chain / layer
        add(COMMUNITIES, chain, 4 * len(pa.communities))
    if pa.originator_id is not None:
        add(ORIGINATOR_ID, s.BGPPAOriginatorID(originator_id=pa.originator_id), 4)
    if pa.cluster_list:
        ids = [_U32.unpack(socket.inet_aton(c))[0] for c in pa.cluster_list]
        add(CLUSTER_LIST, s.BGPPAClusterList(cluster_list=ids), 4 * len(ids))
    from scapy.packet import Raw
    for flags, code, value in pa.unknown:
        fl = flags & ~ATTR_EXTENDED
        if len(value) > 255:
            fl |= ATTR_EXTENDED
        out.append((code, s.BGPPathAttr(type_flags=fl, type_code=code, attribute=Raw(value))))
    out.sort(key=lambda t: t[0])
    return [a for _, a in out]


@functools.lru_cache(maxsize=65536)
def update_message(withdrawn: tuple = (), pa: PathAttributes = None, nlri: tuple = (),
                   as4: bool = True, add_path: bool = False) -> bytes:
    """An UPDATE; with nothing in it, the IPv4 End-of-RIB marker (RFC 4724)."""
    s = _scapy_bgp()
    with scapy_asn_width(as4):
        body = s.BGPUpdate(withdrawn_routes=[_scapy_nlri(s, n, add_path) for n in withdrawn],
                           path_attr=_scapy_attrs(s, pa, as4) if pa is not None else [],
                           nlri=[_scapy_nlri(s, n, add_path) for n in nlri])
        out = bytes(s.BGPHeader(type=UPDATE) / body)
    if len(out) > MAX_LEN:
        raise ValueError(f"UPDATE of {len(out)} bytes exceeds {MAX_LEN}")
    return out


@functools.lru_cache(maxsize=1024)
def notification_message(code: int, subcode: int = 0, data: bytes = b"") -> bytes:
    s = _scapy_bgp()
    return bytes(s.BGPHeader(type=NOTIFICATION) /
                 s.BGPNotification(error_code=code, error_subcode=subcode, data=data or b""))


@functools.lru_cache(maxsize=16)
def route_refresh_message(afi: int = AFI_IPV4, subtype: int = 0, safi: int = SAFI_UNICAST) -> bytes:
    s = _scapy_bgp()
    return bytes(s.BGPHeader(type=ROUTE_REFRESH) / s.BGPRouteRefresh(afi=afi, subtype=subtype, safi=safi))


def build(msg, as4: bool = True, add_path: bool = False) -> bytes:
    """The bytes of any message value (cached per distinct content)."""
    if isinstance(msg, Update):
        return update_message(msg.withdrawn, msg.attrs, msg.nlri, as4, add_path)
    if isinstance(msg, Keepalive):
        return keepalive_message()
    if isinstance(msg, Open):
        return open_message(msg)
    if isinstance(msg, Notification):
        return notification_message(msg.code, msg.subcode, bytes(msg.data))
    if isinstance(msg, RouteRefresh):
        return route_refresh_message(msg.afi, msg.subtype, msg.safi)
    raise TypeError(f"not a BGP message value: {msg!r}")


def describe(msg) -> str:
    """One line, as a capture comment: ``UPDATE 10.20.1.0/24 via 192.168.0.3`` etc."""
    if isinstance(msg, Update):
        if msg.end_of_rib:
            return "UPDATE End-of-RIB"
        parts = []
        if msg.withdrawn:
            parts.append("withdraw " + ", ".join(str(n) for n in msg.withdrawn))
        if msg.nlri:
            a = msg.attrs
            extra = ""
            if a.originator_id:
                extra += f" originator {a.originator_id}"
            if a.cluster_list:
                extra += f" cluster-list {' '.join(a.cluster_list)}"
            asp = " ".join(str(x) for x in a.path_asns())
            parts.append(", ".join(str(n) for n in msg.nlri) + f" via {a.next_hop}"
                         + (f" AS path {asp}" if asp else "") + extra)
        return "UPDATE " + "; ".join(parts)
    if isinstance(msg, Open):
        return f"OPEN AS {msg.asn} hold {msg.hold_time} id {msg.bgp_id}"
    if isinstance(msg, Notification):
        return f"NOTIFICATION {msg.code}/{msg.subcode} {msg.description}"
    if isinstance(msg, Keepalive):
        return "KEEPALIVE"
    return "ROUTE-REFRESH"


def message_type(buf) -> int:
    return buf[18]


__all__ = [
    "BGP_PORT", "HEADER_LEN", "MAX_LEN", "AS_TRANS", "OPEN", "UPDATE", "NOTIFICATION",
    "KEEPALIVE", "ROUTE_REFRESH", "MESSAGE_NAMES", "BgpError", "Capability", "Open", "Update",
    "Nlri", "PathAttributes", "Notification", "Keepalive", "RouteRefresh", "StreamReader",
    "parse", "build", "check_header", "open_message", "update_message", "notification_message",
    "keepalive_message", "route_refresh_message", "scapy_asn_width", "describe",
    "error_description", "cap_multiprotocol", "cap_route_refresh", "cap_enhanced_route_refresh",
    "cap_as4", "cap_graceful_restart", "cap_add_path", "message_type",
]
