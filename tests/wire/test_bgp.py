"""The BGP codec: our struct parser against Scapy's dissection, round trips, and the
NOTIFICATION code/subcode each kind of bad input earns (RFC 4271 section 6)."""
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emunet.wire import bgp as W

# -- strategies ------------------------------------------------------------------------------
host_ips = st.tuples(st.integers(1, 223), st.integers(0, 255), st.integers(0, 255),
                     st.integers(1, 254)).filter(lambda t: t[0] != 127).map(lambda t: ".".join(map(str, t)))
ids = st.integers(1, 0xFFFFFFFF).map(lambda n: ".".join(str(b) for b in n.to_bytes(4, "big")))


@st.composite
def nlris(draw, add_path: bool):
    # /0 is left out: with a longer list after it, Scapy's (and Wireshark's) ADD-PATH
    # heuristic reads it as a path id; path ids stay below 2**24 for the same reason
    plen = draw(st.integers(1, 32))
    net = draw(st.integers(0, 0xFFFFFFFF)) & ((0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF)
    pid = draw(st.integers(0, 0xFFFFFF)) if add_path else None
    return W.Nlri(net, plen, pid)


@st.composite
def path_attributes(draw, as4: bool):
    asn = st.integers(1, 0xFFFFFFFF if as4 else 0xFFFF)
    segs = draw(st.lists(st.tuples(st.sampled_from([W.AS_SET, W.AS_SEQUENCE]),
                                   st.lists(asn, min_size=1, max_size=5).map(tuple)), max_size=3))
    return W.PathAttributes(
        origin=draw(st.integers(0, 2)),
        as_path=tuple(segs),
        next_hop=draw(host_ips),
        med=draw(st.none() | st.integers(0, 0xFFFFFFFF)),
        local_pref=draw(st.none() | st.integers(0, 0xFFFFFFFF)),
        communities=draw(st.none() | st.lists(st.integers(0, 0xFFFFFFFF), min_size=1, max_size=4).map(tuple)),
        originator_id=draw(st.none() | ids),
        cluster_list=draw(st.none() | st.lists(ids, min_size=1, max_size=3).map(tuple)),
    )


@st.composite
def updates(draw):
    as4 = draw(st.booleans())
    add_path = draw(st.booleans())
    withdrawn = tuple(draw(st.lists(nlris(add_path), max_size=4)))
    pa = draw(st.none() | path_attributes(as4))
    nlri = tuple(draw(st.lists(nlris(add_path), min_size=1, max_size=4))) if pa is not None else ()
    return W.Update(withdrawn, pa, nlri), as4, add_path


capabilities = st.lists(st.one_of(
    st.just(W.cap_multiprotocol()), st.just(W.cap_route_refresh()),
    st.just(W.cap_enhanced_route_refresh()),
    st.integers(1, 0xFFFFFFFF).map(W.cap_as4),
    st.builds(W.cap_graceful_restart, st.integers(0, 4095), st.booleans()),
    st.sampled_from([1, 2, 3]).map(W.cap_add_path),
    st.just(W.Capability(71))), max_size=7).map(tuple)


@st.composite
def opens(draw):
    hold = draw(st.sampled_from([0]) | st.integers(3, 0xFFFF))
    return W.Open(draw(st.integers(1, 0xFFFF)), hold, draw(ids), draw(capabilities))


notifications = st.builds(W.Notification, st.integers(1, 7), st.integers(0, 11),
                          st.binary(max_size=8))


# -- Scapy as the oracle -------------------------------------------------------------------------
def scapy_caps(opt_params) -> list:
    """Scapy keeps one capability per optional parameter and the rest as Raw: cut the
    parameter value by the capabilities' own lengths and read each one."""
    from scapy.contrib.bgp import BGPCapability
    out = []
    for param in opt_params:
        raw = bytes(param.param_value)
        i = 0
        while i < len(raw):
            one = BGPCapability(raw[i:i + 2 + raw[i + 1]])
            out.append((one.code, raw[i + 2:i + 2 + raw[i + 1]]))
            if one.code == 65:
                assert one.asn == struct.unpack("!I", raw[i + 2:i + 6])[0]
            if one.code == 1:
                assert (one.afi, one.safi) == struct.unpack("!HxB", raw[i + 2:i + 6])
            i += 2 + raw[i + 1]
    return out


def scapy_prefixes(lst) -> list:
    out = []
    for n in lst:
        ip, plen = n.prefix.split("/")
        pid = getattr(n, "nlri_path_id", None)
        out.append((ip, int(plen), pid))
    return out


def ours_prefixes(lst) -> list:
    return [(n.prefix.split("/")[0], n.plen, n.path_id) for n in lst]


def scapy_attrs(path_attr) -> dict:
    from scapy.contrib.bgp import (BGPPAAS4BytesPath, BGPPAASPath, BGPPACommunity,
                                   BGPPAClusterList)
    out = {}
    for a in path_attr:
        v = a.attribute
        out.setdefault("codes", []).append((a.type_code, int(a.type_flags)))
        if a.type_code == 1:
            out["origin"] = v.origin
        elif a.type_code == 2:
            assert isinstance(v, (BGPPAASPath, BGPPAAS4BytesPath))
            out["as_path"] = tuple((s.segment_type, tuple(s.segment_value)) for s in v.segments)
        elif a.type_code == 3:
            out["next_hop"] = v.next_hop
        elif a.type_code == 4:
            out["med"] = v.med
        elif a.type_code == 5:
            out["local_pref"] = v.local_pref
        elif a.type_code == 8:
            # one community per Scapy layer; what follows is left as raw bytes
            raw = bytes(v)
            out["communities"] = tuple(BGPPACommunity(raw[i:i + 4]).community
                                       for i in range(0, len(raw), 4))
        elif a.type_code == 9:
            out["originator_id"] = v.originator_id
        elif a.type_code == 10:
            assert isinstance(v, BGPPAClusterList)
            out["cluster_list"] = tuple(".".join(str(b) for b in c.to_bytes(4, "big")) for c in v.cluster_list)
    return out


def dissect(data: bytes, as4: bool):
    from scapy.contrib.bgp import BGPHeader
    with W.scapy_asn_width(as4):
        return BGPHeader(data)


# -- properties ------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(updates())
def test_update_build_parse_round_trip_and_scapy_agrees(case):
    u, as4, add_path = case
    data = W.build(u, as4=as4, add_path=add_path)
    assert W.parse(data, as4=as4, add_path=add_path) == u
    p = dissect(data, as4)
    assert p.len == len(data) and p.type == W.UPDATE
    body = p.payload
    assert scapy_prefixes(body.withdrawn_routes) == ours_prefixes(u.withdrawn)
    assert scapy_prefixes(body.nlri) == ours_prefixes(u.nlri)
    sa = scapy_attrs(body.path_attr)
    if u.attrs is None:
        assert sa == {}
        return
    a = u.attrs
    codes = [c for c, _ in sa["codes"]]
    assert codes == sorted(codes), "BIRD sends attributes in type-code order"
    for code, flags in sa["codes"]:
        assert flags & 0xE0 == W.ATTR_FLAGS[code]
    assert sa["origin"] == a.origin
    assert sa["as_path"] == a.as_path
    assert sa["next_hop"] == a.next_hop
    assert sa.get("med") == a.med
    assert sa.get("local_pref") == a.local_pref
    assert sa.get("communities") == a.communities
    assert sa.get("originator_id") == a.originator_id
    assert sa.get("cluster_list") == a.cluster_list


@settings(max_examples=60, deadline=None)
@given(opens())
def test_open_build_parse_round_trip_and_scapy_agrees(o):
    data = W.build(o)
    assert W.parse(data) == o
    p = dissect(data, True)
    assert p.type == W.OPEN and p.len == len(data)
    b = p.payload
    assert (b.version, b.my_as, b.hold_time, b.bgp_id) == (4, o.my_as, o.hold_time, o.bgp_id)
    assert scapy_caps(b.opt_params) == [(c.code, c.value) for c in o.capabilities]
    assert len(b.opt_params) == (1 if o.capabilities else 0), "all capabilities in one parameter"


@settings(max_examples=40, deadline=None)
@given(notifications)
def test_notification_round_trip_and_scapy_agrees(n):
    data = W.build(n)
    assert W.parse(data) == n
    b = dissect(data, True).payload
    assert (b.error_code, b.error_subcode, bytes(b.data or b"")) == (n.code, n.subcode, n.data)


def test_keepalive_is_a_bare_header():
    data = W.keepalive_message()
    assert data == b"\xff" * 16 + b"\x00\x13\x04"
    assert W.parse(data) == W.Keepalive()
    assert W.parse(W.route_refresh_message()) == W.RouteRefresh(1, 0, 1)


def test_end_of_rib_is_an_empty_update():
    data = W.update_message()
    assert data == b"\xff" * 16 + b"\x00\x17\x02\x00\x00\x00\x00"
    assert W.parse(data).end_of_rib


def test_scapy_asn_width_is_restored():
    from scapy.contrib.bgp import bgp_module_conf
    before = bgp_module_conf.use_2_bytes_asn
    W.update_message((), W.PathAttributes(origin=0, as_path=((2, (70000,)),), next_hop="10.0.0.1"),
                     (W.Nlri.of("10.0.0.0/8"),), True, False)
    with W.scapy_asn_width(not before):
        assert bgp_module_conf.use_2_bytes_asn is before
    assert bgp_module_conf.use_2_bytes_asn is before


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(updates().map(lambda c: W.build(c[0], as4=c[1], add_path=c[2])),
                          opens().map(W.build), st.just(W.keepalive_message())),
                min_size=1, max_size=5),
       st.lists(st.integers(0, 400), max_size=6))
