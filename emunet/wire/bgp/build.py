"""Building BGP messages with ``scapy.contrib.bgp`` as the template for each, once per distinct
content: the bytes are cached (:func:`functools.lru_cache` on pure functions of frozen
values), so a speaker that sends the same KEEPALIVE, OPEN or UPDATE a thousand times builds it
once.  Scapy's module-wide ``bgp_module_conf.use_2_bytes_asn`` is set for the duration of one
build or dissection only (:func:`scapy_asn_width`) and restored, so no caller sees another's
setting.

What the encoder writes follows BIRD 1.6 (``proto/bgp/packets.c`` and ``attrs.c``): all
capabilities in one optional parameter; path attributes in type-code order with the
standard flags (extended length only above 255 bytes); an iBGP AS_PATH that is empty but
present; LOCAL_PREF, ORIGINATOR_ID and CLUSTER_LIST only on iBGP (the caller leaves them out
for eBGP); End-of-RIB as an empty UPDATE.
"""
import contextlib
import functools
import logging
import socket
import struct
import sys

from emunet.wire.bgp.path_attrs import (AGGREGATOR, AS_PATH, ATOMIC_AGGREGATE, ATTR_EXTENDED, ATTR_FLAGS,
                                        CLUSTER_LIST, COMMUNITIES, LOCAL_PREF, MULTI_EXIT_DISC, NEXT_HOP,
                                        ORIGIN, ORIGINATOR_ID, PathAttributes)
from emunet.wire.bgp.message import (AFI_IPV4, MAX_LEN, NOTIFICATION, OPEN, ROUTE_REFRESH, SAFI_UNICAST,
                                     UPDATE, Keepalive, Nlri, Open, RouteRefresh, Update)
from emunet.wire.bgp.notification import Notification

_U32 = struct.Struct("!I")


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
    from scapy.packet import Raw  # Scapy loads on first use, as in _scapy_bgp
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
