"""BGP-4 messages (RFC 4271): the header, OPEN with its capabilities (RFC 5492, 4-octet AS
numbers RFC 6793, graceful restart RFC 4724, ADD-PATH RFC 7911), UPDATE with its NLRI,
KEEPALIVE and ROUTE-REFRESH, as values, and their parsing with ``struct`` on bytes.

:func:`parse` takes one whole message and returns its value; :class:`StreamReader` cuts a
TCP byte stream into messages, as BIRD 1.6's ``bgp_rx`` does.  Bad input raises
:class:`~emunet.wire.bgp.notification.BgpError` with the NOTIFICATION code, subcode and data
RFC 4271 section 6 (and BIRD's ``bgp_rx_*``, whose choices are followed where the RFC leaves
room) prescribes for it.
"""
import ipaddress
import socket
import struct

import attrs

from emunet.wire.bgp.path_attrs import PathAttributes, parse_attributes
from emunet.wire.bgp.notification import BgpError, Notification
from emunet.wire.ipv4 import int_to_ip

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

# capability codes
CAP_MULTIPROTOCOL = 1
CAP_ROUTE_REFRESH = 2
CAP_EXTENDED_MESSAGE = 6
CAP_GRACEFUL_RESTART = 64
CAP_AS4 = 65
CAP_ADD_PATH = 69
CAP_ENHANCED_ROUTE_REFRESH = 70
#: long-lived graceful restart (RFC 9494), which BIRD 1.6.4 and later send "aware"
CAP_LLGR = 71
AFI_IPV4 = 1
SAFI_UNICAST = 1
#: ADD-PATH send/receive values
ADD_PATH_RX = 1
ADD_PATH_TX = 2
ADD_PATH_FULL = 3
#: graceful restart flags: R (restarting) in the timer word, F per address family
GR_RESTART_FLAG = 0x8
GR_FORWARDING_FLAG = 0x80

_H = struct.Struct("!16sHB")
_OPEN = struct.Struct("!BHH4sB")
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")


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
        return f"{int_to_ip(self.net)}/{self.plen}"

    @property
    def key(self) -> tuple:
        return (self.net, self.plen)

    def __str__(self) -> str:
        return self.prefix if self.path_id is None else f"{self.prefix} (path {self.path_id})"


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
class Keepalive:
    pass


@attrs.frozen
class RouteRefresh:
    afi: int = AFI_IPV4
    subtype: int = 0
    safi: int = SAFI_UNICAST


def check_header(buf, off: int = 0, max_len: int = MAX_LEN) -> tuple:
    """The header checks of ``bgp_rx``: ``(length, type)`` of the message at ``buf[off:]``
    (at least 19 bytes must be there).  The type is checked by :func:`parse`."""
    marker, length, mtype = _H.unpack_from(buf, off)
    if marker != MARKER:
        raise BgpError(1, 1, detail="marker is not all ones", mtype=mtype)
    if length < HEADER_LEN or length > max_len:
        raise BgpError(1, 2, bytes(buf[off + 16:off + 18]), f"length {length}", mtype)
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
            raise BgpError(1, 2, buf[16:18], "NOTIFICATION shorter than 21 bytes", mtype)
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
    return Open(my_as, hold, socket.inet_ntoa(bgp_id), tuple(caps), version)


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
    """``DECODE_PREFIX``: [path id] length, prefix bytes; host bits are cleared.  A prefix
    that does not parse is an Invalid Network Field (3/10, RFC 4271 section 6.3), in the
    Withdrawn Routes as in the NLRI: both are the same encoding."""
    out = []
    i = start
    while i < end:
        pid = None
        if add_path:
            if end - i < 5:
                raise BgpError(3, 10, detail="truncated ADD-PATH prefix")
            pid = _U32.unpack_from(b, i)[0]
            i += 4
        plen = b[i]
        i += 1
        if plen > 32:
            raise BgpError(3, 10, detail=f"prefix length {plen}")
        q = (plen + 7) >> 3
        if end - i < q:
            raise BgpError(3, 10, detail="truncated prefix")
        net = int.from_bytes(b[i:i + q] + b"\0" * (4 - q), "big") & ((0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF)
        out.append(Nlri(net, plen, pid))
        i += q
    return tuple(out)


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
    pa, reason = parse_attributes(buf, astart, nstart, as4, nstart < length)
    nlri = _parse_prefixes(buf, nstart, length, add_path)
    return Update(withdrawn, pa, nlri, reason)