def test_stream_reader_cuts_messages_wherever_tcp_splits_them(msgs, cuts):
    stream = b"".join(msgs)
    points = sorted({c % (len(stream) + 1) for c in cuts})
    r = W.StreamReader()
    got = []
    prev = 0
    for c in points + [len(stream)]:
        got += r.feed(stream[prev:c])
        prev = c
    assert got == msgs and r.buf == b""


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=0, max_size=80), st.booleans(), st.booleans())
def test_any_bytes_parse_or_raise_bgp_error(data, as4, add_path):
    """Garbage after a valid header is answered with a code, never with a crash; what
    parses is a message of the type its header names."""
    kinds = {1: W.Open, 2: W.Update, 3: W.Notification, 4: W.Keepalive, 5: W.RouteRefresh}
    for mtype in (1, 2, 3, 4, 5):
        msg = b"\xff" * 16 + struct.pack("!HB", 19 + len(data), mtype) + data
        try:
            parsed = W.parse(msg, as4=as4, add_path=add_path)
        except W.BgpError as e:
            assert (e.code, e.subcode) in W.ERROR_DESCRIPTIONS
        else:
            assert type(parsed) is kinds[mtype], (mtype, parsed)


# -- the codes RFC 4271 section 6 (and BIRD) give each kind of bad input ----------------------------
NH = bytes((0x40, 3, 4, 10, 0, 0, 1))
ORIGIN_IGP = bytes((0x40, 1, 1, 0))
AS_EMPTY = bytes((0x40, 2, 0))
NLRI = bytes((24, 10, 20, 0))


def _update(attrs: bytes, nlri: bytes = NLRI, withdrawn: bytes = b"") -> bytes:
    body = struct.pack("!H", len(withdrawn)) + withdrawn + struct.pack("!H", len(attrs)) + attrs + nlri
    return b"\xff" * 16 + struct.pack("!HB", 19 + len(body), 2) + body


def _open(version=4, asn=64512, hold=240, bgp_id=b"\x0a\0\0\x01", params=b"") -> bytes:
    body = struct.pack("!BHH4sB", version, asn, hold, bgp_id, len(params)) + params
    return b"\xff" * 16 + struct.pack("!HB", 19 + len(body), 1) + body


BAD = [
    ("marker not all ones", b"\xfe" + b"\xff" * 15 + b"\x00\x13\x04", (1, 1)),
    ("length below 19", b"\xff" * 16 + b"\x00\x12\x04", (1, 2)),
    ("length above 4096", b"\xff" * 16 + b"\x10\x01\x04" + bytes(4078), (1, 2)),
    ("unknown type", b"\xff" * 16 + b"\x00\x13\x09", (1, 3)),
    ("KEEPALIVE with a body", b"\xff" * 16 + b"\x00\x14\x04\x00", (1, 2)),
    ("OPEN version 3", _open(version=3), (2, 1)),
    ("OPEN hold time 2", _open(hold=2), (2, 6)),
    ("OPEN BGP identifier 0", _open(bgp_id=bytes(4)), (2, 3)),
    ("OPEN unknown optional parameter", _open(params=b"\x05\x00"), (2, 4)),
    ("OPEN capability overrun", _open(params=b"\x02\x04\x41\x04\x00\x00"), (2, 0)),
    ("UPDATE withdrawn length overrun", b"\xff" * 16 + b"\x00\x17\x02\x00\x09\x00\x00", (3, 1)),
    ("NLRI without attributes", _update(b""), (3, 1)),
    ("ORIGIN flagged optional", _update(bytes((0xC0, 1, 1, 0)) + AS_EMPTY + NH), (3, 4)),
    ("ORIGIN of length 2", _update(bytes((0x40, 1, 2, 0, 0)) + AS_EMPTY + NH), (3, 5)),
    ("ORIGIN 3", _update(bytes((0x40, 1, 1, 3)) + AS_EMPTY + NH), (3, 6)),
    ("NEXT_HOP 0.0.0.0", _update(ORIGIN_IGP + AS_EMPTY + bytes((0x40, 3, 4, 0, 0, 0, 0))), (3, 8)),
    ("NEXT_HOP multicast", _update(ORIGIN_IGP + AS_EMPTY + bytes((0x40, 3, 4, 224, 0, 0, 5))), (3, 8)),
    ("NEXT_HOP missing", _update(ORIGIN_IGP + AS_EMPTY), (3, 3)),
    ("unknown well-known attribute", _update(ORIGIN_IGP + AS_EMPTY + NH + bytes((0x40, 99, 0))), (3, 2)),
    ("attribute twice", _update(ORIGIN_IGP + ORIGIN_IGP + AS_EMPTY + NH), (3, 1)),
    ("attribute overruns the list", _update(ORIGIN_IGP + bytes((0x40, 2, 9)) + NH), (3, 1)),
    ("CLUSTER_LIST of 3 bytes", _update(ORIGIN_IGP + AS_EMPTY + NH + bytes((0x80, 10, 3, 1, 2, 3))), (3, 5)),
    ("prefix length 33", _update(ORIGIN_IGP + AS_EMPTY + NH, bytes((33, 1, 2, 3, 4, 5))), (3, 10)),
    ("truncated prefix", _update(ORIGIN_IGP + AS_EMPTY + NH, bytes((24, 10, 20))), (3, 10)),
    ("truncated withdrawn prefix", _update(b"", b"", bytes((24, 10))), (3, 10)),
    ("NOTIFICATION without subcode", b"\xff" * 16 + b"\x00\x14\x03\x06", (1, 2)),
    ("ROUTE-REFRESH too long", b"\xff" * 16 + b"\x00\x18\x05\x00\x01\x00\x01\x00", (7, 1)),
]


@pytest.mark.parametrize("what,data,code", BAD, ids=[b[0] for b in BAD])
def test_bad_input_earns_the_rfc_notification_code(what, data, code):
    with pytest.raises(W.BgpError) as e:
        W.parse(data)
    assert (e.value.code, e.value.subcode) == code
    assert e.value.reason == "BGP_ERROR"


def test_error_data_is_what_the_rfc_asks_for():
    with pytest.raises(W.BgpError) as e:
        W.parse(_update(ORIGIN_IGP + AS_EMPTY))
    assert e.value.data == bytes((W.NEXT_HOP,))  # the missing attribute's type code
    bad_origin = bytes((0x40, 1, 1, 3))
    with pytest.raises(W.BgpError) as e:
        W.parse(_update(bad_origin + AS_EMPTY + NH))
    assert e.value.data == bad_origin  # the whole erroneous attribute


def test_communities_of_odd_length_are_treated_as_withdraw():
    u = W.parse(_update(ORIGIN_IGP + AS_EMPTY + NH + bytes((0xC0, 8, 3, 0, 0, 1))))
    assert u.withdraw_reason and u.nlri[0].prefix == "10.20.0.0/24"


def test_two_octet_as_path_and_host_bits_cleared():
    u = W.parse(_update(ORIGIN_IGP + bytes((0x40, 2, 4, 2, 1, 0xFC, 0x01)) + NH,
                        bytes((24, 10, 20, 7))), as4=False)
    assert u.attrs.as_path == ((2, (64513,)),)
    assert u.nlri[0].prefix == "10.20.7.0/24"
    # the same bytes read with 4-octet ASNs overrun: a malformed AS_PATH, treat-as-withdraw
    u = W.parse(_update(ORIGIN_IGP + bytes((0x40, 2, 4, 2, 1, 0xFC, 0x01)) + NH), as4=True)
    assert u.withdraw_reason == "malformed AS_PATH: a segment overruns the attribute"
    assert u.attrs.as_path is None and u.nlri[0].prefix == "10.20.0.0/24"


@pytest.mark.parametrize("what,as_path,reason", [
    ("segment type 5", bytes((0x40, 2, 6, 5, 1, 0, 0, 1, 1)), "segment type 5"),
    ("overrun", bytes((0x40, 2, 6, 2, 2, 0, 0, 1, 1)), "a segment overruns the attribute"),
    ("octet left over", bytes((0x40, 2, 7, 2, 1, 0, 0, 1, 1, 2)), "octets left after the last segment"),
    ("segment of length 0", bytes((0x40, 2, 2, 2, 0)), "a segment of length 0"),
], ids=lambda v: v if isinstance(v, str) and " " in v else None)
def test_malformed_as_path_is_treat_as_withdraw(what, as_path, reason):
    """RFC 7606 section 7.2: never a NOTIFICATION (3/11) for a malformed AS_PATH."""
    u = W.parse(_update(ORIGIN_IGP + as_path + NH))
    assert u.withdraw_reason == "malformed AS_PATH: " + reason
